import pickle
import urllib.error

import numpy as np
import pytest
import torch
from torchvision import datasets

from lt_utils.engine.data import VALIDATION_SIZE, augment, augment_stack, load_dataset
from lt_utils.errors import DataUnavailableError


def test_mnist_split_is_55k_5k_and_fixed(mnist, data_dir):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (55_000, 5_000, 10_000)
    assert mnist.train.x.shape[1:] == (1, 28, 28)
    again = load_dataset("mnist", data_dir, "cpu", train_eval_size=1000)
    assert torch.equal(again.val.y, mnist.val.y)
    assert abs(float(mnist.train.x.mean())) < 0.05  # normalized


def _write_cifar(root, per_batch=1_200):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist(), "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    return folder


def test_cifar10_loads_through_torchvision_pickle_layout(tmp_path, monkeypatch):
    folder = _write_cifar(tmp_path)
    # torchvision checks each file against the official md5; these files are our own.
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda path, md5=None: True)
    data = load_dataset("cifar10", tmp_path, "cpu", train_eval_size=500)  # the fake split has 1,000
    assert (len(data.train), len(data.val), len(data.test)) == (6_000 - VALIDATION_SIZE, VALIDATION_SIZE, 1_200)
    assert data.train.x.shape[1:] == (3, 32, 32)
    first = pickle.loads((folder / "test_batch").read_bytes())
    image = torch.as_tensor(first["data"][0]).view(3, 32, 32).float() / 255
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    torch.testing.assert_close(data.test.x[0], (image - mean) / std)
    assert data.test.y[0] == first["labels"][0]


def test_missing_data_names_files_and_folder(tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    with pytest.raises(DataUnavailableError, match=r"train-images-idx3-ubyte.*MNIST/raw"):
        load_dataset("mnist", tmp_path / "empty", "cpu")


def _crops(image, fill):
    """Every (possibly flipped) 4-pixel shifted crop of ``image``, padded with ``fill`` per channel."""
    out = []
    for candidate in (image, image.flip(2)):
        padded = fill.view(-1, 1, 1).repeat(1, 40, 40)
        padded[:, 4:36, 4:36] = candidate
        out += [padded[:, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
    return out


def test_augment_flips_and_shifts_on_device():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    out = augment(x, torch.Generator().manual_seed(0), fill=(0.0, 0.0, 0.0))
    assert out.shape == x.shape
    for i in range(2):  # each output image is a (possibly flipped) shifted crop of its input
        assert any(torch.equal(out[i], crop) for crop in _crops(x[i], torch.zeros(3)))


def test_augment_pads_with_black_as_torchvision_random_crop():
    # RandomCrop(32, padding=4) on the raw image pads with 0 (black); normalizing afterwards
    # makes that border the normalized zero pixel, not 0 (the mean colour)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    raw = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    out = augment((raw - mean) / std, torch.Generator().manual_seed(0))
    black = (-mean / std).flatten()
    for i in range(8):
        assert any(torch.allclose(out[i], (crop - mean) / std) for crop in _crops(raw[i], torch.zeros(3))), i
    assert torch.isclose(out, black.view(1, 3, 1, 1)).all(1).any()  # some crops show the border: black


@pytest.mark.parametrize("fill", [None, (0.5, -1.0, 2.0)])
def test_augment_stack_matches_each_networks_augment(fill):
    x = torch.randn(3, 5, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    one, stacked = ([torch.Generator().manual_seed(10 + i) for i in range(3)] for _ in range(2))
    expected = torch.stack([augment(x[i], one[i], fill) for i in range(3)])
    assert torch.equal(augment_stack(x, stacked, fill), expected)
    for a, b in zip(one, stacked, strict=True):  # the same draws: the generators end in the same state
        assert torch.equal(a.get_state(), b.get_state())


def test_synthetic_stand_in_is_labelled(tmp_path):
    data = load_dataset("synthetic_cifar10", tmp_path, "cpu", synthetic_size=6_000)
    assert data.synthetic and data.train.x.shape[1:] == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (5_000, 1_000, 1_000)
