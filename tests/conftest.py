import os
import stat
from pathlib import Path

import papermill
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


def refused(main, argv: list[str], capsys) -> str:
    """The one line a command line prints for a user's mistake (exit status 2, as argparse's)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], lines
    return lines[0]


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if a notebook kernel would be started."""
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel was started"))


def as_owner(path, mode: int, **kwargs) -> bool:
    """What ``os.access`` answers a folder's owner who is not root (root may read and write any folder)."""
    bits = os.stat(path).st_mode
    return all(bits & bit for flag, bit in ((os.R_OK, stat.S_IRUSR), (os.W_OK, stat.S_IWUSR), (os.X_OK, stat.S_IXUSR))
               if mode & flag)
