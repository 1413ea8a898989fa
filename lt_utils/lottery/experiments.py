"""Lottery-ticket experiments: iterative pruning with rewinding, and its controls, round by round.

Round ``r`` trains, as one stack: the trials' winning tickets at round ``r`` (``iterative``);
``reinits`` random reinitializations of each (``reinit``; at ``reinit_rounds`` only, where set);
random masks with the same per-layer counts (``random_sparse``); and one-shot pruning of the
dense trained network to round ``r``'s sparsity (``oneshot``). After each round the results are written atomically,
so an interrupted run resumes at the first unfinished round; within it, the local executor goes on from
each stack's last checkpoint (``RunOptions.checkpoint_minutes``, in ``partial/``). With late rewinding to iteration
k (``rewind_iteration``), rounds >= 1 train from k to the end of the schedule, as open_lth does,
and are evaluated on the original iteration axis (first at k).
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lt_utils.atomic import atomic_save_torch, atomic_write_json, atomic_write_table
from lt_utils.engine.checkpoint import Checkpoint
from lt_utils.engine.data import Dataset, load_dataset
from lt_utils.engine.memory import check_memory
from lt_utils.engine.pruning import Masks, dense_masks, percent_remaining, prune_to_round, random_masks_like
from lt_utils.engine.seeding import derive_seed
from lt_utils.engine.stack import State, concat, init_states, select
from lt_utils.engine.training import TrainResult
from lt_utils.errors import ConfigError, DamagedResultWarning
from lt_utils.lottery import cluster
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.integrity import (
    code_version,
    load_checked,
    package_state,
    read_manifest,
    remove_stray_temporaries,
    verified_rounds,
    verify_file,
    write_manifest,
)
from lt_utils.lottery.jobs import StackJob, train_job
from lt_utils.lottery.locking import folder_lock
from lt_utils.lottery.options import RunOptions, check_until_round
from lt_utils.lottery.plan import round_networks, round_plan, trains_full_schedule, widest_round
from lt_utils.lottery.results import curves_to_table
from lt_utils.lottery.resume import (
    read_resume_point,
    restore_resume_point,
    restored_masks,
    resume_point_path,
    write_resume_point,
)
from lt_utils.lottery.stored import committed_rounds, stored_table
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT
from lt_utils.validation import check_folder, check_int, require

PARTIAL = "partial"
"""The run folder's subfolder of checkpoints of stacks whose round is not finished yet."""


@dataclass
class ExperimentResult:
    """What ``run_experiment`` returns: the configuration, its results folder and its tidy table."""

    config: ExperimentConfig
    path: Path
    table: pd.DataFrame


@dataclass
class _Network:
    variant: str
    trial: int
    replicate: int
    init: State  # params of this one network (no leading axis)
    buffers: State
    mask: Masks
    data_seed: int


def initial_states(cfg: ExperimentConfig, device: str | torch.device = "cpu") -> tuple[Any, State, State]:
    """The template model and the stacked parameters and buffers of the trials at initialization."""
    seeds = [derive_seed(cfg.seed, "init", t) for t in range(cfg.trials)]
    return init_states(cfg.model, seeds, cfg.dropout, device)


def experiment_path(cfg: ExperimentConfig, results_dir: str | Path, options: RunOptions | None = None) -> Path:
    """The folder of ``cfg``'s results as run with ``options`` (default: ``RunOptions()``)."""
    return Path(results_dir) / cfg.key_for((options or RunOptions()).identity(cfg))


def _round_file(path: Path, r: int) -> Path:
    return path / "rounds" / f"round_{r:02d}.csv.gz"


def finished_rounds(cfg: ExperimentConfig, results_dir: str | Path, options: RunOptions | None = None,
                    deep: bool = False) -> list[int]:
    """Rounds whose stored files all match their manifests (a run resumes after the last
    consecutive one). ``deep`` also hashes the checkpoints; a round that fails is named in a warning."""
    options = options or RunOptions()
    return verified_rounds(experiment_path(cfg, results_dir, options), cfg.rounds, options.identity(cfg), deep)


