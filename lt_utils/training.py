"""Train a stack of networks with fixed masks, evaluating every ``eval_every`` iterations.

The hot loop keeps everything on the device: minibatches are drawn by index from the
resident data, masks are applied with foreach ops, and metrics are written into a device
tensor that is read once, at the end of training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lt_utils.config import TrainConfig
from lt_utils.data import Dataset, Split, augment, epoch_batches
from lt_utils.models import PrunableModel
from lt_utils.stack import Forward, State, make_forward

METRICS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc")


@dataclass
class TrainResult:
    """Final parameters and buffers, metric curves ``N x evaluations x METRICS`` (CPU), and the
    state at ``snapshot_at`` when one was asked for."""

    params: State
    buffers: State
    curves: torch.Tensor
    eval_iterations: list[int]
    snapshot: tuple[State, State] | None = None


def _make_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    fused = params[0].is_cuda
    kw = {"fused": True} if fused else {"foreach": True}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kw)


@torch.no_grad()
def evaluate_stack(forward: Forward, params: State, buffers: State, split: Split,
                   batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy of every network on ``split`` (device tensors, no host sync)."""
    n = next(iter(params.values())).shape[0]
    loss = torch.zeros(n, device=split.y.device)
    correct = torch.zeros(n, device=split.y.device)
    for start in range(0, len(split), batch):
        x, y = split.x[start : start + batch], split.y[start : start + batch]
        logits = forward(params, buffers, x).float()
        loss += F.cross_entropy(logits.flatten(0, 1), y.repeat(n), reduction="none").view(n, -1).sum(1)
        correct += (logits.argmax(-1) == y).sum(1)
    return loss / len(split), correct / len(split)


Penalty = tuple[dict[str, torch.Tensor], Callable[[int], float]]
OnEval = Callable[[int, torch.Tensor, State], bool]


def train_stack(model: PrunableModel, params: State, buffers: State, masks: dict[str, torch.Tensor],
                data: Dataset, cfg: TrainConfig, data_seeds: list[int], *, snapshot_at: int | None = None,
                penalty: Penalty | None = None, on_eval: OnEval | None = None,
                eval_batch: int = 2_000, progress: bool | str = False) -> TrainResult:
    """Train ``N`` networks at once from ``params`` (not modified), each with its own mask and
    data order (``data_seeds``). Pruned weights are zero before training and stay exactly zero.

    ``penalty = (targets, coefficient)`` adds the gradient of ``coefficient(it) / 2 * ||w * target||^2``
    (an L2 penalty on the target weights only). ``on_eval(iteration, metrics N x METRICS, params)``
    runs after each evaluation (it reads the metrics, so it syncs) and stops training by
    returning True; the curves then end at that evaluation."""
    device = data.train.y.device
    n = len(data_seeds)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    buffers = {k: v.clone() for k, v in buffers.items()}
    masked = [(params[name], masks[name].to(params[name].dtype)) for name in masks]
    with torch.no_grad():
        torch._foreach_mul_([p for p, _ in masked], [m for _, m in masked])
    train_forward = make_forward(model, bool(buffers), shared_input=False)
    eval_forward = make_forward(model, bool(buffers), shared_input=True)
    optimizer = _make_optimizer(list(params.values()), cfg)
    generators = [torch.Generator(device=device).manual_seed(s) for s in data_seeds]
    steps_per_epoch = len(data.train) // cfg.batch_size
    eval_iterations = cfg.eval_iterations
    curves = torch.zeros(len(eval_iterations), n, len(METRICS), device=device)
    snapshot = None

    def record(slot: int) -> None:
        model.eval()
        val = evaluate_stack(eval_forward, params, buffers, data.val, eval_batch)
        test = evaluate_stack(eval_forward, params, buffers, data.test, eval_batch)
        train = evaluate_stack(eval_forward, params, buffers, data.train_eval, eval_batch)
        curves[slot] = torch.stack([*val, *test, *train], dim=1)
        model.train()

    record(0)
    slot = 1
    bar = tqdm(total=cfg.iterations, desc=progress if isinstance(progress, str) else "training",
               disable=not progress, leave=False)
    for it in range(cfg.iterations):
        if it % steps_per_epoch == 0:
            batches = epoch_batches(len(data.train), cfg.batch_size, generators, device)
        index = batches[:, it % steps_per_epoch]
        x, y = data.train.x[index], data.train.y[index]
        if cfg.augment:
            x = torch.stack([augment(x[i], generators[i]) for i in range(n)])
        if cfg.lr_drops or cfg.warmup_iterations:
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr_at(it)
        logits = train_forward(params, buffers, x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="none").view(n, -1).mean(1).sum()
        loss.backward()
        with torch.no_grad():
            torch._foreach_mul_([p.grad for p, _ in masked], [m for _, m in masked])
            if penalty is not None and (coefficient := penalty[1](it)) > 0:
                targets = [(params[name], penalty[0][name]) for name in penalty[0]]
                torch._foreach_add_([p.grad for p, _ in targets],
                                    torch._foreach_mul([p for p, _ in targets], [t for _, t in targets]),
                                    alpha=coefficient)
            optimizer.step()
            torch._foreach_mul_([p for p, _ in masked], [m for _, m in masked])
        optimizer.zero_grad(set_to_none=True)
        if snapshot_at is not None and it + 1 == snapshot_at:
            snapshot = ({k: v.detach().clone() for k, v in params.items()}, {k: v.clone() for k, v in buffers.items()})
        if slot < len(eval_iterations) and it + 1 == eval_iterations[slot]:
            record(slot)
            bar.update(eval_iterations[slot] - eval_iterations[slot - 1])
            slot += 1
            if on_eval is not None and on_eval(it + 1, curves[slot - 1], params):
                break
    bar.close()
    final = {k: v.detach() for k, v in params.items()}
    return TrainResult(final, buffers, curves[:slot].transpose(0, 1).cpu(), eval_iterations[:slot], snapshot)
