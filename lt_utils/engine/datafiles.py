"""Checks of the data files on disk, so that a damaged file is refused by name.

MNIST's raw IDX files are checked against the format (magic number, counts, image size, file
size), their labels against the ten classes, and each file against the published md5 of the
original; CIFAR-10's batches against the md5 sums that torchvision keeps for them. A file whose
md5 matched is remembered (:func:`md5_matches`), so it is hashed once, not at every load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from lt_utils.atomic import file_hash
from lt_utils.errors import DamagedFileError

CLASSES = 10
_MNIST = {True: ("train", 60_000), False: ("t10k", 10_000)}
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
"""The published md5 of each of MNIST's four original (uncompressed) files."""


def verified_cache_dir() -> Path:
    """Where the verdicts of :func:`md5_matches` are kept: ``$XDG_CACHE_HOME/lt_utils/verified``
    (default ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lt_utils" / "verified"


def md5_matches(path: Path, md5: str) -> bool:
    """Whether ``path``'s md5 is ``md5``. A match is remembered as an empty marker file named by the
    file's resolved path, size, modification and change times, so the file is hashed again only
    when it changes (an unwritable cache only costs the hashing)."""
    info = path.stat()
    key = f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}|{info.st_ctime_ns}|{md5}"
    marker = verified_cache_dir() / hashlib.sha256(key.encode()).hexdigest()
    if marker.exists():
        return True
    if file_hash(path, "md5") != md5:
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
    return True


def _header(path: Path, words: int) -> list[int]:
    with open(path, "rb") as handle:
        data = handle.read(4 * words)
    if len(data) < 4 * words:
        raise DamagedFileError(f"{path} is truncated: {len(data)} bytes, shorter than its IDX header")
    return [int.from_bytes(data[4 * i: 4 * i + 4], "big") for i in range(words)]


def check_mnist(root: Path, train: bool) -> None:
    """Refuse damaged MNIST files in ``root/MNIST/raw`` (missing files are left to the download)."""
    prefix, count = _MNIST[train]
    folder = root / "MNIST" / "raw"
    images, labels = folder / f"{prefix}-images-idx3-ubyte", folder / f"{prefix}-labels-idx1-ubyte"
    if images.exists():
        magic, n, rows, cols = _header(images, 4)
        expected = (2051, count, 28, 28)
        if (magic, n, rows, cols) != expected:
            raise DamagedFileError(f"{images} is not an MNIST image file: header (magic, count, rows, columns) is "
                                   f"{(magic, n, rows, cols)}, expected {expected}")
        size = images.stat().st_size
        if size != 16 + count * 28 * 28:
            raise DamagedFileError(f"{images} has {size} bytes, expected {16 + count * 28 * 28} (truncated?)")
    if labels.exists():
        magic, n = _header(labels, 2)
        if (magic, n) != (2049, count):
            raise DamagedFileError(f"{labels} is not an MNIST label file: header (magic, count) is {(magic, n)}, "
                                   f"expected {(2049, count)}")
        size = labels.stat().st_size
        if size != 8 + count:
            raise DamagedFileError(f"{labels} has {size} bytes, expected {8 + count} (truncated?)")
        values = np.fromfile(labels, dtype=np.uint8, offset=8)
        if values.max(initial=0) >= CLASSES:
            raise DamagedFileError(f"{labels} holds label {int(values.max())}; labels must be in [0, {CLASSES})")
    for path in (images, labels):
        if path.exists() and not md5_matches(path, MNIST_MD5[path.name]):
            raise DamagedFileError(f"{path} is damaged: its md5 is not {MNIST_MD5[path.name]}, the published one "
                                   f"of MNIST's {path.name}; delete it and run again, and torchvision downloads "
                                   "MNIST anew (or copy an intact file there)")


def check_cifar10(root: Path) -> None:
    """Refuse CIFAR-10 batch files whose md5 differs from torchvision's record (missing ones are
    left to the download)."""
    from torchvision.datasets import cifar

    folder = root / cifar.CIFAR10.base_folder
    for name, md5 in [*cifar.CIFAR10.train_list, *cifar.CIFAR10.test_list]:
        path = folder / name
        if path.exists() and not cifar.check_integrity(str(path), md5):
            raise DamagedFileError(f"{path} is damaged: its md5 is not torchvision's {md5} for CIFAR-10's {name}")


def check_labels(labels: torch.Tensor, source: str) -> None:
    """Refuse labels outside the ten classes, naming where they came from."""
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= CLASSES):
        raise DamagedFileError(f"{source} holds labels outside [0, {CLASSES}): min {int(labels.min())}, "
                               f"max {int(labels.max())}")