def load_table(cfg: ExperimentConfig, results_dir: str | Path, options: RunOptions | None = None) -> pd.DataFrame:
    """The tidy table of every verified round (a configuration never run there is refused)."""
    check_folder("results_dir", results_dir, must_exist=True)
    path = experiment_path(cfg, results_dir, options)
    if not path.is_dir():
        raise ConfigError(f"no results of {cfg.name} in results_dir={str(results_dir)!r}: {path} does not exist "
                          "(run it with run_experiment, with the same options, first)")
    return load_folder_table(path, cfg.rounds, (options or RunOptions()).identity(cfg))


def load_folder_table(path: Path, rounds: int, identity: dict[str, Any] | None = None) -> pd.DataFrame:
    """The tidy table of every verified round stored in ``path`` (a results folder named by its key);
    ``identity=None`` accepts the run identity its manifests record."""
    done = verified_rounds(path, rounds, identity, deep=False)
    parts = [load_checked(_round_file(path, r), pd.read_csv) for r in done]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def next_masks(cfg: ExperimentConfig, trained: State, masks: Masks, kinds: dict[str, str], round_: int) -> Masks:
    """The winning tickets' masks for round ``round_``: the trials' ``trained`` weights of the round before
    (with ``prune_at="end"``, those at the end of the schedule) pruned by magnitude under ``masks``."""
    return prune_to_round(trained, masks, kinds, cfg.prune, round_)


def _one(state: State, i: int) -> State:
    return {k: v[i] for k, v in state.items()}


def _stack(states: list[State]) -> State:
    return {k: torch.stack([s[k] for s in states]) for k in states[0]} if states and states[0] else {}


Trainer = Callable[[list[StackJob]], list[TrainResult]]
"""Trains a round's stacks and returns their results in order: in this process, or as Ray tasks."""


