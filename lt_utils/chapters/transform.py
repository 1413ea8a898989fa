"""Transforming random sparse networks into tickets: RST (Dual Lottery Ticket Hypothesis),
UniLTH and UniDLTH ("A Unified View of Finding and Transforming Winning Lottery Tickets").

All three grow an L2 penalty on the weights chosen for removal: the coefficient rises by
``penalty_step`` every ``penalty_every`` iterations up to ``penalty_max`` and is held for
``hold_iterations``; then those weights are removed and the rest are trained with the
experiment's training schedule. They differ in where they start and what they remove:

- ``rst``: from initialization, a random mask at the target sparsity, one removal;
- ``unilth``: from a network trained without regularization until its validation loss has not
  improved for ``patience_epochs`` epochs, the smallest-magnitude weights, in ``stages`` removals;
- ``unidlth``: as ``unilth``, with random choices (as in DLTH).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lt_utils.atomic import atomic_save_torch, atomic_write_json
from lt_utils.engine.data import Dataset, load_dataset
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.pruning import Masks, dense_masks, percent_remaining, prune_to_round
from lt_utils.engine.seeding import derive_seed
from lt_utils.engine.stack import State
from lt_utils.engine.training import METRICS, train_stack
from lt_utils.errors import DamagedFileError, DamagedResultWarning
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import initial_states, resolve_options, run_experiment
from lt_utils.lottery.integrity import load_checked, remove_stray_temporaries
from lt_utils.lottery.keys import stable_key
from lt_utils.lottery.locking import folder_lock
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import cached_table, curves_to_table, early_stopping
from lt_utils.lottery.stored import stored_copy
from lt_utils.lottery.variants import ITERATIVE, RANDOM_SPARSE, RST, UNILTH, names
from lt_utils.validation import check_bool, check_choice_tuple, check_float, check_int, check_int_tuple, require

METHODS = names("transform")
"""The transformation methods (``lt_utils.lottery.variants``): ``("rst", "unilth", "unidlth")``."""


@dataclass(frozen=True)
class TransformConfig:
    """The penalty schedule and how each method starts and prunes."""

    penalty_step: float = 1e-4  # added to the penalty coefficient every penalty_every iterations
    penalty_every: int = 5
    penalty_max: float = 1.0  # the ceiling, then held
    hold_iterations: int = 40_000  # iterations at the ceiling before the weights are removed
    lr: float = 1e-3  # SGD with momentum while the penalty grows (DLTH's public code)
    momentum: float = 0.9
    patience_epochs: int = 3  # UniLTH/UniDLTH: epochs without a better validation loss before pruning starts
    max_pretrain_iterations: int = 50_000  # UniLTH/UniDLTH: the pre-training stops here at the latest
    stages: int = 3  # UniLTH/UniDLTH: removals to reach the target sparsity (RST: always one)

    def __post_init__(self) -> None:
        for name in ("penalty_step", "penalty_max", "lr"):
            check_float(name, getattr(self, name), 0, low_open=True)
        for name in ("penalty_every", "patience_epochs", "max_pretrain_iterations", "stages"):
            check_int(name, getattr(self, name), 1)
        check_int("hold_iterations", self.hold_iterations, 0)
        check_float("momentum", self.momentum, 0, 1, high_open=True)

    @property
    def growth_iterations(self) -> int:
        """Iterations until the coefficient reaches the ceiling."""
        return self.penalty_every * math.ceil(self.penalty_max / self.penalty_step - 1e-9)

    @property
    def transform_iterations(self) -> int:
        return self.growth_iterations + self.hold_iterations

    def patience_iterations(self, steps_per_epoch: int) -> int:
        """The patience in iterations: ``patience_epochs`` epochs of ``steps_per_epoch`` steps."""
        return self.patience_epochs * steps_per_epoch

    def penalty_at(self, iteration: int) -> float:
        """Coefficient at ``iteration`` (0-based) of one transformation."""
        return min(self.penalty_max, self.penalty_step * (iteration // self.penalty_every))


@dataclass(frozen=True)
class DualConfig:
    """IMP (``experiment``) against the transformation methods at the sparsities of ``target_rounds``."""

    experiment: ExperimentConfig
    target_rounds: tuple[int, ...] = (3, 7, 12)
    methods: tuple[str, ...] = METHODS
    transform: TransformConfig = field(default_factory=TransformConfig)

    def __post_init__(self) -> None:
        require(isinstance(self.experiment, ExperimentConfig), "experiment", self.experiment, "an ExperimentConfig")
        require(isinstance(self.transform, TransformConfig), "transform", self.transform, "a TransformConfig")
        object.__setattr__(self, "methods", check_choice_tuple("methods", self.methods, METHODS))
        rounds = self.experiment.rounds
        require(rounds >= 1, "rounds", rounds, "at least 1 for the target rounds")
        object.__setattr__(self, "target_rounds", check_int_tuple("target_rounds", self.target_rounds, 1, rounds))
        require(bool(self.target_rounds), "target_rounds", self.target_rounds, f"rounds between 1 and {rounds}")

    @property
    def key(self) -> str:
        """The results folder's name at the default run identity; see ``key_for``."""
        return self.key_for({})

    def key_for(self, identity: dict[str, Any]) -> str:
        """Hash of the non-default settings and the run identity (``RunOptions.identity``)."""
        return stable_key(f"dual_{self.experiment.model}", self, identity)


