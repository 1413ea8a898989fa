"""The Ray executor, on a local Ray of 2 CPUs: the same results as a local run, a worker killed
mid-round, a notebook's configurations fanned out at once, and the error without Ray."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from lt_utils.book.notebook import PageSetup, configure, run_presets
from lt_utils.errors import ConfigError
from lt_utils.lottery import cluster
from lt_utils.lottery.experiments import load_trained, run_experiment, run_info
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset

ray = pytest.importorskip("ray", reason="the [cluster] extra; make test installs it")

TINY = {"iterations": 300, "trials": 2, "rounds": 2, "reinits": 1, "train_eval_size": 500}  # + one-shot, random sparse


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs, and this process on one thread, as Ray runs each CPU task (one CPU, one
    thread), so that the local reference runs round exactly as the workers do."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_run(local_ray, tmp_path_factory, data_dir):
    """The tiny Lenet experiment run in this process: the reference every Ray run must equal."""
    folder = tmp_path_factory.mktemp("local")
    cfg = preset("smoke", **TINY)
    return cfg, folder, run_experiment(cfg, results_dir=str(folder), data_dir=str(data_dir), device="cpu",
                                       progress=False)


@pytest.fixture
def progress_bars(monkeypatch):
    """Every TaskProgress the driver makes, kept for the test to read."""
    made = []

    class Kept(cluster.TaskProgress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(cluster, "TaskProgress", Kept)
    return made


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and ".lock" not in p.name)


def _assert_same_run(local_run, ray_folder: Path, table: pd.DataFrame) -> None:
    cfg, local_folder, local = local_run
    pd.testing.assert_frame_equal(table, local.table)
    key = local.path.name
    assert _files(ray_folder / key) == _files(local_folder / key)
    for r in range(cfg.rounds + 1):
        mine, theirs = load_trained(cfg, ray_folder, r), load_trained(cfg, local_folder, r)
        for part in ("params", "masks"):
            assert all(torch.equal(mine[part][k], theirs[part][k]) for k in theirs[part])


def _training_workers() -> list[int]:
    """Processes of Ray workers running a training task (Ray titles them ``ray::<task name>``)."""
    pids, title = [], f"ray::{cluster.TASK_NAME}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(title):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
def test_a_ray_run_with_a_worker_killed_mid_round_writes_what_a_local_run_writes(local_run, tmp_path, data_dir,
                                                                                  progress_bars):
    cfg = local_run[0]
    options = {"results_dir": str(tmp_path), "data_dir": str(data_dir), "device": "cpu", "progress": False,
               "executor": "ray"}
    outcome = {}
    driver = threading.Thread(target=lambda: outcome.update(result=run_experiment(cfg, **options)))
    driver.start()
    killed, deadline = None, time.monotonic() + 120
    while killed is None and driver.is_alive() and time.monotonic() < deadline:
        if (tmp_path / local_run[2].path.name / "rounds" / "round_00.csv.gz").exists():  # round 1 under way
            workers = _training_workers()
            if workers:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    driver.join()
    assert killed is not None, "no training worker was found to kill"
    _assert_same_run(local_run, tmp_path, outcome["result"].table)
    records = run_info(cfg, tmp_path, RunOptions(device="cpu"))
    assert [r["executor"] for r in records] == ["ray"] * 3 and all(r["device_name"] for r in records)
    (bar,) = progress_bars
    assert bar.tasks_done == bar.tasks == 1 + 2  # one stack per round (a round's Lenet networks share one)
    assert bar.networks_done == bar.networks == 2 + 2 * (2 * (1 + 1 + 1 + 1))  # dense; ticket, reinit, random, one-shot
    rerun = run_experiment(cfg, **options)  # every round finished: nothing is trained again
    pd.testing.assert_frame_equal(rerun.table, outcome["result"].table)
    assert progress_bars[-1].tasks == 0


def test_a_notebooks_configurations_run_at_once(local_ray, tmp_path, data_dir, progress_bars):
    options = {"results_dir": str(tmp_path), "data_dir": str(data_dir), "device": "cpu", "progress": False}
    setup = PageSetup({name: configure(name, True) for name in ("conv2", "conv2_dropout")},
                      RunOptions(executor="ray", **options), smoke=True)
    runs, records = run_presets(setup, "conv_dropout", None)
    (bar,) = progress_bars
    assert bar.peak_configurations == 2  # both chains had tasks out at the same time
    # each: the dense round (one network) and one pruning round (ticket and reinit), a stack per network on the CPU
    assert bar.tasks_done == bar.tasks == 2 * (1 + 2)
    assert sorted(runs) == ["conv2", "conv2_dropout"] and all(len(table) for _, table in runs.values())
    assert [record["networks_trained"] for record in records] == [1 + 2, 1 + 2]  # dense; ticket and reinit


def test_without_ray_installed_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is not installed
    with pytest.raises(ConfigError, match=r'executor=\'ray\' needs Ray.*pip install -e "\.\[cluster\]"'):
        RunOptions(executor="ray")
    with pytest.raises(ConfigError, match="invalid executor='dask'.*'local', 'ray'"):
        RunOptions(executor="dask")


@pytest.mark.parametrize(("gpus", "chains", "share"), [(8, 6, 1.0), (1, 6, 0.1666), (2, 3, 0.6666), (1, 1, 1.0),
                                                         (0, 3, 0.0)])
def test_stacks_spread_over_the_gpus_before_they_share_one(gpus, chains, share):
    assert cluster.gpu_share(gpus, chains) == share
    if gpus:
        assert cluster.task_resources("conv2", "cuda", share)["num_gpus"] == share
        assert cluster.task_resources("vgg19", "cuda", share)["num_gpus"] == 1  # batch norm: a GPU per network


def test_cuda_tasks_on_a_cluster_without_gpus_fail_at_once(local_ray):
    with pytest.raises(ConfigError, match="has no GPU"):
        cluster.connect(None, "cuda")
