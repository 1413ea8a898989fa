"""The JPEG copy of CIFAR-10 (``cifar10_jpeg``): read from its zip or an unpacked folder, cached,
refused by name when damaged, split at random, and kept apart from CIFAR-10's results."""

import dataclasses
import io
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import jupytext
import numpy as np
import pytest
import torch
from PIL import Image

from lt_utils.book.claims import MEASURED, evaluate_claims
from lt_utils.book.notebook import scale_note
from lt_utils.book.params import check_notebook_parameters
from lt_utils.book.runner import declared_parameters
from lt_utils.engine import data as data_module
from lt_utils.engine.data import DATASETS, load_dataset
from lt_utils.engine.decoded_cache import cache_path
from lt_utils.engine.jpeg_data import CIFAR10_CLASSES, CIFAR10_JPEG, JpegCopy
from lt_utils.errors import ConfigError, DamagedFileError, DamagedResultWarning, DataUnavailableError
from lt_utils.lottery.experiments import RunOptions, experiment_path, run_experiment
from lt_utils.lottery.keys import non_default
from lt_utils.lottery.presets import PRESETS, preset, smoke_config

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("LT_TEST_DATA_DIR", ROOT.parent / "shared" / "data"))
SMALL = dataclasses.replace(CIFAR10_JPEG, per_class={"train": 3, "test": 2}, progress=False,
                            contents_sha256=None)  # a copy of the tests' own: its contents are not checked
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)


@pytest.fixture(autouse=True)
def _user_cache(monkeypatch, tmp_path_factory):
    """The user's cache directory, a scratch folder: decoded caches go there."""
    monkeypatch.delenv("LT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg_cache")))


def _jpeg(seed: int, size: tuple[int, int] = (32, 32)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def _members(per_class=None, classes=CIFAR10_CLASSES) -> dict[str, bytes]:
    per_class = per_class or SMALL.per_class
    names = [f"{split}/{cls}/{i:04d}.jpg" for split in ("train", "test") for cls in classes
             for i in range(per_class[split])]
    return {name: _jpeg(zlib.crc32(name.encode())) for name in names}


def _write_zip(root: Path, members: dict[str, bytes]) -> Path:
    path = root / "CIFAR-10-JPEG" / "cifar10-jpeg.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in sorted(members.items(), reverse=True):  # not in label order
            archive.writestr(name, data)
    return path


def _decoded(data: bytes) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(io.BytesIO(data)))).permute(2, 0, 1)


def test_a_small_archive_loads_in_label_order_with_pil_pixels(tmp_path):
    members = _members()
    _write_zip(tmp_path, members)
    images, labels = SMALL.read(tmp_path, True)
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [c for c in range(10) for _ in range(3)]
    assert torch.equal(images[4], _decoded(members["train/automobile/0001.jpg"]))
    test_images, test_labels = SMALL.read(tmp_path, False)
    assert test_images.shape == (20, 3, 32, 32) and test_labels.bincount().tolist() == [2] * 10
    assert torch.equal(test_images[-1], _decoded(members["test/truck/0001.jpg"]))


def test_load_dataset_normalizes_and_draws_the_validation_split_at_random(tmp_path, monkeypatch):
    copy = dataclasses.replace(SMALL, per_class={"train": 10, "test": 2})
    members = _members(copy.per_class)
    _write_zip(tmp_path, members)
    monkeypatch.setitem(DATASETS, "cifar10_jpeg", dataclasses.replace(DATASETS["cifar10_jpeg"], read=copy.read))
    monkeypatch.setattr(data_module, "VALIDATION_SIZE", 20)
    data = load_dataset("cifar10_jpeg", tmp_path, "cpu", train_eval_size=30)
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20) and not data.synthetic
    expected = (_decoded(members["test/airplane/0000.jpg"]).float() / 255 - MEAN) / STD
    torch.testing.assert_close(data.test.x[0], expected)
    # the copy is sorted by class: the split and the training order must not be
    assert len(data.val.y.unique()) >= 6 and len(data.train_eval.y.unique()) >= 6
    assert not bool((data.train.y.diff() >= 0).all())
    again = load_dataset("cifar10_jpeg", tmp_path, "cpu", train_eval_size=30)
    assert torch.equal(again.val.y, data.val.y) and torch.equal(again.train.x, data.train.x)  # a fixed seed


def test_an_unpacked_folder_loads_the_same_as_the_zip(tmp_path):
    archive = _write_zip(tmp_path / "zipped", _members())
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(unpacked / "CIFAR-10-JPEG")
    for train in (True, False):
        for a, b in zip(SMALL.read(tmp_path / "zipped", train), SMALL.read(unpacked, train), strict=True):
            assert torch.equal(a, b)


