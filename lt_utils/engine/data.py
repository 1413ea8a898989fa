"""Data sets held whole on the training device, with a fixed validation split.

MNIST and CIFAR-10 come through ``torchvision.datasets`` from a data directory (argument,
else ``$LT_DATA_DIR``, else ``~/.cache/lt_utils/data``) and are downloaded when missing.
``cifar10_jpeg`` is CIFAR-10 re-encoded as JPEG, read from that directory by
:mod:`lt_utils.engine.jpeg_data` (it cannot be downloaded); it serves CIFAR-10's models, but its results
are its own. ``synthetic_cifar10`` is a small learnable stand-in with CIFAR-10's shapes, for
smoke runs only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lt_utils.engine.datafiles import check_cifar10, check_labels, check_mnist
from lt_utils.engine.jpeg_data import CIFAR10_JPEG
from lt_utils.errors import ConfigError, DataUnavailableError
from lt_utils.validation import check_folder, check_int, require

VALIDATION_SIZE = 5_000
SPLIT_SEED = 0


@dataclass(frozen=True)
class DataInfo:
    """A registered data set: its normalization, where its files are, how they are read, and its size."""

    mean: tuple[float, ...]  # per-channel mean of the training images (pixels in [0, 1])
    std: tuple[float, ...]  # per-channel standard deviation
    label: str  # its name where results on it are shown ("CIFAR-10, JPEG copy (quality 75)")
    torchvision: str | None = None  # ``torchvision.datasets`` class that reads (or downloads) it
    # or its own reader of a split, refusing damaged files by name: (data dir, train split) -> (uint8 images
    # N x C x H x W, int64 labels)
    read: Callable[[Path, bool], tuple[torch.Tensor, torch.Tensor]] | None = None
    folder: str = ""  # the files' folder under the data directory
    files: tuple[str, ...] = ()  # the files needed there
    check: Callable[[Path, bool], None] | None = None  # refuses damaged files by name: (data dir, train split)
    train_size: int | None = None  # training examples after the validation split (None: varies)
    stand_in_for: str | None = None  # a synthetic set: the real data set whose shapes and statistics it copies
    # another copy of this real data set (same classes, shapes and statistics, other files): it trains that
    # set's models, but its results are its own (its name is in every results key)
    variant_of: str | None = None

    @property
    def synthetic(self) -> bool:
        """Generated in memory (a stand-in for smoke runs), not read from files."""
        return self.stand_in_for is not None


_CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
DATASETS: dict[str, DataInfo] = {
    "mnist": DataInfo((0.1307,), (0.3081,), "MNIST", torchvision="MNIST", folder="MNIST/raw",
                      files=("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                             "t10k-labels-idx1-ubyte"), check=check_mnist, train_size=55_000),
    "cifar10": DataInfo(*_CIFAR10_STATS, "CIFAR-10", torchvision="CIFAR10", folder="cifar-10-batches-py",
                        files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
                        check=lambda root, train: check_cifar10(root), train_size=45_000),
    "cifar10_jpeg": DataInfo(*_CIFAR10_STATS, "CIFAR-10, JPEG copy (quality 75)", read=CIFAR10_JPEG.read,
                             folder=CIFAR10_JPEG.folder, files=(CIFAR10_JPEG.archive,), train_size=45_000,
                             variant_of="cifar10"),
    "synthetic_cifar10": DataInfo(*_CIFAR10_STATS, "synthetic stand-in for CIFAR-10", stand_in_for="cifar10"),
}
"""Every data set by name: the one place a new data set is registered."""


def real_dataset(name: str) -> str:
    """The real data set ``name`` stands for: itself, or the one a synthetic stand-in copies."""
    return DATASETS[name].stand_in_for or name


def model_dataset(name: str) -> str:
    """The data set whose models ``name`` trains (``lt_utils.engine.models.ModelInfo.dataset``): the one a
    synthetic stand-in or another copy (``variant_of``) stands for, else itself."""
    info = DATASETS[name]
    return info.stand_in_for or info.variant_of or name


def copies_of(name: str) -> tuple[str, ...]:
    """The real data sets that train ``name``'s models: ``name`` and its copies (``variant_of``)."""
    return (name, *(other for other, info in DATASETS.items() if info.variant_of == name))


