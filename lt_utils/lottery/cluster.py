"""The Ray executor (``executor="ray"``): a figure's independent work as Ray tasks, on one machine,
one multi-GPU machine or a cluster, with results identical to a local run's.

**What runs where.** The driver (the notebook's kernel) runs each configuration's chain of rounds
in a thread of its own, so a notebook's configurations run at once. For each round it draws the
initial weights, masks and seeds exactly as a local run does, and sends the round's stacks
(``lt_utils.lottery.jobs.StackJob``) out as tasks. Rounds of a chain stay sequential: a round's
masks come from the previous round's trained tickets. Placement:

- Models without batch norm (Lenet, Conv-2/4/6) train a round's networks (every trial's ticket
  and its controls) as one stack, so one task per round. The task asks for a quarter of a GPU,
  so four stacks share one, or for one CPU where there is no GPU.
- Models with batch norm (VGG-19, ResNet-20) train one network at a time, so each network of a
  round is its own task, with a whole GPU.

**Where results go.** Tasks return their results to the driver, which writes every file of the
results folder itself, atomically and round by round, as a local run does. So ``results_dir``
need only be reachable from the driver, and resume, re-render and ``load_ticket`` work
unchanged. Workers need the data: ``data_dir`` must be readable on every node, or the data set
is downloaded there through torchvision.

**Faults.** Ray retries a task whose worker dies (``RETRIES`` times), and the retry trains that
stack again from the start of its round. Stacks that finished stay with the driver, and rounds
that finished are on disk, so nothing finished is lost or trained twice. If the driver itself
stops, the run resumes from its last finished round, as a local run does.

**Device.** The driver's device decides: with ``device="auto"``, a driver on a node with a GPU
sends tasks that ask for GPUs, and a driver without one sends CPU tasks. The driver draws the
random masks on that device, so results match a local run on the same kind of device.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lt_utils.engine.data import Dataset, default_data_dir, load_dataset
from lt_utils.engine.models import has_batch_norm
from lt_utils.engine.stack import init_states
from lt_utils.engine.training import TrainResult
from lt_utils.errors import ConfigError
from lt_utils.lottery.jobs import StackJob, result_to, train_job
from lt_utils.lottery.locking import folder_lock
from lt_utils.lottery.options import RunOptions, import_ray

RETRIES = 3
"""How often Ray retries a task whose worker died."""
TASK_NAME = "lt_utils.train_stack"
"""The name of the training tasks (a running worker's process title is ``ray::`` and this name)."""
WAIT_SECONDS = 1.0
"""How often the driver looks up from waiting on tasks, to stop when another configuration failed."""


_CONNECTING = threading.Lock()


def connect(address: str | None, device_type: str = "cpu") -> float:
    """Join the Ray cluster at ``address`` (or ``$RAY_ADDRESS``), or start a local Ray when neither
    is set; a Ray already started in this process is used as it is. Returns the cluster's GPUs,
    and fails at once if tasks on ``device_type`` ``"cuda"`` would wait for GPUs it does not have."""
    ray = import_ray()
    with _CONNECTING:
        if not ray.is_initialized():
            joining = address or os.environ.get("RAY_ADDRESS")
            ray.init(address=address, **({} if joining else {"include_dashboard": False}))
    gpus = float(ray.cluster_resources().get("GPU", 0))
    if device_type == "cuda" and not gpus:
        raise ConfigError("executor='ray' with device 'cuda': the Ray cluster has no GPU for the tasks; start Ray "
                          "on nodes with GPUs (ray start ... --num-gpus N), or run with device='cpu'")
    return gpus


def gpu_share(gpus: float, chains: int) -> float:
    """The GPU fraction a stack asks for when ``chains`` configurations run at once on ``gpus`` GPUs:
    a whole GPU each while there are enough, else an equal share (Ray packs fractions onto one GPU
    before it opens the next, so a fixed small share would crowd a few GPUs and leave the rest idle)."""
    return min(1.0, math.floor(10_000 * gpus / max(1, chains)) / 10_000) if gpus else 0.0


def task_resources(model: str, device_type: str, share: float = 1.0) -> dict[str, float]:
    """What one stack's task asks Ray for: a whole GPU with batch norm (one network a task), else
    ``share`` of one (see ``gpu_share``); one CPU where there is no GPU."""
    if device_type == "cuda":
        return {"num_cpus": 1, "num_gpus": 1 if has_batch_norm(model) else share}
    return {"num_cpus": 1}


_WORKER_DATA: dict[tuple[Any, ...], Dataset] = {}


def _worker_data(dataset: str, data_dir: str | None, device: torch.device, train_eval_size: int) -> Dataset:
    """The data set, loaded once per worker process (only the latest one is kept)."""
    key = (dataset, data_dir, str(device), train_eval_size)
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        root = str(Path(data_dir or default_data_dir()).resolve())  # one download at a time per node and folder
        with folder_lock(Path(tempfile.gettempdir()) / f"lt_utils-data-{hashlib.sha1(root.encode()).hexdigest()[:12]}",
                         wait=True):
            _WORKER_DATA[key] = load_dataset(dataset, data_dir, device, train_eval_size)
    return _WORKER_DATA[key]


def train_on_worker(job: StackJob, device_type: str, data_dir: str | None, eval_batch: int, step: str,
                    precision: str) -> TrainResult:
    """A task's body: train ``job`` on this worker's device; the result comes back on the CPU."""
    device = torch.device(device_type)  # "cuda": the GPU Ray gave this task
    data = _worker_data(job.cfg.dataset, data_dir, device, job.cfg.train.train_eval_size)
    model, _, _ = init_states(job.cfg.model, [0], job.cfg.dropout, device)  # a template; its weights are unused
    result = train_job(job.to(device), model, data, eval_batch=eval_batch, step=step, precision=precision,
                       progress=False)
    return result_to(result, "cpu")


@cache
def _remote_train(gpu: bool) -> Any:
    """The task of ``train_on_worker``. A GPU task's worker process exits after it (``max_calls=1``):
    a process keeps the GPU its CUDA started on, and Ray may give its next task another one."""
    ray = import_ray()
    return ray.remote(max_calls=1)(train_on_worker) if gpu else ray.remote(train_on_worker)


class TaskProgress:
    """One progress bar over a figure's tasks, with the networks done and in flight (queued or
    running), shared by the driver's threads; leaving it after an error stops the other threads."""

    def __init__(self, enabled: bool = True):
        self.bar = tqdm(total=0, unit="task", desc="Ray tasks", disable=not enabled)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.tasks = self.tasks_done = self.networks = self.networks_done = 0
        self.in_flight: dict[str, int] = {}
        self.peak_configurations = 0  # the most configurations with tasks in flight at once

    def plan(self, stacks: list[int]) -> None:
        """Add tasks to the bar's total: one per stack, ``stacks`` the networks of each."""
        with self.lock:
            self.tasks += len(stacks)
            self.networks += sum(stacks)
            self.bar.total = self.tasks
            self._show()

    def submitted(self, name: str, networks: int) -> None:
        with self.lock:
            self.in_flight[name] = self.in_flight.get(name, 0) + networks
            self.peak_configurations = max(self.peak_configurations, sum(n > 0 for n in self.in_flight.values()))
            self._show()

    def finished(self, name: str, networks: int) -> None:
        with self.lock:
            self.in_flight[name] -= networks
            self.networks_done += networks
            self.tasks_done += 1
            self.bar.update(1)
            self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(f"networks {self.networks_done}/{self.networks} done, "
                                 f"{sum(self.in_flight.values())} in flight", refresh=True)

    def __enter__(self) -> TaskProgress:
        return self

    def __exit__(self, *error: Any) -> None:
        self.stopped.set()
        self.bar.close()


class RayTrainer:
    """Trains a round's stacks as Ray tasks and returns their results, in order, on ``device``."""

    def __init__(self, name: str, device: torch.device, progress: TaskProgress, *, share: float,
                 data_dir: str | None, eval_batch: int, step: str, precision: str):
        self.name, self.device, self.progress, self.share = name, device, progress, share
        self.settings = {"device_type": device.type, "data_dir": data_dir, "eval_batch": eval_batch, "step": step,
                         "precision": precision}

    def __call__(self, jobs: list[StackJob]) -> list[TrainResult]:
        ray = import_ray()
        self._check_stopped()
        task = _remote_train(self.device.type == "cuda")
        refs = [task.options(**task_resources(job.cfg.model, self.device.type, self.share), max_retries=RETRIES,
                             retry_exceptions=False, name=TASK_NAME).remote(job.to("cpu"), **self.settings)
                for job in jobs]
        networks = {ref: job.networks for ref, job in zip(refs, jobs, strict=True)}
        self.progress.submitted(self.name, sum(networks.values()))
        results, pending = {}, list(refs)
        try:
            while pending:
                self._check_stopped()
                ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_SECONDS)
                for ref in ready:
                    results[ref] = ray.get(ref)  # a task's error is raised here, in the driver
                    self.progress.finished(self.name, networks[ref])
        finally:
            for ref in pending:
                ray.cancel(ref)
        return [result_to(results[ref], self.device) for ref in refs]

    def _check_stopped(self) -> None:
        if self.progress.stopped.is_set():
            raise RuntimeError(f"{self.name}: stopped, because another part of the run failed or was interrupted; "
                               "its finished rounds are stored, and running again resumes after them")


def ray_trainer(name: str, options: RunOptions, progress: TaskProgress,
                chains: int) -> Callable[[list[StackJob]], list[TrainResult]]:
    """The trainer of one configuration's run (``options``: its ``RunOptions``), one of ``chains``
    configurations run at once; joins the cluster (``connect``) on first use."""
    device = options.torch_device()
    gpus = connect(options.ray_address, device.type)
    data_dir = None if options.data_dir is None else str(options.data_dir)
    return RayTrainer(name, device, progress, share=gpu_share(gpus, chains), data_dir=data_dir,
                      eval_batch=options.eval_batch, step=options.step, precision=options.precision)
