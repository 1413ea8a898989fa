"""A data folder this user cannot read is named in one clear error, never a raw PermissionError."""

import dataclasses
import os

import pytest
from conftest import as_owner

from lt_utils.engine import data as data_module
from lt_utils.engine.data import DATASETS, load_dataset
from lt_utils.errors import ConfigError, DataUnavailableError


def test_a_data_folder_without_read_permission_is_named(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", as_owner)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        with pytest.raises(ConfigError, match=r"invalid data_dir='.*/locked': must be a folder this user can read"):
            load_dataset("mnist", locked, "cpu", train_eval_size=100)
    finally:
        locked.chmod(0o755)


def test_a_file_inside_the_data_folder_without_read_permission_is_named(tmp_path, monkeypatch):
    def unreadable(root, train):
        raise PermissionError(13, "Permission denied", str(root / "MNIST" / "raw" / "train-images-idx3-ubyte"))

    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], check=unreadable))
    with pytest.raises(DataUnavailableError, match=r"mnist: cannot read .*/MNIST/raw/train-images-idx3-ubyte "
                                                   r"\(Permission denied\): give this user read permission on the "
                                                   r"data folder"):
        data_module.load_dataset("mnist", tmp_path, "cpu", train_eval_size=100)
