"""The three loops the benchmark times, each built ready to time (``lt_utils.bench.timing.Loop``).

- the *reference*, written the common way: a ``DataLoader`` over a torchvision-style data set
  with per-sample PIL decoding and transforms, the mask applied in Python after every step and a
  ``.item()`` per step; it evaluates validation and test;
- the *plain loop* (``lt_utils.bench.plain.PlainLoop``): an ``nn.Module`` and ``torch.optim``
  fed from tensors already in memory, the mask applied after each step; it evaluates what the
  engine evaluates;
- the *engine*: a stack of networks trained by the pieces that ``train_stack`` runs (the step of
  ``lt_utils.engine.step.make_step_forms`` on batches gathered from resident data, and its
  scorer at the evaluation batch ``lt_utils.engine.memory.eval_batch_for`` chooses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from lt_utils.bench.plain import PlainLoop
from lt_utils.bench.timing import Loop, timed
from lt_utils.engine.data import Dataset, Split, augment, augment_stack, black, epoch_batches, stats
from lt_utils.engine.memory import EVAL_BATCH_CAP, activation_bytes, eval_batch_for
from lt_utils.engine.models import build_model
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states
from lt_utils.engine.step import make_step_forms
from lt_utils.engine.training import evaluate_stack
from lt_utils.lottery.config import ExperimentConfig

EVAL_TIMING_IMAGES = 1_000
"""Validation images each loop's evaluation is timed on (the engine's: at least one batch of its own)."""


def _eval_split(data: Dataset, images: int) -> Split:
    """The first ``images`` validation images (all of them where there are fewer)."""
    count = min(images, len(data.val))
    return Split(data.val.x[:count], data.val.y[:count])


class _Images(torch.utils.data.Dataset):
    """uint8 images served as torchvision's MNIST and CIFAR10 serve them: a PIL image per sample,
    then ToTensor + Normalize."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        image = self.images[i].permute(1, 2, 0).numpy()  # H x W x C; a PIL image, as torchvision's sets do
        image = Image.fromarray(image[:, :, 0], mode="L") if image.shape[2] == 1 else Image.fromarray(image)
        return self.transform(image), int(self.labels[i])


def _to_uint8(split_x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m, s = (torch.tensor(v).view(1, -1, 1, 1) for v in (mean, std))
    return ((split_x.cpu() * s + m) * 255).round().clamp(0, 255).to(torch.uint8)


def reference_loop(cfg: ExperimentConfig, data: Dataset, device: torch.device) -> Loop:
    """The common loop, one network; it evaluates ``EVAL_TIMING_IMAGES`` validation images through
    a ``DataLoader`` of batch 1,000."""
    mean, std = stats(data.name)
    val = _eval_split(data, EVAL_TIMING_IMAGES)
    train_set = _Images(_to_uint8(data.train.x, mean, std), data.train.y.cpu(), mean, std)
    val_set = _Images(_to_uint8(val.x, mean, std), val.y.cpu(), mean, std)
    loader = DataLoader(train_set, batch_size=cfg.train.batch_size, shuffle=True, drop_last=True)
    model = build_model(cfg.model, cfg.dropout, seed=0).to(device)
    masks = {n: (torch.rand_like(p) > 0.5).float() for n, p in model.named_parameters() if n in model.layer_kinds}
    optimizer = (torch.optim.Adam(model.parameters(), lr=cfg.train.lr) if cfg.train.optimizer == "adam" else
                 torch.optim.SGD(model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum,
                                 weight_decay=cfg.train.weight_decay))
    batches, losses = iter(loader), []

    def evaluate() -> float:
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in DataLoader(val_set, batch_size=1000):
                correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        model.train()
        return correct / len(val_set)

    def step(_: int) -> None:
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in masks:
                    param.mul_(masks[name])
        losses.append(loss.item())

    step(0)  # first allocations and kernels, not timed
    return Loop(1, step, evaluate, len(val_set))


def plain_loop(cfg: ExperimentConfig, data: Dataset, device: torch.device) -> Loop:
    """The plain loop, one pruned network, on batches gathered from resident data; it evaluates
    ``EVAL_TIMING_IMAGES`` validation images."""
    model, params, _ = init_states(cfg.model, [0], cfg.dropout, device)
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, cfg.prune, 1)
    loop = PlainLoop(cfg.model, cfg.dropout, 0, {k: m[0] for k, m in masks.items()}, cfg.train, device)
    generator = torch.Generator(device=device).manual_seed(0)
    order = epoch_batches(len(data.train), cfg.train.batch_size, [generator], device)[0]
    fill, val = black(data.name), _eval_split(data, EVAL_TIMING_IMAGES)

    def step(it: int) -> None:
        index = order[it % len(order)]
        x = data.train.x[index]
        loop.step(augment(x, generator, fill) if cfg.train.augment else x, data.train.y[index], it)

    step(0)
    return Loop(1, step, lambda: loop.evaluate(val), len(val))


def engine_loop(cfg: ExperimentConfig, data: Dataset, networks: int, device: torch.device, form: str = "eager",
                precision: str = "fp32", evaluate: bool = True) -> Loop:
    """The engine on a stack of ``networks`` pruned networks with step ``form`` at ``precision``;
    it evaluates one batch of validation images (at least ``EVAL_TIMING_IMAGES``) at the batch that
    ``train_stack`` chooses (``evaluate=False``: steps only). A compiled form is compiled here."""
    seeds = list(range(networks))
    model, params, buffers = init_states(cfg.model, seeds, cfg.dropout, device)
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, cfg.prune, 1)
    forms = make_step_forms(form, model, params, buffers, masks, cfg.train, None, precision)
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    order = epoch_batches(len(data.train), cfg.train.batch_size, generators, device)
    fill, shape = black(data.name), data.train.x.shape[1:]

    def step(it: int) -> None:
        index = order[:, it % order.shape[1]]
        x, y = data.train.x[index], data.train.y[index]
        if cfg.train.augment:
            x = augment_stack(x, generators, fill)
        forms.step(x, y, cfg.train.lr_at(it), 0.0)

    first = timed(lambda: step(0), device)
    setup = first - timed(lambda: step(0), device) if form != "eager" else 0.0
    batch = eval_batch_for(model, networks, shape, EVAL_BATCH_CAP, device)
    val = _eval_split(data, max(batch, EVAL_TIMING_IMAGES))

    def score() -> None:
        model.eval()
        evaluate_stack(forms.score, params, buffers, val, batch)
        model.train()

    if evaluate and form != "eager":  # compile the scorer: a first pass, less what a later one takes
        first = timed(score, device)
        setup += first - timed(score, device)
    return Loop(networks, step, score if evaluate else None, len(val), max(0.0, setup), batch,
                activation_bytes(model, networks, batch, shape))