def test_the_cache_is_reused_and_a_damaged_cache_rebuilt(tmp_path, monkeypatch):
    _write_zip(tmp_path, _members())
    images, labels = SMALL.read(tmp_path, True)
    cache = cache_path(tmp_path / "CIFAR-10-JPEG", "cifar10_jpeg-train")
    assert cache.exists() and cache.parent == Path(os.environ["XDG_CACHE_HOME"]) / "lt_utils" / "decoded"
    assert not list(tmp_path.rglob("*.cache.pt"))  # nothing written beside the source data

    def no_decoding(*args):
        raise AssertionError("decoded again although the cache is intact")

    with monkeypatch.context() as patch:
        patch.setattr(JpegCopy, "_decode", no_decoding)
        assert torch.equal(SMALL.read(tmp_path, True)[0], images)
    content = bytearray(cache.read_bytes())
    middle = len(content) // 2  # inside the image tensor's bytes
    content[middle] ^= 0xFF
    cache.write_bytes(bytes(content))
    with pytest.warns(DamagedResultWarning, match=rf"{cache.name} is damaged"):
        rebuilt, rebuilt_labels = SMALL.read(tmp_path, True)
    assert torch.equal(rebuilt, images) and torch.equal(rebuilt_labels, labels)
    cache.write_bytes(cache.read_bytes()[:1000])  # truncated
    with pytest.warns(DamagedResultWarning, match=rf"{cache.name} is damaged: it cannot be read"):
        assert torch.equal(SMALL.read(tmp_path, True)[0], images)
    other = _members()
    other["train/airplane/0000.jpg"] = _jpeg(12345)
    _write_zip(tmp_path, other)  # other files: the cache is stale, rebuilt without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedResultWarning)
        assert torch.equal(SMALL.read(tmp_path, True)[0][0], _decoded(other["train/airplane/0000.jpg"]))


def test_a_missing_copy_says_where_it_was_looked_for(tmp_path):
    with pytest.raises(DataUnavailableError, match=r"looked for the archive .*CIFAR-10-JPEG/cifar10-jpeg.zip.*"
                                                   r"cannot be downloaded"):
        load_dataset("cifar10_jpeg", tmp_path, "cpu")


def test_a_truncated_archive_is_refused_by_name(tmp_path):
    archive = _write_zip(tmp_path, _members())
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DamagedFileError, match=r"cifar10-jpeg.zip is truncated or not a zip archive: [\d,]+ bytes; "
                                               r"the published cifar10-jpeg.zip has 62,190,935"):
        SMALL.read(tmp_path, True)


def test_an_archive_of_the_published_size_must_have_its_checksum(tmp_path):
    archive = tmp_path / "CIFAR-10-JPEG" / "cifar10-jpeg.zip"
    archive.parent.mkdir()
    with open(archive, "wb") as handle:
        handle.truncate(CIFAR10_JPEG.archive_bytes)  # zeros, the published archive's size
    with pytest.raises(DamagedFileError, match=r"cifar10-jpeg.zip is damaged: its sha256 is [0-9a-f]{64}, the "
                                               r"published cifar10-jpeg.zip's is d04893ea"):
        CIFAR10_JPEG.read(tmp_path, True)


def _flip_member_byte(members: dict[str, bytes], name: str):
    """A zip whose member ``name`` has one byte changed after it was written (its CRC no longer matches)."""
    def write(root: Path) -> Path:
        archive = _write_zip(root, members)
        content = bytearray(archive.read_bytes())
        start = content.index(members[name])
        content[start + 300] ^= 0xFF
        archive.write_bytes(bytes(content))
        return archive
    return write


@pytest.mark.parametrize("case", ["garbage", "png", "small", "crc"])
def test_a_damaged_member_is_refused_by_name(tmp_path, case):
    members = _members()
    name = "train/cat/0001.jpg"
    if case == "garbage":
        members[name], message = b"\xff\xd8 not a jpeg", r"train/cat/0001.jpg is not a decodable JPEG"
    elif case == "png":
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32)).save(buffer, "PNG")
        members[name], message = buffer.getvalue(), r"train/cat/0001.jpg is not a decodable JPEG"
    elif case == "small":
        members[name], message = _jpeg(0, (28, 28)), r"train/cat/0001.jpg is a 28x28 RGB image; expected 32x32 RGB"
    else:
        message = r"train/cat/0001.jpg cannot be read \(BadZipFile: Bad CRC-32"
    if case == "crc":
        _flip_member_byte(members, name)(tmp_path)
    else:
        _write_zip(tmp_path, members)
    with pytest.raises(DamagedFileError, match=r"cifar10-jpeg.zip: " + message):
        SMALL.read(tmp_path, True)


