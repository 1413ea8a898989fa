"""Damaged data files are refused by name; diverged networks are flagged."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lt_utils.engine.data import load_dataset
from lt_utils.errors import DamagedFileError
from lt_utils.lottery.results import curves_to_table, divergence_note

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _mnist_copy(data_dir, tmp_path, damaged: str, damage):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        source = (data_dir / "MNIST" / "raw" / name).resolve()  # a relative data_dir would make a dangling link
        if name == damaged:
            (raw / name).write_bytes(damage(source.read_bytes()))
        else:
            (raw / name).symlink_to(source)
    return tmp_path


@pytest.mark.parametrize("damaged,damage,message", [
    ("train-images-idx3-ubyte", lambda b: b[: len(b) // 2], r"train-images-idx3-ubyte has \d+ bytes"),
    ("t10k-images-idx3-ubyte", lambda b: np.random.default_rng(0).integers(0, 256, len(b), dtype=np.uint8).tobytes(),
     r"t10k-images-idx3-ubyte is not an MNIST image file"),
    ("train-labels-idx1-ubyte", lambda b: b[:8] + bytes([12]) + b[9:], r"train-labels-idx1-ubyte holds label 12"),
    ("t10k-labels-idx1-ubyte", lambda b: b[:5], r"t10k-labels-idx1-ubyte is truncated"),
])
def test_damaged_mnist_file_is_refused_by_name(data_dir, tmp_path, damaged, damage, message):
    root = _mnist_copy(data_dir, tmp_path, damaged, damage)
    with pytest.raises(DamagedFileError, match=message):
        load_dataset("mnist", root, "cpu", train_eval_size=100)


def test_damaged_cifar_batch_is_refused_by_name(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_3").write_bytes(b"not a batch")
    with pytest.raises(DamagedFileError, match="data_batch_3 is damaged"):
        load_dataset("cifar10", tmp_path, "cpu")


def test_diverged_networks_are_flagged_and_noted():
    curves = torch.rand(3, 2, 6)
    curves[1, 1, 0] = math.nan
    curves[2, 1, 4] = math.inf
    labels = [{"variant": "iterative", "trial": t, "replicate": 0, "round": 1, "p_m": 80.0} for t in range(3)]
    table = curves_to_table(curves, [0, 100], labels)
    assert table.groupby("trial")["diverged"].all().tolist() == [False, True, True]
    assert divergence_note(table).startswith("DIVERGED: 2 networks")
    assert divergence_note(table[table["trial"] == 0]) == ""
    assert divergence_note(table.drop(columns="diverged")) == ""
    older = table.drop(columns="diverged").assign(round=0)  # stored before the column, then joined: NaN there
    assert divergence_note(pd.concat([older, table], ignore_index=True)).startswith("DIVERGED: 2 networks")
