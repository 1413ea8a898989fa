"""Which networks each round of an experiment trains: the one round plan, its stacks and chain on a
kind of device, and the check that a table holds every network of it.

The runner, the committed tables' check, the scaling projections, the memory check and the
benchmark all read it, so that a new control is one edit here (and its runner's construction in
``lt_utils.lottery.experiments``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lt_utils.engine.models import networks_per_stack
from lt_utils.engine.training import METRICS
from lt_utils.errors import DamagedFileError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.results import KEY_COLUMNS
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT


@dataclass(frozen=True)
class Planned:
    """One network of a round: its variant, trial and replicate (the reinitializations' index)."""

    variant: str
    trial: int
    replicate: int = 0


def round_plan(cfg: ExperimentConfig, round_: int) -> list[Planned]:
    """The networks round ``round_`` of ``cfg`` trains, in their training order: the trials' winning
    tickets, then their random reinitializations (trial by trial), random sparse networks and one-shot
    tickets, at the rounds that have them."""
    trials = range(cfg.trials)
    plan = [Planned(ITERATIVE, t) for t in trials]
    if round_ == 0:
        return plan
    plan += [Planned(REINIT, t, j) for t in trials for j in range(cfg.reinits_at(round_))]
    if cfg.random_sparse:
        plan += [Planned(RANDOM_SPARSE, t) for t in trials]
    if round_ in cfg.one_shot_rounds:
        plan += [Planned(ONESHOT, t) for t in trials]
    return plan


def round_networks(cfg: ExperimentConfig, round_: int) -> int:
    """How many networks round ``round_`` of ``cfg`` trains: ``len(round_plan(cfg, round_))``, counted
    without listing them (the memory check is asked about configurations far too large to list)."""
    if round_ == 0:
        return cfg.trials
    per_trial = 1 + cfg.reinits_at(round_) + int(cfg.random_sparse) + int(round_ in cfg.one_shot_rounds)
    return cfg.trials * per_trial


def widest_round(cfg: ExperimentConfig, first: int = 0) -> int:
    """The most networks any round of ``cfg`` from ``first`` on trains."""
    return max(round_networks(cfg, r) for r in range(first, cfg.rounds + 1))


def _stack_sizes(cfg: ExperimentConfig, device_type: str) -> list[tuple[int, int]]:
    """Each round's networks and the size of its stacks on ``device_type`` (default ``max_stack``)."""
    size = networks_per_stack(cfg.model, device_type)
    return [(n, size or n) for n in (round_networks(cfg, r) for r in range(cfg.rounds + 1))]


def chain_runs(cfg: ExperimentConfig, device_type: str = "cuda") -> tuple[int, int]:
    """``(in sequence, in all)``: the network-runs of ``cfg``'s chain of rounds (one after another)
    on its critical path on devices of ``device_type`` (a round's stacks run side by side: one
    stack's networks are in sequence), and in total."""
    rounds = _stack_sizes(cfg, device_type)
    return sum(min(size, n) for n, size in rounds), sum(n for n, _ in rounds)


def tasks(cfg: ExperimentConfig, device_type: str = "cuda") -> int:
    """The Ray tasks of ``cfg``'s run on ``device_type`` (default ``max_stack``): one per stack."""
    return sum(-(-n // size) for n, size in _stack_sizes(cfg, device_type))


def trains_full_schedule(cfg: ExperimentConfig, variant: str) -> bool:
    """Whether early termination (``patience``) leaves a network of ``variant`` training to the end
    of the schedule: the winning tickets do under ``prune_at="end"`` (the paper's protocol: the next
    round, one-shot pruning and the book read their final weights, and Figure 5 their accuracy
    there); the controls, whose weights nothing reads, stop once their early stop is settled."""
    return cfg.prune_at == "end" and variant == ITERATIVE


class StoredTableError(DamagedFileError):
    """A committed table is damaged or incomplete; the message names the file and what is wrong."""


def expected_networks(cfg: ExperimentConfig, round_: int) -> set[tuple[str, int, int]]:
    """The ``(variant, trial, replicate)`` networks that round ``round_`` of ``cfg`` trains (its round plan)."""
    return {(n.variant, n.trial, n.replicate) for n in round_plan(cfg, round_)}


def verify_table(cfg: ExperimentConfig, table: pd.DataFrame, path: Path, through: int | None = None) -> None:
    """Refuse a table that lacks a column, a round (up to ``through``, default: every round), a
    network or the last evaluation of ``cfg``."""
    missing = [c for c in (*KEY_COLUMNS, "iteration", *METRICS) if c not in table.columns]
    if missing:
        raise StoredTableError(f"{path}: missing column(s) {missing}")
    # patience and test_eval="where_read" leave metrics unmeasured (empty); see lt_utils.lottery.results
    required = ["round", "iteration", *(["val_loss"] if cfg.train.patience is None else []),
                *(["test_acc"] if cfg.train.patience is None and cfg.train.test_eval == "every" else [])]
    if table[required].isna().any().any():
        raise StoredTableError(f"{path}: empty values in round, iteration or metrics")
    for r in range((cfg.rounds if through is None else through) + 1):
        rows = table[table["round"] == r]
        found = set(zip(rows["variant"], rows["trial"].astype(int), rows["replicate"].astype(int), strict=True))
        lacking = expected_networks(cfg, r) - found
        if lacking:
            raise StoredTableError(f"{path}: round {r} lacks network(s) {sorted(lacking)[:5]} of {cfg.name}")
        last = rows.groupby(["variant", "trial", "replicate"])["iteration"].max()
        if (last != cfg.train.iterations).any():
            raise StoredTableError(f"{path}: round {r} has networks whose last evaluation is not at "
                                   f"iteration {cfg.train.iterations}")
