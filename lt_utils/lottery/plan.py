"""Which networks each round of an experiment trains: the one round plan.

The runner, the committed tables' check, the scaling projections, the memory check and the
benchmark all read it, so that a new control is one edit here (and its runner's construction in
``lt_utils.lottery.experiments``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lt_utils.lottery.config import ExperimentConfig
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
    """How many networks round ``round_`` of ``cfg`` trains."""
    return len(round_plan(cfg, round_))


def widest_round(cfg: ExperimentConfig, first: int = 0) -> int:
    """The most networks any round of ``cfg`` from ``first`` on trains."""
    return max(round_networks(cfg, r) for r in range(first, cfg.rounds + 1))


def trains_full_schedule(cfg: ExperimentConfig, variant: str) -> bool:
    """Whether early termination (``patience``) leaves a network of ``variant`` training to the end
    of the schedule: the winning tickets do under ``prune_at="end"`` (the paper's protocol: the next
    round, one-shot pruning and the book read their final weights, and Figure 5 their accuracy
    there); the controls, whose weights nothing reads, stop once their early stop is settled."""
    return cfg.prune_at == "end" and variant == ITERATIVE
