"""How an experiment is executed (:class:`RunOptions`), as against what it computes
(:class:`lt_utils.lottery.config.ExperimentConfig`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from lt_utils.engine.models import networks_per_stack
from lt_utils.engine.stack import PRECISIONS
from lt_utils.engine.step import STEP_MODES
from lt_utils.errors import ConfigError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.validation import (
    check_bool,
    check_choice,
    check_device,
    check_float,
    check_folder,
    check_int,
    require,
)

INSTALL = 'pip install -e ".[cluster]"'
"""The command that installs Ray with the package."""


def import_ray() -> Any:
    """The ``ray`` module, or a clear error that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ConfigError(f"executor='ray' needs Ray, which is not installed here; install it with {INSTALL} "
                          "(or pip install 'ray>=2.9'), or use executor='local'") from error
    return ray


TRAINED_ON_ENV = "LT_TRAINED_ON"
"""Set to a device type (``cpu``, ``cuda``): runs read the results trained on it (``RunOptions.trained_on``).
A re-render sets it for its kernel, so that a page trained on a GPU re-renders on the CPU."""

DEVICE_TYPES = ("cpu", "cuda")
"""The device types results can be trained on (part of their key)."""

EXECUTORS = ("local", "ray")
"""Where an experiment's training runs: in this process, or as Ray tasks (``lt_utils.lottery.cluster``)."""


def check_run_options(options: RunOptions) -> None:
    """Every field of a :class:`RunOptions`."""
    check_device("device", options.device)
    require(options.data_dir is None or isinstance(options.data_dir, (str, os.PathLike)), "data_dir",
            options.data_dir, "a folder (str) or None")
    if options.data_dir is not None:
        check_folder("data_dir", options.data_dir)  # a missing one is made by the download
    check_folder("results_dir", options.results_dir)  # made when missing; writable is checked when a run writes
    require(options.stored_dir is None or isinstance(options.stored_dir, (str, os.PathLike)), "stored_dir",
            options.stored_dir, "a folder (str) or None")
    if options.stored_dir is not None:
        check_folder("stored_dir", options.stored_dir, must_exist=True)
    if options.max_stack is not None:
        check_int("max_stack", options.max_stack, 1)
    if options.until_round is not None:
        check_int("until_round", options.until_round, 0)
    check_int("eval_batch", options.eval_batch, 1)
    if options.checkpoint_minutes is not None:
        check_float("checkpoint_minutes", options.checkpoint_minutes, 0, low_open=True)
    check_bool("progress", options.progress)
    check_choice("step", options.step, STEP_MODES)
    check_choice("precision", options.precision, PRECISIONS)
    require(options.wait is None or isinstance(options.wait, bool), "wait", options.wait, "True, False or None")
    check_choice("executor", options.executor, EXECUTORS)
    if options.trained_on is not None:
        check_choice("trained_on", options.trained_on, DEVICE_TYPES)
    require(options.ray_address is None or (isinstance(options.ray_address, str) and options.ray_address != ""),
            "ray_address", options.ray_address, "a Ray address ('auto', 'ray://host:10001', 'host:6379') or None")
    if options.executor == "ray":
        import_ray()  # not installed: fail now, saying how to install it


def check_until_round(cfg: ExperimentConfig, options: RunOptions) -> None:
    """Refuse an ``until_round`` past ``cfg``'s last round: it would be capped, not honoured."""
    if options.until_round is not None:
        require(options.until_round <= cfg.rounds, "until_round", options.until_round,
                f"a round in [0, {cfg.rounds}] for {cfg.name} (rounds={cfg.rounds}), or None for every round")


