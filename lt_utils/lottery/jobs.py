"""One stack of a round's networks as a self-contained unit of work, trained in this process or
on a Ray worker (``lt_utils.lottery.cluster``): everything its training depends on travels with it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from lt_utils.engine.checkpoint import Checkpoint
from lt_utils.engine.data import Dataset
from lt_utils.engine.models import PrunableModel
from lt_utils.engine.stack import State
from lt_utils.engine.training import TrainResult, train_stack
from lt_utils.lottery.config import ExperimentConfig


def state_to(state: State, device: str | torch.device) -> State:
    """``state`` with every tensor on ``device``."""
    return {k: v.to(device) for k, v in state.items()}


@dataclass
class StackJob:
    """Networks of one round trained together: stacked initial weights, buffers and masks, each
    network's data-order seed, and the seed of the stack's dropout."""

    cfg: ExperimentConfig
    params: State
    buffers: State
    masks: State
    data_seeds: list[int]
    dropout_seed: int
    start_iteration: int = 0  # late rewinding: rounds >= 1 train from the rewind iteration
    snapshot_at: int | None = None  # the iteration whose weights to return too (the rewind point)
    full_schedule: list[bool] | None = None  # the networks whose final weights are read: never stopped early
    label: str = "training"  # the stack's progress-bar label
    name: str = "stack"  # the stack's name in file names (its checkpoint's)

    @property
    def networks(self) -> int:
        return len(self.data_seeds)

    def to(self, device: str | torch.device) -> StackJob:
        """The same job with its tensors on ``device``."""
        return replace(self, params=state_to(self.params, device), buffers=state_to(self.buffers, device),
                       masks=state_to(self.masks, device))


def result_to(result: TrainResult, device: str | torch.device) -> TrainResult:
    """``result`` with its weights (and snapshot) on ``device``; its curves stay on the CPU."""
    snapshot = tuple(state_to(s, device) for s in result.snapshot) if result.snapshot is not None else None
    return replace(result, params=state_to(result.params, device), buffers=state_to(result.buffers, device),
                   snapshot=snapshot)


def train_job(job: StackJob, model: PrunableModel, data: Dataset, *, eval_batch: int, step: str, precision: str,
              progress: bool, checkpoint: Checkpoint | None = None) -> TrainResult:
    """Train ``job`` on ``data``'s device with ``model`` as the template (see ``train_stack``), going
    on from ``checkpoint`` where it holds this job's training, interrupted."""
    torch.manual_seed(job.dropout_seed)
    return train_stack(model, job.params, job.buffers, job.masks, data, job.cfg.train, job.data_seeds,
                       start_iteration=job.start_iteration, snapshot_at=job.snapshot_at,
                       full_schedule=job.full_schedule, eval_batch=eval_batch,
                       step=step, precision=precision, progress=job.label if progress else False,
                       checkpoint=checkpoint)