class _Runner:
    def __init__(self, cfg: ExperimentConfig, options: RunOptions, trainer: Trainer | None = None):
        self.cfg, self.options = cfg, options
        self.trainer = trainer or self._train_here
        self.device = options.torch_device()
        self.path = experiment_path(cfg, options.results_dir, options)
        self.identity = options.identity(cfg)
        self.model, self.theta0, self.buffers0 = initial_states(cfg, self.device)
        self.kinds = self.model.layer_kinds
        self.data: Dataset | None = None
        # the code that trains this run, as it was when the run started (a long run outlives later commits)
        self.provenance = {"code": code_version(), "package": package_state()}

    def _seed(self, *parts: Any) -> int:
        return derive_seed(self.cfg.seed, *parts)

    def _check_config(self) -> None:
        saved = self.path / "config.json"
        if saved.exists():
            try:
                stored = ExperimentConfig.from_dict(json.loads(saved.read_text()))
            except (ValueError, TypeError, UnicodeDecodeError) as error:
                warnings.warn(f"{saved} is damaged ({type(error).__name__}: {error}); rewriting it from the "
                              "requested configuration, which the folder's name identifies", DamagedResultWarning,
                              stacklevel=3)
            else:
                if stored != self.cfg:
                    raise ConfigError(f"{self.path} holds results of a different configuration")
                return
        atomic_write_json(self.cfg.to_dict(), saved)

    def _restore(self) -> None:
        """Start from the committed resume point of this run, where there is one that has gone
        further than the rounds finished here."""
        if self.options.stored_dir is None:
            return
        point = resume_point_path(self.options.stored_dir, self.path.name)
        done = verified_rounds(self.path, self.cfg.rounds, self.identity, deep=False)
        if point.exists() and read_resume_point(point)["next_round"] > len(done):
            restore_resume_point(point, self.path, self.cfg, self.identity, start=len(done))

    def _state(self, name: str) -> dict[str, Any]:
        return load_checked(self.path / "state" / name,
                            lambda p: torch.load(p, map_location=self.device, weights_only=True))

    def _networks(self, r: int, masks: Masks, rewind: tuple[State, State],
                  dense_trained: State | None) -> list[_Network]:
        """Round ``r``'s networks (``lt_utils.lottery.plan.round_plan``), each with its starting weights,
        mask and data-order seed: the controls' weights and masks are drawn once per round, in plan order."""
        cfg, plan = self.cfg, round_plan(self.cfg, r)
        variants = {n.variant for n in plan}
        reinits = [n for n in plan if n.variant == REINIT]
        if reinits:
            seeds = [self._seed("init", REINIT, n.trial, n.replicate, r) for n in reinits]
            _, fresh, fresh_buffers = init_states(cfg.model, seeds, cfg.dropout, self.device)
            drawn = {(n.trial, n.replicate): i for i, n in enumerate(reinits)}
        variant_masks = {ITERATIVE: masks, REINIT: masks}
        if RANDOM_SPARSE in variants:
            gen = torch.Generator(device=self.device).manual_seed(self._seed("mask", RANDOM_SPARSE, r))
            variant_masks[RANDOM_SPARSE] = random_masks_like(masks, gen)
        if ONESHOT in variants:
            variant_masks[ONESHOT] = prune_to_round(dense_trained, dense_masks(dense_trained, self.kinds), self.kinds,
                                                    cfg.prune, r)
        nets = []
        for n in plan:
            if n.variant == REINIT:
                i = drawn[(n.trial, n.replicate)]
                init, buffers = _one(fresh, i), _one(fresh_buffers, i)
                seed = self._seed("data", REINIT, n.trial, n.replicate, r)
            else:
                init, buffers = _one(rewind[0], n.trial), _one(rewind[1], n.trial)
                seed = self._seed("data", n.variant, n.trial, r)
            mask = _one(variant_masks[n.variant], n.trial)
            nets.append(_Network(n.variant, n.trial, n.replicate, init, buffers, mask, seed))
        return nets

    def _job(self, r: int, start: int, chunk: list[_Network], of: int, first_iteration: int,
             snapshot_at: int | None) -> StackJob:
        """The stack of ``chunk``: networks ``start`` to ``start + len(chunk)`` of round ``r``'s ``of``."""
        return StackJob(self.cfg, _stack([n.init for n in chunk]), _stack([n.buffers for n in chunk]),
                        _stack([n.mask for n in chunk]), [n.data_seed for n in chunk], self._seed("dropout", r, start),
                        first_iteration, snapshot_at, [trains_full_schedule(self.cfg, n.variant) for n in chunk],
                        f"round {r}/{self.cfg.rounds} networks {start + 1}-{start + len(chunk)}/{of}",
                        f"round_{r:02d}_networks_{start:03d}")

    def _train_here(self, jobs: list[StackJob]) -> list[TrainResult]:
        """The local executor: train ``jobs`` one after another in this process."""
        if self.data is None:
            self.data = load_dataset(self.cfg.dataset, self.options.data_dir, self.device,
                                     self.cfg.train.train_eval_size)
        minutes = self.options.checkpoint_minutes
        return [train_job(job, self.model, self.data, eval_batch=self.options.eval_batch, step=self.options.step,
                          precision=self.options.precision, progress=self.options.progress,
                          checkpoint=None if minutes is None else
                          Checkpoint(self.path / PARTIAL / f"{job.name}.pt", 60.0 * minutes)) for job in jobs]

    def _train(self, r: int, nets: list[_Network]) -> tuple[pd.DataFrame, State, State, tuple[State, State] | None]:
        """Train ``nets`` in stacks; return their table rows, the trials' trained iterative
        params and buffers, and (round 0) the rewind point."""
        has_bn = bool(self.buffers0)
        size = self.options.stack_size(self.cfg) or len(nets)
        tables, trained, trained_buffers, snapshots = [], [], [], []
        self.round_steps: set[str] = set()  # the step forms that trained this round (recorded with it)
        self.round_devices: set[str] = set()  # and the names of the devices it trained on
        self.round_seconds_before = 0.0  # its training time before the checkpoints it went on from
        snapshot_at = self.cfg.rewind_iteration if r == 0 and self.cfg.rewind_iteration > 0 else None
        first_iteration = 0 if r == 0 else self.cfg.rewind_iteration  # late rewinding: rounds >= 1 train from k to T
        chunks = [nets[start : start + size] for start in range(0, len(nets), size)]
        jobs = [self._job(r, i * size, chunk, len(nets), first_iteration, snapshot_at)
                for i, chunk in enumerate(chunks)]
        for chunk, job, result in zip(chunks, jobs, self.trainer(jobs), strict=True):
            masks = job.masks
            self.round_steps.add(result.step)
            self.round_devices.update(result.device_name.split(", "))
            self.round_seconds_before += result.seconds_before
            p_m = percent_remaining(masks).tolist()
            labels = [{"variant": n.variant, "trial": n.trial, "replicate": n.replicate, "round": r, "p_m": p}
                      for n, p in zip(chunk, p_m, strict=True)]
            tables.append(curves_to_table(result.curves, result.eval_iterations, labels, result.final_train))
            iterative = [i for i, n in enumerate(chunk) if n.variant == ITERATIVE]
            if iterative:
                trained.append(select(result.params, iterative))
                trained_buffers.append(select(result.buffers, iterative) if has_bn else {})
                if result.snapshot is not None:
                    snapshots.append(tuple(select(s, iterative) if s else {} for s in result.snapshot))
        snapshot = (concat([s[0] for s in snapshots]), concat([s[1] for s in snapshots]) if has_bn else {}) \
            if snapshots else None
        return (pd.concat(tables, ignore_index=True), concat(trained),
                concat(trained_buffers) if has_bn else {}, snapshot)

    def run(self) -> ExperimentResult:
        with folder_lock(self.path, self.options.wait):
            remove_stray_temporaries(self.path)
            self._restore()
            self._check_config()
            self._run()
        return ExperimentResult(self.cfg, self.path, load_table(self.cfg, self.options.results_dir, self.options))

    def _run(self) -> None:
        cfg = self.cfg
        done = verified_rounds(self.path, cfg.rounds, self.identity, deep=True, invalidate=True)
        for partial in (self.path / PARTIAL).glob("round_*.pt"):  # left by a stop just after its round was written
            if int(partial.name.split("_")[1]) in done:
                partial.unlink(missing_ok=True)
        rewind: tuple[State, State] = (self.theta0, self.buffers0)
        masks = dense_masks(self.theta0, self.kinds)
        dense_trained = None
        if done and done[-1] < cfg.rounds:
            restored = restored_masks(self.path, done[-1] + 1, self.device)
            if (self.path / "state" / "round_00.pt").exists():  # absent after a resume point (which needs none)
                first = self._state("round_00.pt")
                dense_trained = first["params"]
                if "rewind" in first:
                    rewind = (first["rewind"], first["rewind_buffers"])
            if restored is not None:
                masks = restored
            else:
                last = self._state(f"round_{done[-1]:02d}.pt")  # written before its round's table
                masks = next_masks(cfg, last["params"], last["masks"], self.kinds, done[-1] + 1)
        for r in range(len(done), self.options.last_round(cfg) + 1):
            started = time.perf_counter()
            nets = self._networks(r, masks, rewind, dense_trained)
            table, trained, trained_buffers, snapshot = self._train(r, nets)
            state = {"round": r, "params": trained, "buffers": trained_buffers, "masks": masks}
            if r == 0:
                dense_trained = trained
                if snapshot is not None:
                    rewind = snapshot
                    state |= {"rewind": snapshot[0], "rewind_buffers": snapshot[1]}
            files = {self.path / "state" / f"round_{r:02d}.pt": None, self.path / "tickets" / f"round_{r:02d}.pt": None,
                     self.path / "rounds" / f"round_{r:02d}.json": None, _round_file(self.path, r): len(table)}
            atomic_save_torch(state, self.path / "state" / f"round_{r:02d}.pt")
            ticket = {"masks": masks} | ({"init": rewind[0], "buffers": rewind[1]} if r == 0 else {})
            atomic_save_torch(ticket, self.path / "tickets" / f"round_{r:02d}.pt")
            seconds = time.perf_counter() - started + self.round_seconds_before
            info = self.provenance | _run_info(self.device, self.options, seconds, len(nets), self.round_steps,
                                               self.round_devices)
            atomic_write_json(info, self.path / "rounds" / f"round_{r:02d}.json")
            atomic_write_table(table, _round_file(self.path, r))
            write_manifest(self.path, r, files, self.identity)  # the round's last write: it is now finished
            for partial in (self.path / PARTIAL).glob(f"round_{r:02d}_*.pt"):  # its stacks' checkpoints
                partial.unlink(missing_ok=True)
            if table["diverged"].any():
                warnings.warn(f"round {r} of {cfg.name}: {table.loc[table['diverged'], 'trial'].size} evaluations "
                              "of diverged networks (non-finite loss); they are flagged in the table's 'diverged' "
                              "column", RuntimeWarning, stacklevel=2)
            if r < cfg.rounds:
                masks = next_masks(cfg, trained, masks, self.kinds, r + 1)


