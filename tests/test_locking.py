"""One process per experiment folder."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from lt_utils.errors import FolderBusyError
from lt_utils.lottery.locking import folder_lock

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lt_utils.lottery.locking import folder_lock
    with folder_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    print("released", flush=True)
""")


def _holder(folder, seconds):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE,
                               text=True, env=env)
    assert process.stdout.readline().strip() == "held"
    return process


def test_second_process_fails_with_no_wait_naming_the_holder(tmp_path):
    holder = _holder(tmp_path, 60)
    try:
        with pytest.raises(FolderBusyError, match=f"process {holder.pid}"):
            with folder_lock(tmp_path, wait=False):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_waiting_process_says_who_it_waits_for_and_then_runs(tmp_path, capsys):
    holder = _holder(tmp_path, 2)
    with folder_lock(tmp_path, wait=True):
        assert holder.stdout.readline().strip() == "released"  # it got the lock only after the holder let go
    assert f"waiting for process {holder.pid}" in capsys.readouterr().err
    holder.wait()


def test_lock_of_a_killed_process_never_blocks(tmp_path):
    holder = _holder(tmp_path, 60)
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with folder_lock(tmp_path, wait=False):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert time.monotonic() - started < 30


def test_no_wait_comes_from_the_environment(tmp_path, monkeypatch):
    holder = _holder(tmp_path, 60)
    monkeypatch.setenv("LT_NO_WAIT", "1")
    try:
        with pytest.raises(FolderBusyError):
            with folder_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_second_run_of_the_same_experiment_refused_without_waiting(tmp_path, data_dir):
    from lt_utils.lottery.experiments import experiment_path, run_experiment
    from lt_utils.lottery.options import RunOptions
    from lt_utils.lottery.presets import preset

    cfg = preset("smoke", iterations=20, eval_every=10, trials=1, rounds=0, train_eval_size=100)
    options = RunOptions(results_dir=str(tmp_path), data_dir=str(data_dir), progress=False, wait=False)
    holder = _holder(experiment_path(cfg, tmp_path, options), 60)
    try:
        with pytest.raises(FolderBusyError, match=f"process {holder.pid}"):
            run_experiment(cfg, options)
    finally:
        holder.kill()
        holder.wait()
    assert not list(experiment_path(cfg, tmp_path, options).glob("rounds/*"))  # nothing was trained
