from pathlib import Path

import pytest
import torch

from lt_utils.engine.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__import__("os").environ.get("LT_TEST_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.fail(f"real MNIST expected in {DATA_DIR} (set LT_TEST_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist(data_dir):
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return load_dataset("mnist", data_dir, "cpu", train_eval_size=1000)