def _run_info(device: torch.device, options: RunOptions, seconds: float, networks: int, steps: set[str],
              devices: set[str]) -> dict[str, Any]:
    """A finished round's record: the device (the driver's) and the names of the devices (``devices``) and
    step forms (``steps``) that trained it, where (``executor``), precision, time, versions (the runner adds
    the code's version and package state, taken when the run started)."""
    return {"device": str(device), "device_name": ", ".join(sorted(devices)), "step": ", ".join(sorted(steps)),
            "executor": options.executor,
            "precision": options.precision,
            "wall_seconds": round(seconds, 2), "networks": networks,
            "torch": torch.__version__, "python": platform.python_version(),
            "finished": datetime.now(UTC).isoformat(timespec="seconds")}


def resolve_options(options: RunOptions | None, option_values: dict[str, Any]) -> RunOptions:
    """The options of a run given as a ``RunOptions`` or as its fields' keywords (never both)."""
    if options is not None:
        require(isinstance(options, RunOptions), "options", options, "a RunOptions or None")
        if option_values:
            raise ConfigError(f"run option keyword(s) {sorted(option_values)} given beside a RunOptions, which would "
                              "ignore them: give the options either as a RunOptions or as keywords")
        return options
    unknown = set(option_values) - set(RunOptions.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown run option(s) {sorted(unknown)}; valid options are "
                          f"{sorted(RunOptions.__dataclass_fields__)}")
    return RunOptions(**option_values)


