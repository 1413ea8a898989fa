"""Train a stack of networks with fixed masks, evaluating every ``eval_every`` iterations.

The hot loop keeps everything on the device: minibatches are drawn by index from the
resident data, one call of a :mod:`lt_utils.engine.step` step updates every network, and metrics
are written into a device tensor that is read once, at the end of training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm import tqdm

from lt_utils.engine.data import Dataset, Split, augment, black, epoch_batches, skip_augment
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.memory import eval_batch_for
from lt_utils.engine.models import PrunableModel
from lt_utils.engine.stack import State, check_precision
from lt_utils.engine.step import Scorer, make_step_forms

METRICS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc")
"""Metrics of every evaluation; ``train_*`` are on the fixed training subset (``train_eval_size``)."""
FULL_TRAIN_METRICS = ("train_loss_full", "train_acc_full")
"""Metrics on the whole training split, evaluated once: at the end of training."""


@dataclass
class TrainResult:
    """Final parameters and buffers, metric curves ``N x evaluations x METRICS`` (CPU), the state
    at ``snapshot_at`` when one was asked for, and ``final_train``: ``N x FULL_TRAIN_METRICS`` on
    the whole training split at the end of training (CPU), and ``step``: the step form that trained
    them (``"auto"`` resolved, after any fallback), and ``device_name``: the device they trained on."""

    params: State
    buffers: State
    curves: torch.Tensor
    eval_iterations: list[int]
    snapshot: tuple[State, State] | None = None
    final_train: torch.Tensor | None = None
    step: str = "eager"
    device_name: str = ""


def device_name(device: torch.device) -> str:
    """The name a run record gives ``device``: the GPU's model, or the CPU's."""
    import platform

    return torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"


@torch.no_grad()
def evaluate_stack(score: Scorer, params: State, buffers: State, split: Split,
                   batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy of every network on ``split`` (device tensors, no host sync)."""
    n = next(iter(params.values())).shape[0]
    loss = torch.zeros(n, device=split.y.device)
    correct = torch.zeros(n, device=split.y.device)
    for start in range(0, len(split), batch):
        end = start + batch
        batch_loss, batch_correct = score(params, buffers, split.x[start:end], split.y[start:end])
        loss += batch_loss
        correct += batch_correct
    return loss / len(split), correct / len(split)


Penalty = tuple[dict[str, torch.Tensor], Callable[[int], float]]
OnEval = Callable[[int, torch.Tensor, State, State], bool]


def eval_iterations_from(cfg: TrainConfig, start: int) -> list[int]:
    """Evaluation points of a run that starts at iteration ``start``: ``start``, then the
    schedule's points after it (on the original axis, so the last is ``cfg.iterations``)."""
    return [start, *(i for i in cfg.eval_iterations if i > start)]


def _skip_data(cfg: TrainConfig, n_train: int, generators: list[torch.Generator], device: torch.device,
               iterations: int) -> torch.Tensor | None:
    """Advance every network's data generator through ``iterations`` steps, as training them would;
    return the current epoch's batches (None when no step was skipped)."""
    steps_per_epoch = n_train // cfg.batch_size
    batches = None
    for it in range(iterations):
        if it % steps_per_epoch == 0:
            batches = epoch_batches(n_train, cfg.batch_size, generators, device)
        if cfg.augment:
            for g in generators:
                skip_augment(cfg.batch_size, g, device)
    return batches