@pytest.mark.parametrize("change,message", [
    (lambda m: {k.replace("/cat/", "/kitten/"): v for k, v in m.items()},
     r"cifar10-jpeg.zip: unknown class folder train/kitten \(the classes are airplane, .*truck\)"),
    (lambda m: {k: v for k, v in m.items() if "/truck/" not in k},
     r"cifar10-jpeg.zip has no images for class\(es\) truck in train/"),
    (lambda m: {k: v for k, v in m.items() if k != "train/dog/0002.jpg"},
     r"cifar10-jpeg.zip: wrong image counts in train/: dog has 2; each class must have 3"),
    (lambda m: {**m, "train/dog/notes.txt": b"x"}, r"cifar10-jpeg.zip: unexpected file train/dog/notes.txt"),
])
def test_wrong_class_folders_and_counts_are_refused_by_name(tmp_path, change, message):
    _write_zip(tmp_path, change(_members()))
    with pytest.raises(DamagedFileError, match=message):
        SMALL.read(tmp_path, True)


def test_an_unpacked_folder_with_a_wrong_class_is_refused_by_name(tmp_path):
    folder = tmp_path / "CIFAR-10-JPEG"
    for name, data in _members().items():
        path = folder / name.replace("/bird/", "/birds/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    with pytest.raises(DamagedFileError, match=r"CIFAR-10-JPEG: unknown class folder train/birds"):
        SMALL.read(tmp_path, True)


def test_results_on_the_jpeg_copy_never_share_a_key_with_cifar10():
    cifar_presets = [name for name in PRESETS if preset(name).dataset == "cifar10"]
    assert len(cifar_presets) == 12
    for name in cifar_presets:
        cifar, jpeg = preset(name), preset(name, dataset="cifar10_jpeg")
        assert non_default(cifar)["dataset"] == "cifar10" and non_default(jpeg)["dataset"] == "cifar10_jpeg"
        assert jpeg.key != cifar.key
        options = RunOptions(device="cpu")
        assert experiment_path(jpeg, "r", options) != experiment_path(cifar, "r", options)
    assert smoke_config(preset("conv2", dataset="cifar10_jpeg")).dataset == "synthetic_cifar10"


def test_the_cifar_notebooks_take_a_dataset_and_name_it_by_its_label():
    for name in ("conv_dropout", "vgg19_warmup"):
        declared = declared_parameters(jupytext.read(ROOT / "notebooks" / f"{name}.md"))
        assert declared["dataset"]["default"].strip("'\"") == "cifar10"
        check_notebook_parameters(name, {"dataset": "cifar10_jpeg"}, declared)
        for bad in ("mnist", "synthetic_cifar10", "cifar10-jpeg"):
            with pytest.raises(ConfigError, match=rf"dataset='{bad}'.*\('cifar10', 'cifar10_jpeg'\)"):
                check_notebook_parameters(name, {"dataset": bad}, declared)
    assert [DATASETS[d].label for d in ("mnist", "cifar10", "cifar10_jpeg")] == \
        ["MNIST", "CIFAR-10", "CIFAR-10, JPEG copy (quality 75)"]
    assert scale_note(preset("conv2", dataset="cifar10_jpeg", trials=2), "conv2") == \
        "Reduced scale: 2 of 5 trials; data: CIFAR-10, JPEG copy (quality 75), not the paper's CIFAR-10"


@pytest.mark.skipif(not (REAL_DATA / "CIFAR-10-JPEG" / "cifar10-jpeg.zip").exists(),
                    reason=f"the JPEG copy of CIFAR-10 is not in {REAL_DATA} (set LT_TEST_DATA_DIR)")
def test_the_real_archive_loads_45k_5k_10k_with_every_class(tmp_path, monkeypatch):
    monkeypatch.setenv("LT_CACHE_DIR", str(tmp_path))  # never write beside the shared files
    data = load_dataset("cifar10_jpeg", REAL_DATA, "cpu", train_eval_size=1_000)
    assert (len(data.train), len(data.val), len(data.test)) == (45_000, 5_000, 10_000)
    assert data.train.x.shape[1:] == (3, 32, 32)
    assert (data.train.y.bincount() + data.val.y.bincount()).tolist() == [5_000] * 10
    assert data.test.y.bincount().tolist() == [1_000] * 10
    assert data.val.y.bincount().min() > 400 and data.train_eval.y.bincount().min() > 60  # every class, at random
    assert data.train.x.mean((0, 2, 3)).abs().max() < 0.05  # CIFAR-10's statistics fit the copy


@pytest.mark.skipif(not (REAL_DATA / "CIFAR-10-JPEG" / "cifar10-jpeg.zip").exists(),
                    reason=f"the JPEG copy of CIFAR-10 is not in {REAL_DATA} (set LT_TEST_DATA_DIR to ../shared/data)")
def test_conv_nets_with_and_without_dropout_train_on_a_slice_of_the_real_copy(tmp_path, monkeypatch):
    """Conv-2, plain and with dropout, two rounds on 40 real training images per class (the
    notebook's smoke run uses a synthetic stand-in): the Conv path on real images, end to end."""
    copy = dataclasses.replace(CIFAR10_JPEG, per_class={"train": 40, "test": 10}, progress=False,
                               contents_sha256=None)  # a slice: not the published contents
    with zipfile.ZipFile(REAL_DATA / "CIFAR-10-JPEG" / "cifar10-jpeg.zip") as real:
        names = set(real.namelist())
        members = {name: real.read(name) for name in _members(copy.per_class)}  # the first images of each class
    assert set(members) <= names
    _write_zip(tmp_path / "data", members)
    monkeypatch.setitem(DATASETS, "cifar10_jpeg", dataclasses.replace(DATASETS["cifar10_jpeg"], read=copy.read))
    monkeypatch.setattr(data_module, "VALIDATION_SIZE", 100)
    small = {"trials": 1, "rounds": 1, "reinits": 1, "iterations": 40, "eval_every": 20, "train_eval_size": 100,
             "dataset": "cifar10_jpeg", "patience": 20, "test_eval": "where_read"}
    tables = {}
    for name in ("conv2", "conv2_dropout"):
        cfg = preset(name, **small)
        tables[name] = run_experiment(cfg, results_dir=str(tmp_path / "results"), data_dir=str(tmp_path / "data"),
                                      device="cpu", progress=False).table
        table = tables[name]
        assert set(zip(table["variant"], table["round"], strict=True)) == {("iterative", 0), ("iterative", 1),
                                                                           ("reinit", 1)}
        assert table["val_loss"].dropna().map(np.isfinite).all() and table["val_acc"].dropna().between(0, 1).all()
        assert sorted(table["p_m"].round(1).unique()) == [80.1, 100.0]  # Conv-2 after one round: 10%, 20%, 10%
    configs = {name: preset(name, dataset="cifar10_jpeg") for name in tables}
    claims = {c.key: c for c in evaluate_claims("conv_dropout", tables, configs)}
    assert claims["conv2_unpruned"].caveat and claims["conv2_unpruned"].verdict == MEASURED
    assert claims["conv2_dropout_gain"].this_run is not None


def test_the_decoded_cache_goes_to_the_users_cache_directory_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    source = tmp_path / "data" / "CIFAR-10-JPEG"
    source.mkdir(parents=True)
    assert cache_path(source, "x").parent == tmp_path / "home" / ".cache" / "lt_utils" / "decoded"
    monkeypatch.setenv("LT_CACHE_DIR", str(tmp_path / "asked"))
    assert cache_path(source, "x").parent == tmp_path / "asked" / "decoded"
    assert cache_path(source, "x") != cache_path(tmp_path / "other", "x")  # one cache per source folder


def test_a_repacked_copy_with_images_moved_between_classes_is_refused(tmp_path):
    members = _members()
    _write_zip(tmp_path / "original", members)
    digests = {}
    for split in ("train", "test"):  # the contents digest of the tests' "published" copy
        with pytest.raises(DamagedFileError, match="have the digest") as error:
            dataclasses.replace(SMALL, contents_sha256={}).read(tmp_path / "original", split == "train")
        digests[split] = str(error.value).split("have the digest ")[1].split(",")[0]
    published = dataclasses.replace(SMALL, contents_sha256=digests)
    assert published.read(tmp_path / "original", False)[0].shape[0] == 20  # its own contents: accepted
    cat, dog = sorted(k for k in members if k.startswith("test/cat/"))[0], \
        sorted(k for k in members if k.startswith("test/dog/"))[0]
    moved = dict(members) | {cat: members[dog], dog: members[cat]}  # two test images swap classes, counts kept
    _write_zip(tmp_path / "moved", moved)
    with pytest.raises(DamagedFileError, match=r"is not the published cifar10_jpeg: its test split's contents"):
        published.read(tmp_path / "moved", False)
    assert published.read(tmp_path / "moved", True)[0].shape[0] == 30  # the train split is untouched