def run_experiment(cfg: ExperimentConfig, options: RunOptions | None = None,
                   **option_values: Any) -> ExperimentResult:
    """Run (or resume) ``cfg``; options may be given as a RunOptions or as keywords."""
    return run_experiments([cfg], options, **option_values)[0]


def run_experiments(cfgs: list[ExperimentConfig], options: RunOptions | None = None,
                    **option_values: Any) -> list[ExperimentResult]:
    """Run (or resume) each of ``cfgs``: one after another (``executor="local"``), or all at once
    as Ray tasks (``executor="ray"``, ``lt_utils.lottery.cluster``), under one progress bar."""
    options = resolve_options(options, option_values)
    require(isinstance(cfgs, (list, tuple)), "cfgs", cfgs, "a list of ExperimentConfig")
    for cfg in cfgs:
        require(isinstance(cfg, ExperimentConfig), "cfg", cfg, "an ExperimentConfig (e.g. preset('lenet'))")
        if not options.reads_only():  # results of another device type are read, not trained here
            check_fits_memory(cfg, options)
        check_until_round(cfg, options)
    if options.executor == "local":
        return [_run_one(cfg, options, None, 1) for cfg in cfgs]
    with ThreadPoolExecutor(max_workers=max(1, len(cfgs))) as pool:
        with cluster.TaskProgress(options.progress) as progress:  # leaving it stops the other threads
            futures = [pool.submit(_run_one, cfg, options, progress, len(cfgs)) for cfg in cfgs]
            wait_for(futures, return_when=FIRST_EXCEPTION)  # the first failure is raised now, not after the others
            return [future.result() for future in futures]