def train_stack(model: PrunableModel, params: State, buffers: State, masks: dict[str, torch.Tensor],
                data: Dataset, cfg: TrainConfig, data_seeds: list[int], *, start_iteration: int = 0,
                snapshot_at: int | None = None,
                penalty: Penalty | None = None, on_eval: OnEval | None = None,
                eval_batch: int = 2_000, progress: bool | str = False, step: str = "auto",
                precision: str = "fp32") -> TrainResult:
    """Train ``N`` networks at once from ``params`` (not modified), each with its own mask and
    data order (``data_seeds``). Pruned weights are zero before training and stay exactly zero.

    ``start_iteration = k`` (late rewinding): ``params`` are the weights at iteration k; training
    runs iterations k to ``cfg.iterations`` at ``cfg.lr_at(k)`` ... with each data order continuing
    from k, and is evaluated at k, then on the schedule's points (the original axis).
    ``penalty = (targets, coefficient)`` adds the gradient of ``coefficient(it) / 2 * ||w * target||^2``
    (an L2 penalty on the target weights only). ``on_eval(iteration, metrics N x METRICS, params, buffers)``
    runs after each evaluation (it reads the metrics, so it syncs) and stops training by
    returning True; the curves then end at that evaluation. ``step`` is one of
    :data:`lt_utils.engine.step.STEP_MODES` (the same update, computed eagerly, compiled or as a CUDA graph);
    ``eval_batch`` caps the evaluation batch (:func:`lt_utils.engine.memory.eval_batch_for` lowers it to fit memory);
    ``precision`` one of :data:`lt_utils.engine.stack.PRECISIONS` (``"bf16"``: autocast, not the paper's fp32)."""
    check_precision(precision)
    device = data.train.y.device
    n = len(data_seeds)
    eval_batch = eval_batch_for(model, n, data.train.x.shape[1:], eval_batch, device)  # the cap, within memory
    params = {k: v.detach().clone() for k, v in params.items()}
    buffers = {k: v.clone() for k, v in buffers.items()}
    forms = make_step_forms(step, model, params, buffers, masks, cfg, penalty[0] if penalty else None, precision)
    train_step, score = forms.step, forms.score
    generators = [torch.Generator(device=device).manual_seed(s) for s in data_seeds]
    steps_per_epoch = len(data.train) // cfg.batch_size
    eval_iterations = eval_iterations_from(cfg, start_iteration)
    curves = torch.zeros(len(eval_iterations), n, len(METRICS), device=device)
    snapshot = None

    def record(slot: int) -> None:
        model.eval()
        splits = (data.val, data.test, data.train_eval)
        curves[slot] = torch.stack([m for split in splits for m in evaluate_stack(score, params, buffers, split,
                                                                                   eval_batch)], dim=1)
        model.train()

    record(0)
    slot = 1
    batches = _skip_data(cfg, len(data.train), generators, device, start_iteration)
    fill = black(data.name)  # the pad-and-crop border: a black pixel
    bar = tqdm(total=cfg.iterations - start_iteration, desc=progress if isinstance(progress, str) else "training",
               disable=not progress, leave=False)
    for it in range(start_iteration, cfg.iterations):
        if it % steps_per_epoch == 0:
            batches = epoch_batches(len(data.train), cfg.batch_size, generators, device)
        index = batches[:, it % steps_per_epoch]
        x, y = data.train.x[index], data.train.y[index]
        if cfg.augment:
            x = torch.stack([augment(x[i], generators[i], fill) for i in range(n)])
        train_step(x, y, cfg.lr_at(it), penalty[1](it) if penalty else 0.0)
        if snapshot_at is not None and it + 1 == snapshot_at:
            snapshot = ({k: v.detach().clone() for k, v in params.items()}, {k: v.clone() for k, v in buffers.items()})
        if slot < len(eval_iterations) and it + 1 == eval_iterations[slot]:
            record(slot)
            bar.update(eval_iterations[slot] - eval_iterations[slot - 1])
            slot += 1
            if on_eval is not None and on_eval(it + 1, curves[slot - 1], params, buffers):
                break
    bar.close()
    model.eval()
    final_train = torch.stack(evaluate_stack(score, params, buffers, data.train, eval_batch), dim=1)
    model.train()
    final = {k: v.detach() for k, v in params.items()}
    return TrainResult(final, buffers, curves[:slot].transpose(0, 1).cpu(), eval_iterations[:slot], snapshot,
                       final_train.cpu(), forms.form, device_name(device))
