"""The plain loop: one network trained as a careful PyTorch user would, the benchmark's second
reference (``lt_utils.bench.loops``) and the engine's check (``tests/test_bench.py``).

An ``nn.Module``, ``torch.optim.Adam`` (or SGD) with torch's defaults, batches gathered from
tensors already in memory (no ``DataLoader``, no decoding), the mask applied after each step,
and evaluation of the same splits as the engine's (validation, test and the fixed training
subset at each evaluation point; the benchmark also counts the whole training split at the end,
as ``train_stack`` evaluates it). Fed the engine's data order
(``lt_utils.engine.data.epoch_batches`` with the network's data seed), the same initial
weights and masks, it computes the engine's training run up to rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lt_utils.engine.data import Dataset, Split, augment, black, epoch_batches
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.models import build_model
from lt_utils.engine.training import METRICS, eval_iterations_from

EVAL_BATCH = 1_000
"""The plain loop's evaluation batch (a common choice)."""


class PlainLoop:
    """One network of model ``name`` from ``seed``, its pruned weights ``masks`` (no network axis)
    held at zero, trained with ``cfg``'s optimizer and schedule on ``device``."""

    def __init__(self, name: str, dropout: float, seed: int, masks: dict[str, torch.Tensor], cfg: TrainConfig,
                 device: torch.device):
        self.model = build_model(name, dropout, seed).to(device)
        self.masks = {k: m.to(device=device, dtype=torch.float32) for k, m in masks.items()}
        self.cfg = cfg
        params = self.model.parameters()
        self.optimizer = (torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
                          if cfg.optimizer == "adam" else
                          torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
        self._apply_masks()

    def _apply_masks(self) -> None:
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                if name in self.masks:
                    param.mul_(self.masks[name])

    def step(self, x: torch.Tensor, y: torch.Tensor, iteration: int) -> torch.Tensor:
        """One update on the batch ``x, y`` at the schedule's rate for ``iteration``; the loss (no host read)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr_at(iteration)
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self._apply_masks()
        return loss.detach()

    @torch.no_grad()
    def evaluate(self, split: Split, batch: int = EVAL_BATCH) -> tuple[float, float]:
        """Mean loss and accuracy on ``split``."""
        self.model.eval()
        loss = correct = 0.0
        for start in range(0, len(split), batch):
            logits = self.model(split.x[start : start + batch])
            y = split.y[start : start + batch]
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        self.model.train()
        return loss / len(split), correct / len(split)


def plain_run(loop: PlainLoop, data: Dataset, data_seed: int) -> torch.Tensor:
    """Train ``loop`` through its schedule in the engine's data order for ``data_seed``, evaluating
    as ``train_stack`` does; the curves ``evaluations x METRICS``."""
    cfg = loop.cfg
    device = data.train.y.device
    generator = torch.Generator(device=device).manual_seed(data_seed)
    steps_per_epoch = len(data.train) // cfg.batch_size
    points = eval_iterations_from(cfg, 0)
    fill = black(data.name)
    curves, batches = [], None

    def record() -> None:
        curves.append([m for split in (data.val, data.test, data.train_eval) for m in loop.evaluate(split)])

    record()
    for it in range(cfg.iterations):
        if it % steps_per_epoch == 0:
            batches = epoch_batches(len(data.train), cfg.batch_size, [generator], device)[0]
        index = batches[it % steps_per_epoch]
        x, y = data.train.x[index], data.train.y[index]
        if cfg.augment:
            x = augment(x, generator, fill)
        loop.step(x, y, it)
        if it + 1 in points:
            record()
    return torch.tensor(curves).view(-1, len(METRICS))