def planned_stacks(cfg: ExperimentConfig, options: RunOptions, rounds: Iterable[int]) -> list[int]:
    """The networks of each stack that ``rounds`` of ``cfg`` train (a stack: one Ray task)."""
    stacks = []
    for r in rounds:
        networks = round_networks(cfg, r)
        size = options.stack_size(cfg) or networks
        stacks += [min(size, networks - start) for start in range(0, networks, size)]
    return stacks


def check_fits_memory(cfg: ExperimentConfig, options: RunOptions) -> None:
    """Refuse ``cfg`` when its widest stack and its trials' kept copies cannot fit in the free memory
    of ``options``' device (``lt_utils.engine.memory``; with Ray, only the driver's copies)."""
    widest = widest_round(cfg)
    at_once = min(options.stack_size(cfg) or widest, widest)
    check_memory(cfg.model, 0 if options.executor == "ray" else at_once, cfg.trials, options.torch_device(),
                 f"{cfg.name} (trials={cfg.trials}, reinits={cfg.reinits})")


def _check_results_folder(path: Path) -> None:
    """The results folder of one experiment and its parts are folders this process can write to."""
    for folder in (path.parent, path, *(path / part for part in ("rounds", "state", "tickets"))):
        check_folder("results_dir", folder, writable=True)


def _run_one(cfg: ExperimentConfig, options: RunOptions, progress: cluster.TaskProgress | None,
             chains: int) -> ExperimentResult:
    path = experiment_path(cfg, options.results_dir, options)
    _check_results_folder(path)
    done = finished_rounds(cfg, options.results_dir, options)
    last = options.last_round(cfg)
    if len(done) <= last and committed_rounds(options.stored_dir, path.name) > len(done):  # the book goes further
        stored = stored_table(cfg, options.stored_dir, path.name, through=last)
        if stored is not None:
            return ExperimentResult(cfg, path, stored)
    if len(done) <= last:
        options.refuse_training(f"{cfg.name} (run {path.name})")
    if progress is None:
        return _Runner(cfg, options).run()
    progress.plan(planned_stacks(cfg, options, range(len(done), last + 1)))
    return _Runner(cfg, options, cluster.ray_trainer(path.name, options, progress, chains)).run()


def run_info(cfg: ExperimentConfig, results_dir: str | Path, options: RunOptions | None = None) -> list[dict[str, Any]]:
    """What each finished round was run with: device, wall time, versions, date."""
    path = experiment_path(cfg, results_dir, options)
    rounds = finished_rounds(cfg, results_dir, options)
    return [load_checked(path / "rounds" / f"round_{r:02d}.json", lambda p: json.loads(p.read_text()))
            for r in rounds]


def _load_verified(folder: Path, path: Path, device: str | torch.device) -> dict[str, Any]:
    """A checkpoint of a finished round, checked against its manifest (the error names a bad file)."""
    verify_file(path, folder)
    return load_checked(path, lambda p: torch.load(p, map_location=device, weights_only=True))