def dual_experiment(base: ExperimentConfig, rounds: int) -> ExperimentConfig:
    """IMP over ``rounds`` rounds with its random sparse baseline only (no reinitializations, no
    one-shot pruning): the experiment the methods are compared with."""
    return base.with_overrides(name=f"dual_imp_{base.model}", rounds=rounds, reinits=0, random_sparse=True,
                               one_shot_rounds=())


def dual_config(model: str, target_rounds: tuple[int, ...] = (3, 7, 12), methods: tuple[str, ...] = METHODS, *,
                trials: int | None = None, iterations: int | None = None, seed: int | None = None,
                smoke: bool = False, **transform: Any) -> DualConfig:
    """The chapter's configuration: ``dual_experiment`` on the preset named ``model`` (``None``
    keeps the preset's value) up to the last target round, and a ``TransformConfig`` of
    ``transform`` (its pre-training capped at a final run's iterations); with ``smoke``,
    ``smoke_dual`` of it."""
    check_bool("smoke", smoke)
    imp = dual_experiment(preset(model, trials=trials, iterations=iterations, seed=seed), max(target_rounds))
    tcfg = TransformConfig(**{"max_pretrain_iterations": imp.train.iterations, **transform})
    dcfg = DualConfig(imp, tuple(target_rounds), tuple(methods), tcfg)
    return smoke_dual(dcfg) if smoke else dcfg


def smoke_dual(dcfg: DualConfig) -> DualConfig:
    """CI's tiny version of ``dcfg``: one trial, at most two rounds, short penalty phases; never a result."""
    rounds = min(max(dcfg.target_rounds), 2)
    imp = dcfg.experiment.with_overrides(name=f"{dcfg.experiment.name}_smoke", trials=1, iterations=200,
                                         eval_every=100, train_eval_size=200, rounds=rounds)
    transform = TransformConfig(0.25, 5, 1.0, 20, patience_epochs=1, max_pretrain_iterations=300, stages=2)
    return DualConfig(imp, tuple(sorted({min(r, rounds) for r in dcfg.target_rounds})), dcfg.methods, transform)


def plateau_iteration(val_losses: list[float], iterations: list[int], patience: int) -> int | None:
    """The first evaluation's iteration at which ``patience`` iterations have passed since the
    best validation loss so far, without a better one (None if that never happens)."""
    best, best_iteration = math.inf, 0
    for loss, iteration in zip(val_losses, iterations, strict=True):
        if loss < best:
            best, best_iteration = loss, iteration
        elif iteration - best_iteration >= patience:
            return iteration
    return None


def removal_targets(weights: State, masks: Masks, kinds: dict[str, str], cfg: ExperimentConfig, round_: int,
                    by_magnitude: bool, generator: torch.Generator) -> Masks:
    """Surviving weights to remove so that round ``round_``'s counts remain: the smallest
    magnitudes, or a uniformly random choice."""
    if by_magnitude:
        keep = prune_to_round(weights, masks, kinds, cfg.prune, round_)
    else:
        scores = {k: torch.rand(v.shape, generator=generator, device=generator.device).to(v.device) * masks[k]
                  for k, v in masks.items()}
        keep = prune_to_round(scores, masks, kinds, cfg.prune, round_)
    return {k: masks[k] & ~keep[k] for k in masks}


def _stage_rounds(target: int, stages: int) -> list[int]:
    return sorted({math.ceil(target * s / stages) for s in range(1, stages + 1)})


