"""Train a stack of networks with fixed masks, evaluating every ``eval_every`` iterations.

The hot loop keeps everything on the device: minibatches are drawn by index from the
resident data, one call of a :mod:`lt_utils.engine.step` step updates every network, and metrics
are written into a device tensor that is read once, at the end of training (with
``TrainConfig.patience``, the networks' stopped flags are also read at each evaluation).

Two options of :class:`lt_utils.engine.hparams.TrainConfig` leave metrics unmeasured, as NaN in
the curves: ``patience`` (every metric of a network once its early-stopping point is settled; a
network that trains the whole schedule, ``full_schedule``, is evaluated again at the end, with its
``final_train``; one that stopped has neither) and ``test_eval="where_read"`` (the test metrics
except at the early-stopping evaluation and the last one). An accuracy is never NaN when measured,
so a NaN accuracy means "not measured"; a loss is measured with its accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from lt_utils.engine.checkpoint import Checkpoint, fingerprint, random_state, restore_random_state
from lt_utils.engine.data import Dataset, Split, augment_stack, black, epoch_batches, skip_augment
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.memory import EVAL_BATCH_CAP, eval_batch_for
from lt_utils.engine.models import PrunableModel
from lt_utils.engine.stack import State, check_precision
from lt_utils.engine.step import Scorer, make_step_forms
from lt_utils.validation import require

METRICS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc")
"""Metrics of every evaluation; ``train_*`` are on the fixed training subset (``train_eval_size``)."""
FULL_TRAIN_METRICS = ("train_loss_full", "train_acc_full")
"""Metrics on the whole training split, evaluated once: at the end of training."""


@dataclass
class TrainResult:
    """Final parameters and buffers, metric curves ``N x evaluations x METRICS`` (CPU), the state
    at ``snapshot_at`` when one was asked for, and ``final_train``: ``N x FULL_TRAIN_METRICS`` on
    the whole training split at the end of training (CPU), and ``step``: the step form that trained
    them (``"auto"`` resolved, after any fallback), and ``device_name``: the device they trained on (those
    before a checkpoint it went on from too, comma-separated); ``stopped``: the iteration at which each
    network stopped (``patience``; None: it trained to the end)."""

    params: State
    buffers: State
    curves: torch.Tensor
    eval_iterations: list[int]
    snapshot: tuple[State, State] | None = None
    final_train: torch.Tensor | None = None
    step: str = "eager"
    device_name: str = ""
    stopped: list[int | None] = field(default_factory=list)
    seconds_before: float = 0.0  # training time spent on this stack before a checkpoint it went on from


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


VAL_LOSS, TEST = METRICS.index("val_loss"), [METRICS.index("test_loss"), METRICS.index("test_acc")]


class _Watch:
    """Each network's minimum validation loss so far and the evaluation it was at (the earliest, as
    ``early_stopping`` reads the table), a copy of its weights there (``keep``), and, with
    ``patience``, whether its early-stopping point is settled (``settled``: no improvement for
    ``patience`` iterations). A settled network is no longer evaluated; it stops training too
    (``stopped``), unless it is one of ``full``, which train the whole schedule and are evaluated
    again at its end. Device tensors, updated at evaluations only."""

    def __init__(self, live: State, eval_iterations: list[int], patience: int | None, keep: bool,
                 full: list[bool]):
        first = next(iter(live.values()))
        n, device = first.shape[0], first.device
        self.iterations = torch.tensor(eval_iterations, device=device)
        self.best = torch.full((n,), float("inf"), device=device)
        self.best_slot = torch.zeros(n, dtype=torch.long, device=device)
        self.settled = torch.zeros(n, dtype=torch.bool, device=device)
        self.full = torch.tensor(full, dtype=torch.bool, device=device)
        self.patience = patience
        self.kept = {k: v.detach().clone() for k, v in live.items()} if keep else None
        self.stopped_at: list[int | None] = [None] * n  # on the host: each stopped network's stop iteration
        self.frozen: tuple[torch.Tensor, State] | None = None  # the stopped networks' indices and weights
        self.all_settled = False  # on the host: no network needs evaluating before the schedule's end

    @property
    def stopped(self) -> torch.Tensor:
        """The networks that stopped training (settled, and not trained to the end)."""
        return self.settled & ~self.full

    @torch.no_grad()
    def observe(self, slot: int, row: torch.Tensor, live: State) -> bool:
        """Take in evaluation ``slot`` (``row``: its ``N x METRICS``; the values of networks not
        evaluated there are made NaN, unmeasured). With patience, settle the networks that have not
        improved for ``patience`` iterations, except at the schedule's last evaluation, where only
        the stopped ones are unmeasured; True when every network has stopped. That needs one host read."""
        last = slot == len(self.iterations) - 1
        row.masked_fill_((self.stopped if last else self.settled)[:, None], float("nan"))
        improved = row[:, VAL_LOSS] < self.best  # NaN (diverged, settled or stopped) never improves
        self.best = torch.where(improved, row[:, VAL_LOSS], self.best)
        self.best_slot = torch.where(improved, slot, self.best_slot)
        if self.kept is not None:
            for k, v in self.kept.items():
                v.copy_(torch.where(improved.view(-1, *[1] * (v.ndim - 1)), live[k], v))
        if self.patience is None or last:
            return False
        self.settled |= self.iterations[slot] - self.iterations[self.best_slot] >= self.patience
        settled, stopped = self.settled.tolist(), self.stopped.tolist()
        self.all_settled = all(settled)
        if sum(stopped) > len(stopped) - self.stopped_at.count(None):  # more have stopped: hold them too
            it = int(self.iterations[slot])
            self.stopped_at = [it if s and at is None else at for s, at in zip(stopped, self.stopped_at, strict=True)]
            index = self.stopped.nonzero().squeeze(1)
            self.frozen = (index, {k: v.detach().index_select(0, index) for k, v in live.items()})
        return all(stopped)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this watch (see :mod:`lt_utils.engine.checkpoint`)."""
        return {"best": self.best, "best_slot": self.best_slot, "settled": self.settled, "kept": self.kept,
                "stopped_at": self.stopped_at, "frozen": self.frozen, "all_settled": self.all_settled}

    @torch.no_grad()
    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Go on from a checkpoint's :meth:`state_dict`."""
        for name in ("best", "best_slot", "settled"):
            getattr(self, name).copy_(saved[name])
        if self.kept is not None:
            for k, v in self.kept.items():
                v.copy_(saved["kept"][k])
        self.stopped_at, self.all_settled = list(saved["stopped_at"]), bool(saved["all_settled"])
        self.frozen = None if saved["frozen"] is None else (saved["frozen"][0], dict(saved["frozen"][1]))

    @torch.no_grad()
    def hold(self, live: State) -> None:
        """Put the stopped networks' weights and buffers back as they were when they stopped."""
        if self.frozen is not None:
            index, state = self.frozen
            for k, v in state.items():
                live[k].index_copy_(0, index, v)