def load_trained(cfg: ExperimentConfig, results_dir: str | Path, round_: int,
                 device: str = "cpu", options: RunOptions | None = None) -> dict[str, Any]:
    """The trials' winning tickets of one round after training: ``params``, ``buffers`` and
    ``masks`` (stacked over trials), plus ``rewind``: the weights they were rewound to."""
    check_int("round_", round_, 0, cfg.rounds)
    folder = experiment_path(cfg, results_dir, options)
    path = folder / "state"
    state = _load_verified(folder, path / f"round_{round_:02d}.pt", device)
    first = _load_verified(folder, path / "round_00.pt", device)
    if "rewind" in first:
        state["rewind"] = first["rewind"]
    else:
        state["rewind"] = initial_states(cfg, device)[1]
    return state


def load_ticket(cfg: ExperimentConfig, results_dir: str | Path, round_: int, trial: int = 0,
                device: str = "cpu", options: RunOptions | None = None) -> tuple[torch.nn.Module, Masks]:
    """A winning ticket as a ready model (weights at the rewind point, masked) and its masks."""
    check_int("round_", round_, 0, cfg.rounds)
    check_int("trial", trial, 0, cfg.trials - 1)
    folder = experiment_path(cfg, results_dir, options)
    path = folder / "tickets"
    init = _load_verified(folder, path / "round_00.pt", device)
    masks = _load_verified(folder, path / f"round_{round_:02d}.pt", device)["masks"]
    model, _, _ = init_states(cfg.model, [0], cfg.dropout, device)
    mask = _one(masks, trial)
    state = {k: v[trial] * mask[k] if k in mask else v[trial] for k, v in init["init"].items()}
    model.load_state_dict(state | {k: v[trial] for k, v in init["buffers"].items()})
    return model, mask


def save_resume_point(folder: str | Path, stored_dir: str | Path) -> Path:
    """Pack the unfinished run in the results ``folder`` (one experiment's, named by its key) into
    ``stored_dir``'s resume points (``lt_utils.lottery.resume``), to be committed; returns the file."""
    folder = Path(folder)
    cfg = load_checked(folder / "config.json", lambda p: ExperimentConfig.from_dict(json.loads(p.read_text())))
    done = verified_rounds(folder, cfg.rounds, None, deep=True)
    if not done or done[-1] == cfg.rounds:
        state = "no finished round" if not done else f"all {cfg.rounds + 1} rounds finished (commit its table instead)"
        raise ConfigError(f"{folder} has nothing to resume: {state}")
    trained_on = (read_manifest(folder, done[-1]) or {}).get("identity", {}).get("device")
    if trained_on == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{folder} was trained on a GPU: pack it where one is at hand, so that its next masks "
                          "are pruned on the device the run prunes on (ties could fall otherwise on the CPU)")
    device = torch.device(trained_on if trained_on == "cuda" else "cpu")
    masks = restored_masks(folder, done[-1] + 1, device)
    if masks is None:
        last = _load_verified(folder, folder / "state" / f"round_{done[-1]:02d}.pt", device)
        masks = next_masks(cfg, last["params"], last["masks"], initial_states(cfg, device)[0].layer_kinds,
                           done[-1] + 1)
    out = resume_point_path(stored_dir, folder.name)
    write_resume_point(folder, cfg, done, masks, out)
    return out


def save_resume_points(results_dir: str | Path, stored_dir: str | Path) -> list[Path]:
    """:func:`save_resume_point` for every unfinished run in ``results_dir`` that has a finished round
    (an experiment's folder: one with rounds; a chapter's own folder, which has none, is not a run)."""
    check_folder("results_dir", results_dir, must_exist=True)
    saved = []
    for rounds in sorted(Path(results_dir).glob("*/rounds")):
        folder = rounds.parent
        cfg = load_checked(folder / "config.json", lambda p: ExperimentConfig.from_dict(json.loads(p.read_text())))
        done = verified_rounds(folder, cfg.rounds, None, deep=False)
        if done and done[-1] < cfg.rounds:
            saved.append(save_resume_point(folder, stored_dir))
    return saved