class _DualRunner:
    def __init__(self, dcfg: DualConfig, options: RunOptions):
        self.dcfg, self.cfg, self.options = dcfg, dcfg.experiment, options
        self.device = options.torch_device()
        self.folder = Path(options.results_dir) / dcfg.key_for(options.identity(dcfg.experiment))
        self.model, self.theta0, self.buffers0 = initial_states(self.cfg, self.device)
        self.kinds = self.model.layer_kinds
        self.data: Dataset | None = None

    def _train(self, params: State, buffers: State, masks: Masks, train: TrainConfig, tag: str, **kwargs: Any):
        """Train from ``params`` with the networks' own batch-norm statistics ``buffers``."""
        n = next(iter(masks.values())).shape[0]
        seeds = [derive_seed(self.cfg.seed, "data", tag, i) for i in range(n)]
        return train_stack(self.model, params, buffers, masks, self.data, train, seeds,
                           eval_batch=self.options.eval_batch, step=self.options.step,
                           precision=self.options.precision,
                           progress=tag if self.options.progress else False, **kwargs)

    def pretrained(self) -> tuple[State, State, list[int]]:
        """UniLTH/UniDLTH's start: each trial trained until its validation loss plateaus (its
        parameters and batch-norm statistics there)."""
        path = self.folder / "pretrained.pt"
        if path.exists():
            try:
                saved = load_checked(path, lambda p: torch.load(p, map_location=self.device, weights_only=True))
                if "buffers" in saved or not self.buffers0:  # stored without buffers: no batch norm
                    return saved["params"], saved.get("buffers", {}), saved["iterations"]
            except (DamagedFileError, KeyError) as error:
                warnings.warn(f"{error}; recomputing {path}", DamagedResultWarning, stacklevel=2)
        n = self.cfg.trials
        patience = self.dcfg.transform.patience_iterations(len(self.data.train) // self.cfg.train.batch_size)
        history: list[list[float]] = [[] for _ in range(n)]
        iterations: list[int] = []
        stopped: dict[int, int] = {}
        snapshot = {k: v.clone() for k, v in self.theta0.items()}
        snapshot_buffers = {k: v.clone() for k, v in self.buffers0.items()}

        def on_eval(iteration: int, metrics: torch.Tensor, params: State, buffers: State) -> bool:
            iterations.append(iteration)
            losses = metrics[:, METRICS.index("val_loss")].tolist()
            for i in range(n):
                history[i].append(losses[i])
                if i not in stopped and plateau_iteration(history[i], iterations, patience) is not None:
                    stopped[i] = iteration
                    for k in snapshot:
                        snapshot[k][i] = params[k][i].detach()
                    for k in snapshot_buffers:
                        snapshot_buffers[k][i] = buffers[k][i]
            return len(stopped) == n

        train = dataclasses.replace(self.cfg.train, iterations=self.dcfg.transform.max_pretrain_iterations)
        result = self._train(self.theta0, self.buffers0, dense_masks(self.theta0, self.kinds), train, "pretrain",
                             on_eval=on_eval)
        for i in range(n):  # never plateaued: take the end of pre-training
            if i not in stopped:
                stopped[i] = result.eval_iterations[-1]
                for k in snapshot:
                    snapshot[k][i] = result.params[k][i]
                for k in snapshot_buffers:
                    snapshot_buffers[k][i] = result.buffers[k][i]
        out = [stopped[i] for i in range(n)]
        atomic_save_torch({"params": snapshot, "buffers": snapshot_buffers, "iterations": out}, path)
        return snapshot, snapshot_buffers, out

    def method(self, method: str) -> pd.DataFrame:
        """Every target sparsity and trial of one method, as one stack; rows plus training cost."""
        cfg, tcfg, targets, n = self.cfg, self.dcfg.transform, self.dcfg.target_rounds, self.cfg.trials
        if method == RST:
            start, start_buffers, pre_iterations = self.theta0, self.buffers0, [0] * n
        else:
            start, start_buffers, pre_iterations = self.pretrained()
        params = {k: v.repeat(len(targets), *[1] * (v.ndim - 1)) for k, v in start.items()}
        buffers = {k: v.repeat(len(targets), *[1] * (v.ndim - 1)) for k, v in start_buffers.items()}
        masks = dense_masks(params, self.kinds)
        gen = torch.Generator(device=self.device).manual_seed(derive_seed(cfg.seed, "transform", method))
        stages = 1 if method == RST else tcfg.stages
        schedule = [_stage_rounds(r, stages) for r in targets]
        sgd = TrainConfig(optimizer="sgd", lr=tcfg.lr, momentum=tcfg.momentum, iterations=tcfg.transform_iterations,
                          batch_size=cfg.train.batch_size, eval_every=tcfg.transform_iterations,
                          augment=cfg.train.augment, train_eval_size=cfg.train.train_eval_size)
        transforms = [0] * len(targets)
        for stage in range(max(len(s) for s in schedule)):
            # a target reached in fewer stages keeps its mask (nothing new to remove) in later stages
            rounds = [s[min(stage, len(s) - 1)] for s in schedule]
            remove = {k: torch.zeros_like(v) for k, v in masks.items()}
            for j, r in enumerate(rounds):
                part = slice(j * n, (j + 1) * n)
                chosen = removal_targets({k: v[part] for k, v in params.items()},
                                         {k: v[part] for k, v in masks.items()}, self.kinds, cfg, r,
                                         method == UNILTH, gen)
                for k in remove:
                    remove[k][part] = chosen[k]
                transforms[j] += tcfg.transform_iterations  # every network trains through every stage
            result = self._train(params, buffers, masks, sgd, f"{method} stage {stage + 1}",
                                 penalty=({k: v.float() for k, v in remove.items()}, tcfg.penalty_at))
            params, buffers = result.params, result.buffers
            masks = {k: masks[k] & ~remove[k] for k in masks}
        final = self._train(params, buffers, masks, cfg.train, f"{method} final training")
        p_m = percent_remaining(masks).tolist()
        labels, costs = [], []
        for j, r in enumerate(targets):
            for t in range(n):
                labels.append({"variant": method, "trial": t, "replicate": 0, "round": r, "p_m": p_m[j * n + t]})
                costs.append(pre_iterations[t] + transforms[j])
        table = curves_to_table(final.curves, final.eval_iterations, labels, final.final_train)
        per_net = len(final.eval_iterations)
        table["extra_iterations"] = [c for c in costs for _ in range(per_net)]
        return table

    def run(self) -> pd.DataFrame:
        with folder_lock(self.folder, self.options.wait):
            remove_stray_temporaries(self.folder)
            atomic_write_json(dataclasses.asdict(self.dcfg) | self.options.identity(self.cfg),
                              self.folder / "config.json")  # names what the folder holds (lt_utils.book.migrate)
            parts = [cached_table(self.folder / f"{method}.csv.gz", lambda m=method: self._with_data(self.method, m),
                                  stored_copy(self.options.stored_dir, f"{self.folder.name}/{method}.csv.gz"))
                     for method in self.dcfg.methods]
        return pd.concat(parts, ignore_index=True)

    def _with_data(self, compute: Any, *args: Any) -> Any:
        """Load the data set on first need (a fully cached run never loads it)."""
        self.options.refuse_training(f"the transformations of {self.cfg.name} (results {self.folder.name})")
        if self.data is None:
            self.data = load_dataset(self.cfg.dataset, self.options.data_dir, self.device,
                                     self.cfg.train.train_eval_size)
        return compute(*args)


def run_dual(dcfg: DualConfig, options: RunOptions | None = None, **option_values: Any) -> pd.DataFrame:
    """IMP (with its random sparse baseline) and every transformation method, as one tidy table.

    ``extra_iterations`` counts each network's training before its final run: for IMP the
    earlier rounds, for the transformations pre-training plus the penalty phases.
    """
    options = resolve_options(options, option_values)
    imp = run_experiment(dcfg.experiment, options).table
    imp = imp[imp["variant"].isin([ITERATIVE, RANDOM_SPARSE]) | (imp["round"] == 0)]
    imp = imp.assign(extra_iterations=imp["round"] * dcfg.experiment.train.iterations)
    imp.loc[imp["variant"] == RANDOM_SPARSE, "extra_iterations"] = 0
    return pd.concat([imp, _DualRunner(dcfg, options).run()], ignore_index=True)


def dual_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per network: test accuracy at early stopping and the training it cost, in iterations
    (``extra_iterations`` before the final run plus the final run's early-stopping iteration)."""

    per_net = early_stopping(table)
    extra = table.groupby(["variant", "trial", "replicate", "round"])["extra_iterations"].first()
    per_net = per_net.join(extra, on=["variant", "trial", "replicate", "round"])
    per_net["cost_iterations"] = per_net["extra_iterations"] + per_net["es_iteration"]
    return per_net