@dataclass(frozen=True)
class RunOptions:
    """How an experiment is executed.

    Three options change the numbers beyond floating-point rounding, and so are part of the
    results' key (``identity``): ``precision`` (bf16 autocast is not fp32); the device type
    (``cpu`` or ``cuda``: the data order and random masks are drawn by generators on the device,
    whose streams differ); and, for models with dropout, the stack size (the dropout seed is drawn
    per stack): ``max_stack``, or where it is None the size the engine picks for the model on
    this device type (:func:`lt_utils.engine.models.networks_per_stack`, a fixed table, never a
    timing), so that a choice of the engine's and the same ``max_stack`` asked for share a key.
    Models without dropout have None there however they are stacked (the stored Lenet results
    keep their keys), as has a dropout model trained a whole round at once (a GPU's default).
    The rest change only rounding or nothing: ``step`` (the same update, computed eagerly,
    compiled or as a CUDA graph), ``eval_batch`` (the cap on the evaluation batch, which the
    engine lowers to fit memory: it splits evaluation sums, nothing more), which
    CUDA device, the folders, ``progress``, ``wait`` (whether to wait for another process
    holding the same experiment; ``None``: wait unless ``$LT_NO_WAIT`` is set), and where the
    work runs: ``executor`` and ``ray_address`` (see ``lt_utils.lottery.cluster``), and
    ``until_round``: how far a long run trains in this call (the next call goes on from there;
    rounds finished before are shown whatever it says), and ``checkpoint_minutes``: how often the local
    executor saves the training of the stack at hand into the run folder's ``partial/`` (at
    evaluations), so that a run stopped mid-round goes on from there, bit for bit, and loses at most
    that many minutes (None: never; the checkpoint is removed when its round is stored).

    ``trained_on`` reads results trained on another device type: their key is looked up with it
    (a re-render on the CPU of a page trained on a GPU), and nothing is trained, since this device
    would draw other numbers. A missing or incomplete result is then an error, naming the run.
    """

    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    data_dir: str | None = None  # None: $LT_DATA_DIR or ~/.cache/lt_utils/data
    results_dir: str = "results"
    max_stack: int | None = None  # networks trained at once; None: the engine's choice per model and device
    eval_batch: int = 2_000
    progress: bool = True
    step: str = "auto"  # "auto" (CUDA: graph, falling back to compile, then eager; CPU: eager), or one form
    precision: str = "fp32"  # "fp32" (the paper's) or "bf16" (autocast: faster, not the paper's numbers)
    stored_dir: str | None = None  # committed tables (the book's book/results): a complete one is read, not retrained
    wait: bool | None = None  # another process on the same experiment: wait (True) or fail (False)
    executor: str = "local"  # "local" (this process) or "ray" (Ray tasks: lt_utils.lottery.cluster)
    ray_address: str | None = None  # the Ray cluster to join ("auto", "ray://..."); None: $RAY_ADDRESS or a local Ray
    until_round: int | None = None  # train rounds up to this one now (finished ones beyond are kept); None: every round
    trained_on: str | None = None  # read results trained on this device type; None: $LT_TRAINED_ON, else this device's
    checkpoint_minutes: float | None = 5.0  # local executor: save each stack's training this often; None: never

    def __post_init__(self) -> None:
        check_run_options(self)

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def stack_size(self, cfg: ExperimentConfig) -> int | None:
        """Networks per stack for ``cfg``: ``max_stack``, else the engine's choice for its model on
        this device type (None: a whole round at once)."""
        return self.max_stack or networks_per_stack(cfg.model, self.results_device_type())

    def last_round(self, cfg: ExperimentConfig) -> int:
        """The last round of ``cfg`` that this call trains (``until_round``; one past ``cfg.rounds`` is refused)."""
        check_until_round(cfg, self)
        return cfg.rounds if self.until_round is None else self.until_round

    def identity(self, cfg: ExperimentConfig) -> dict[str, Any]:
        """The options that change ``cfg``'s numbers beyond rounding (see the class docstring)."""
        return {"precision": self.precision, "device": self.results_device_type(),
                "max_stack": self.stack_size(cfg) if cfg.dropout > 0 else None}

    def results_device_type(self) -> str:
        """The device type whose results these options read and write: ``trained_on``, else
        ``$LT_TRAINED_ON``, else this device's."""
        trained_on = self.trained_on or os.environ.get(TRAINED_ON_ENV) or None
        if trained_on is None:
            return self.torch_device().type
        return check_choice(f"trained_on (or ${TRAINED_ON_ENV})", trained_on, DEVICE_TYPES)

    def reads_only(self) -> bool:
        """Whether these options read results trained on another device type (and so train nothing)."""
        return self.results_device_type() != self.torch_device().type

    def refuse_training(self, what: str) -> None:
        """Fail, naming ``what``, where results trained on another device type would be trained here."""
        if self.reads_only():
            trained_on = self.results_device_type()
            raise ConfigError(f"{what} was trained on {trained_on} and is only read on {self.torch_device().type} "
                              f"(trained_on={trained_on!r}), but its results are missing or incomplete here; train it "
                              f"with device={trained_on!r}, or bring its committed table")