def train_stack(model: PrunableModel, params: State, buffers: State, masks: dict[str, torch.Tensor],
                data: Dataset, cfg: TrainConfig, data_seeds: list[int], *, start_iteration: int = 0,
                snapshot_at: int | None = None, full_schedule: list[bool] | None = None,
                penalty: Penalty | None = None, on_eval: OnEval | None = None,
                eval_batch: int = EVAL_BATCH_CAP, progress: bool | str = False, step: str = "auto",
                precision: str = "fp32", checkpoint: Checkpoint | None = None) -> TrainResult:
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
    ``precision`` one of :data:`lt_utils.engine.stack.PRECISIONS` (``"bf16"``: autocast, not the paper's fp32).
    ``checkpoint`` (not with ``on_eval``, whose own state it cannot keep): save the whole training
    state there every few minutes, at evaluations, and go on from a checkpoint of the same work
    found there, bit for bit (:mod:`lt_utils.engine.checkpoint`); the caller removes it when done.

    ``cfg.patience``: once a network's validation loss has not improved for that many iterations
    (checked at evaluations), its early-stopping point is settled and it is no longer evaluated
    (NaN in the curves). A network marked in ``full_schedule`` (default: none) trains on to the end
    of the schedule and is evaluated there, with its ``final_train``: its final weights are the
    paper's. Any other stops: its weights and buffers stay as they are while the others train on.
    The stack ends when all have stopped; evaluations are skipped while every network is settled.
    ``cfg.test_eval="where_read"``: the test set is evaluated at
    the end only, on the live weights (the last evaluation) and on a copy of each network's weights
    at its minimum validation loss (that evaluation); NaN elsewhere."""
    check_precision(precision)
    require(cfg.patience is None or snapshot_at is None or cfg.patience >= snapshot_at, "patience", cfg.patience,
            f"at least snapshot_at={snapshot_at} (no network may stop before its snapshot)")
    device = data.train.y.device
    n = len(data_seeds)
    full = [False] * n if full_schedule is None else [bool(f) for f in full_schedule]
    require(len(full) == n, "full_schedule", full_schedule, f"one flag per network ({n})")
    require(checkpoint is None or on_eval is None, "checkpoint", checkpoint, "None when on_eval is given")
    key = fingerprint(params, buffers, masks, data_seeds, start_iteration, cfg, precision) if checkpoint else ""
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
    where_read = cfg.test_eval == "where_read"
    live = params | buffers
    watch = _Watch(live, eval_iterations, cfg.patience, where_read, full) \
        if cfg.patience is not None or where_read else None
    missing = torch.full((n,), float("nan"), device=device)

    def record(slot: int) -> bool:
        """Evaluate into ``curves[slot]``; True when every network has stopped."""
        if watch is not None and watch.all_settled and slot < len(eval_iterations) - 1:
            curves[slot] = float("nan")  # every early-stopping point is settled: nothing to measure here
            return False
        model.eval()
        metrics = []
        for split in (data.val, data.test, data.train_eval):
            skip = where_read and split is data.test  # evaluated at the end instead
            metrics += (missing, missing) if skip else evaluate_stack(score, params, buffers, split, eval_batch)
        curves[slot] = torch.stack(metrics, dim=1)
        model.train()
        return watch is not None and watch.observe(slot, curves[slot], live)

    started, seconds_before, devices = time.monotonic(), 0.0, [device_name(device)]

    def save(slot: int, iteration: int) -> None:
        """Checkpoint the state after ``iteration`` iterations, evaluations up to ``slot - 1`` done."""
        checkpoint.save({"fingerprint": key, "iteration": iteration, "slot": slot, "params": params,
                         "buffers": buffers, "optimizer": forms.optimizer_state(), "form": forms.form,
                         "batches": batches, "random": random_state(device, generators), "curves": curves[:slot],
                         "snapshot": snapshot, "watch": watch.state_dict() if watch is not None else None,
                         "seconds": seconds_before + time.monotonic() - started, "devices": devices})

    saved = checkpoint.load(key, device) if checkpoint is not None else None
    if saved is None:
        record(0)
        slot, first = 1, start_iteration
        batches = _skip_data(cfg, len(data.train), generators, device, start_iteration)
    else:  # go on from the checkpoint
        slot, first, batches, snapshot = saved["slot"], saved["iteration"], saved["batches"], saved["snapshot"]
        seconds_before, devices = saved.get("seconds", 0.0), sorted({*saved.get("devices", []), *devices})
        with torch.no_grad():
            for state, kept in ((params, saved["params"]), (buffers, saved["buffers"])):
                for k, v in state.items():
                    v.copy_(kept[k])
        forms.prefer(saved.get("form", forms.form))  # (the first checkpoints kept no form, time or devices)
        forms.resume_optimizer(saved["optimizer"])
        restore_random_state(saved["random"], device, generators)
        curves[:slot] = saved["curves"]
        if watch is not None:
            watch.load_state_dict(saved["watch"])
        del saved  # its copies of the weights and optimizer state are in place now
    ended = False  # every network stopped (patience)
    fill = black(data.name)  # the pad-and-crop border: a black pixel
    bar = tqdm(total=cfg.iterations - start_iteration, initial=first - start_iteration,
               desc=progress if isinstance(progress, str) else "training", disable=not progress, leave=False)
    for it in range(first, cfg.iterations):
        if it % steps_per_epoch == 0:
            batches = epoch_batches(len(data.train), cfg.batch_size, generators, device)
        index = batches[:, it % steps_per_epoch]
        x, y = data.train.x[index], data.train.y[index]
        if cfg.augment:
            x = augment_stack(x, generators, fill)
        train_step(x, y, cfg.lr_at(it), penalty[1](it) if penalty else 0.0)
        if watch is not None:
            watch.hold(live)
        if snapshot_at is not None and it + 1 == snapshot_at:
            snapshot = ({k: v.detach().clone() for k, v in params.items()}, {k: v.clone() for k, v in buffers.items()})
        if slot < len(eval_iterations) and it + 1 == eval_iterations[slot]:
            ended = record(slot)
            bar.update(eval_iterations[slot] - eval_iterations[slot - 1])
            slot += 1
            asked = on_eval is not None and on_eval(it + 1, curves[slot - 1], params, buffers)
            if ended or asked:
                break
            if checkpoint is not None and (checkpoint.due() or slot == len(eval_iterations)):
                save(slot, it + 1)  # and at the end: a later stack's restart does not train this one again
    bar.close()
    gone = watch.stopped[:, None] if watch is not None else torch.zeros(n, 1, dtype=torch.bool, device=device)
    model.eval()
    if ended:  # nothing was measured after the last network stopped
        curves[slot:] = float("nan")
        final_train = torch.full((n, len(FULL_TRAIN_METRICS)), float("nan"), device=device)
    else:
        final_train = torch.stack(evaluate_stack(score, params, buffers, data.train, eval_batch), dim=1)
        final_train.masked_fill_(gone, float("nan"))
        if where_read:  # the test set at the end of the run
            test = torch.stack(evaluate_stack(score, params, buffers, data.test, eval_batch), dim=1)
            curves[slot - 1, :, TEST] = test.masked_fill(gone, float("nan"))
    if where_read:  # and at each network's minimum validation loss, on the weights kept there
        kept = watch.kept
        test = torch.stack(evaluate_stack(score, {k: kept[k] for k in params}, {k: kept[k] for k in buffers},
                                          data.test, eval_batch), dim=1)
        networks = torch.arange(n, device=device)[:, None]
        curves[watch.best_slot[:, None], networks, torch.tensor(TEST, device=device)] = test
    model.train()
    final = {k: v.detach() for k, v in params.items()}
    kept_slots = len(eval_iterations) if ended else slot
    return TrainResult(final, buffers, curves[:kept_slots].transpose(0, 1).cpu(), eval_iterations[:kept_slots],
                       snapshot, final_train.cpu(), forms.form, ", ".join(devices),
                       watch.stopped_at if watch is not None else [None] * n, seconds_before)