def stand_in(name: str) -> str | None:
    """The synthetic stand-in of data set ``name`` or of the set it is a copy of (for smoke runs), if any."""
    target = DATASETS[name].variant_of or name
    return next((other for other, info in DATASETS.items() if info.stand_in_for == target), None)


def stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalization ``(mean, std)`` of data set ``name`` (a stand-in uses its real set's)."""
    info = DATASETS[name]
    return info.mean, info.std


@dataclass(frozen=True)
class Split:
    """Images (float, normalized, N x C x H x W) and integer labels, on one device."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits plus a fixed training subset for training accuracy."""

    name: str
    train: Split
    val: Split
    test: Split
    train_eval: Split
    synthetic: bool = False


def default_data_dir() -> Path:
    return Path(os.environ.get("LT_DATA_DIR", Path.home() / ".cache" / "lt_utils" / "data"))


def _missing_message(name: str, root: Path, cause: Exception) -> str:
    folder, files = DATASETS[name].folder, list(DATASETS[name].files)
    where = root / folder
    missing = [file for file in files if not (where / file).exists()]
    return (f"{name} lacks {missing or files} in {where} and could not be downloaded "
            f"({type(cause).__name__}: {cause}). "
            f"Put the files {files} into {where} (torchvision's layout), or point data_dir / "
            f"$LT_DATA_DIR at a folder that has them.")


def _load_raw(name: str, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images N x C x H x W and int64 labels, read by the data set's own reader, or read
    (or downloaded) by torchvision."""
    from torchvision import datasets

    info = DATASETS[name]
    if info.check is not None:
        info.check(root, train)
    if info.read is not None:
        images, labels = info.read(root, train)
        check_labels(labels, f"{name} ({'train' if train else 'test'}) in {root}")
        return images, labels
    cls = getattr(datasets, info.torchvision)
    try:
        ds = cls(root=str(root), train=train, download=False)
    except RuntimeError:
        try:
            ds = cls(root=str(root), train=train, download=True)
        except Exception as error:  # no network, bad files: say what to put where
            raise DataUnavailableError(_missing_message(name, root, error)) from error
    images = torch.as_tensor(ds.data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(ds.targets, dtype=torch.long)
    check_labels(labels, f"{name} ({'train' if train else 'test'}) in {root}")
    return images.contiguous(), labels


def _synthetic_raw(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable fake CIFAR-10: each class is a fixed random template plus noise."""
    gen = torch.Generator().manual_seed(1234)
    templates = torch.rand(10, 3, 32, 32, generator=gen) * 255
    gen.manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    noise = torch.randn(n, 3, 32, 32, generator=gen) * 60
    return (templates[labels] + noise).clamp(0, 255).to(torch.uint8), labels


def _normalize(images: torch.Tensor, name: str, device: torch.device) -> torch.Tensor:
    mean, std = (torch.tensor(s, device=device).view(1, -1, 1, 1) for s in stats(name))
    return (images.to(device).float() / 255 - mean) / std


def load_dataset(name: str, data_dir: str | Path | None = None, device: str | torch.device = "cpu",
                 train_eval_size: int = 5_000, synthetic_size: int = 1_200, batch_size: int | None = None) -> Dataset:
    """Load a data set onto ``device``, holding out 5,000 training examples for validation
    (the synthetic stand-in, which is small, holds out a sixth of its training set).

    The held-out examples are drawn at random with a fixed seed (``SPLIT_SEED``), and the training
    split keeps that random order, so a copy stored sorted by class (``cifar10_jpeg``) gives a
    validation set of every class and a tracked training subset (``train_eval``) of every class."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    device = torch.device(device)
    if DATASETS[name].synthetic:
        train_raw, test_raw = _synthetic_raw(synthetic_size, seed=1), _synthetic_raw(synthetic_size // 6, seed=2)
        validation_size = synthetic_size // 6
    else:
        root = Path(data_dir) if data_dir is not None else default_data_dir()
        check_folder("data_dir", root)  # a folder this user can read (or one a download may make)
        try:
            train_raw, test_raw = _load_raw(name, root, True), _load_raw(name, root, False)
        except PermissionError as error:
            raise DataUnavailableError(f"{name}: cannot read {error.filename or root} ({error.strerror}): give this "
                                       f"user read permission on the data folder {root}, or name another as "
                                       "data_dir") from error
        validation_size = VALIDATION_SIZE
    order = torch.randperm(len(train_raw[1]), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = order[:validation_size], order[validation_size:]

    def split(images: torch.Tensor, labels: torch.Tensor) -> Split:
        return Split(_normalize(images, name, device), labels.to(device))

    train = split(train_raw[0][train_idx], train_raw[1][train_idx])
    check_int("train_eval_size", train_eval_size, 1, len(train))
    require(batch_size is None or batch_size <= len(train), "batch_size", batch_size,
            f"at most the {len(train)} training examples of {name}")
    subset = slice(0, min(train_eval_size, len(train)))
    return Dataset(name=name, train=train, val=split(train_raw[0][val_idx], train_raw[1][val_idx]),
                   test=split(*test_raw), train_eval=Split(train.x[subset], train.y[subset]),
                   synthetic=DATASETS[name].synthetic)


def epoch_batches(n_examples: int, batch_size: int, generators: list[torch.Generator],
                  device: torch.device) -> torch.Tensor:
    """One epoch of minibatch indices per network: ``networks x steps x batch_size``.

    Each network reshuffles with its own generator; the last incomplete batch is dropped.
    """
    steps = n_examples // batch_size
    perms = [torch.randperm(n_examples, generator=g, device=device)[: steps * batch_size] for g in generators]
    return torch.stack(perms).view(len(generators), steps, batch_size)


def _augment_draws(n: int, generator: torch.Generator,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The random draws of one augmented batch of ``n``: flips and the crop's row and column offsets."""
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    dy, dx = (torch.randint(0, 9, (n,), generator=generator, device=device) for _ in range(2))
    return flip, dy, dx


def skip_augment(n: int, generator: torch.Generator, device: torch.device) -> None:
    """Advance ``generator`` as :func:`augment` of a batch of ``n`` would (to resume a data order)."""
    _augment_draws(n, generator, device)


def black(name: str = "cifar10") -> tuple[float, ...]:
    """The normalized value of a zero (black) pixel, per channel, in data set ``name``."""
    mean, std = stats(name)
    return tuple(-m / s for m, s in zip(mean, std, strict=True))


def augment(x: torch.Tensor, generator: torch.Generator, fill: tuple[float, ...] | None = None) -> torch.Tensor:
    """Random horizontal flip and 4-pixel pad-and-crop for a whole batch of normalized CIFAR-10
    images, on its device. The border is black (``fill``, per channel; default: CIFAR-10's
    normalized zero pixel), as torchvision's ``RandomCrop(32, padding=4)`` before normalization."""
    return _flip_and_crop(x, *_augment_draws(len(x), generator, x.device), fill)


def augment_stack(x: torch.Tensor, generators: list[torch.Generator],
                  fill: tuple[float, ...] | None = None) -> torch.Tensor:
    """:func:`augment` of each network's batch ``x[i]`` with its generator ``generators[i]`` (the same
    draws, in the same order), applied to the whole ``networks x batch`` stack at once."""
    networks, n = x.shape[:2]
    require(len(generators) == networks, "generators", len(generators), f"one per network ({networks})")
    flip, dy, dx = (torch.cat(d) for d in zip(*(_augment_draws(n, g, x.device) for g in generators), strict=True))
    return _flip_and_crop(x.flatten(0, 1), flip, dy, dx, fill).view(x.shape)


def _flip_and_crop(x: torch.Tensor, flip: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor,
                   fill: tuple[float, ...] | None) -> torch.Tensor:
    """Flip the images of batch ``x`` where ``flip``, pad them with ``fill`` and crop at ``(dy, dx)``."""
    n, c, h, w = x.shape
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    fill_value = torch.tensor(black() if fill is None else fill, dtype=x.dtype, device=x.device)
    padded = fill_value.view(1, c, 1, 1).repeat(n, 1, h + 8, w + 8)
    padded[:, :, 4 : 4 + h, 4 : 4 + w] = x
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, -1, 1, 1)
    return padded[batch, channel, rows, cols]
