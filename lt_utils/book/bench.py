"""Benchmark: the engine against two reference loops, on the same device, in the same run.

    python -m lt_utils.book.bench --device cuda --out book/bench/h100.json
    python -m lt_utils.book.bench --models lenet --data-dir ../shared/data   # CPU, MNIST only

The *reference* trains one network at a time the common way: a ``DataLoader`` over a
torchvision-style data set with per-sample transforms, the mask applied in Python after every
step, and a ``.item()`` per step; it evaluates validation and test. The *plain loop*
(:mod:`lt_utils.book.plain`) is what a careful user writes: an ``nn.Module`` and ``torch.optim``
fed from tensors already in memory, the mask applied after each step; it evaluates what the
engine evaluates. The engine trains a round's networks (Lenet: 5 trials, 15 random
reinitializations, 5 random sparse and 5 one-shot networks) in stacks of the size it chooses
for the model and device (:func:`lt_utils.engine.models.networks_per_stack`: a round of Conv nets
on the CPU is 20 stacks of one; the rate of a round is then the rate of one stack), data resident
on the device, once with each step form (``lt_utils.engine.step``: eager, compiled, CUDA graph),
and for the models named by ``--bf16`` (default VGG-19) in bf16 autocast as well, where the
device computes bf16 natively (:func:`lt_utils.engine.cpu.native_bf16`; otherwise the report
says why it left bf16 out). Compile time is reported apart from the rate.

**Rates at the paper's schedule, evaluation included.** Evaluating every 100 iterations is about
half of a Conv net's work, and a short timed run would overstate the one-off evaluations (at
iteration 0 and of the whole training split at the end). So each loop's training step (the
median step: a shared machine slows some steps) and its evaluation (the faster of two) are
timed apart, in the same run, and composed to the figure's schedule: ``T``
iterations, an evaluation of validation (5,000), test (10,000) and, for the engine and the plain
loop, the 5,000-image training subset at each of the schedule's points, and the whole training
split at the end (:func:`paper_rate`). Throughput is in network-iterations per second; the
projection multiplies the fastest fp32 form's rate (the paper's precision) out to each figure's
paper-scale work. The report also states the device's own peak measured in the same run (an fp32
matrix product and Conv-2's convolution alone, :mod:`lt_utils.book.peak`) and the engine's share
of it, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

try:
    import resource  # the process's peak memory (POSIX)
except ImportError:  # pragma: no cover - Windows
    resource = None

from lt_utils.atomic import atomic_write_json
from lt_utils.book.peak import conv_gflops, matmul_gflops, model_flops
from lt_utils.book.plain import PlainLoop
from lt_utils.engine.cpu import missing_bf16_note, native_bf16
from lt_utils.engine.data import (
    DATASETS,
    VALIDATION_SIZE,
    Dataset,
    Split,
    augment,
    black,
    epoch_batches,
    load_dataset,
    real_dataset,
    stand_in,
    stats,
)
from lt_utils.engine.memory import activation_bytes, eval_batch_for
from lt_utils.engine.models import MODELS, build_model, networks_per_stack
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states
from lt_utils.engine.step import make_step_forms, resolve_step_mode
from lt_utils.engine.training import evaluate_stack
from lt_utils.errors import ConfigError, user_errors
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.scaling import chain_runs
from lt_utils.validation import check_folder, check_int, require

FIGURES = {name: info.preset for name, info in MODELS.items() if info.preset}
"""Model -> the preset of its figure, read from ``lt_utils.engine.models.MODELS``: what is timed and projected."""
EVAL_SPLITS = {"val": VALIDATION_SIZE, "test": 10_000}
"""The protocol's evaluation sets (MNIST's and CIFAR-10's test sets have 10,000 images)."""
EVAL_TIMING_IMAGES = 1_000
"""Validation images each loop's evaluation is timed on (the engine's: at least one batch of its own)."""
EVAL_REPEATS = 2
"""Each evaluation is timed this often and the faster kept (training steps: the median of the steps timed)."""
STACK_COMPARED = 4
"""Where the engine trains a model's networks one at a time, their rate is compared with a stack of this many."""


def networks_per_round(cfg: ExperimentConfig) -> int:
    """Networks trained together in one pruning round (round >= 1) of ``cfg``."""
    per_trial = 1 + cfg.reinits + int(cfg.random_sparse) + int(bool(cfg.one_shot_rounds))
    return cfg.trials * per_trial


def figure_network_iterations(cfg: ExperimentConfig) -> int:
    """All network-iterations of the figure: dense round plus every pruning round."""
    return cfg.train.iterations * chain_runs(cfg)[1]


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


@dataclass(frozen=True)
class Parts:
    """A loop's two measured rates: training steps in network-iterations per second (evaluation
    excluded) and evaluation in network-images per second."""

    step_rate: float
    eval_rate: float

    def as_dict(self) -> dict[str, float]:
        return {"step_network_iterations_per_s": round(self.step_rate, 3),
                "eval_network_images_per_s": round(self.eval_rate, 1)}


def schedule(cfg: ExperimentConfig, engine_like: bool) -> dict[str, int]:
    """The paper-scale schedule of ``cfg``'s figure: its iterations, its evaluation points, the
    images of each evaluation (validation and test; with the training subset for ``engine_like``
    loops, which also evaluate the whole training split once, at the end: ``final_images``)."""
    per_evaluation = sum(EVAL_SPLITS.values()) + (cfg.train.train_eval_size if engine_like else 0)
    final = DATASETS[real_dataset(cfg.dataset)].train_size if engine_like else 0
    return {"iterations": cfg.train.iterations, "evaluations": len(cfg.train.eval_iterations),
            "images_per_evaluation": per_evaluation, "final_images": final or 0}


def paper_rate(parts: Parts, plan: dict[str, int]) -> float:
    """Network-iterations per second over the whole schedule ``plan``, evaluation included."""
    images = plan["evaluations"] * plan["images_per_evaluation"] + plan["final_images"]
    return plan["iterations"] / (plan["iterations"] / parts.step_rate + images / parts.eval_rate)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    run()
    _synchronize(device)
    return time.perf_counter() - start


def _step_seconds(step: Callable[[int], object], iterations: int, device: torch.device) -> float:
    """The median seconds of one training step over ``iterations`` calls of ``step(iteration)``
    (after the untimed first): a machine shared with other work slows some steps, not the median."""
    return statistics.median(_timed(lambda it=it: step(it), device) for it in range(1, iterations + 1))


def _eval_seconds(evaluate: Callable[[], object], device: torch.device) -> float:
    """The faster of ``EVAL_REPEATS`` timed evaluations."""
    return min(_timed(evaluate, device) for _ in range(EVAL_REPEATS))


def _eval_split(data: Dataset, images: int) -> Split:
    """The first ``images`` validation images (all of them where there are fewer)."""
    count = min(images, len(data.val))
    return Split(data.val.x[:count], data.val.y[:count])


def reference_parts(cfg: ExperimentConfig, data: Dataset, iterations: int, device: torch.device) -> Parts:
    """The common loop's rates, one network: ``iterations`` training steps, and its evaluation of
    ``EVAL_TIMING_IMAGES`` validation images through a ``DataLoader`` of batch 1,000."""
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

    step(0)  # warm-up (first allocations and kernels), not timed
    return Parts(1 / _step_seconds(step, iterations, device), len(val_set) / _eval_seconds(evaluate, device))


def plain_parts(cfg: ExperimentConfig, data: Dataset, iterations: int, device: torch.device) -> Parts:
    """The plain loop's rates (:class:`lt_utils.book.plain.PlainLoop`), one pruned network:
    ``iterations`` training steps on batches gathered from resident data, and its evaluation of
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
    return Parts(1 / _step_seconds(step, iterations, device), len(val) / _eval_seconds(lambda: loop.evaluate(val),
                                                                                            device))


@dataclass(frozen=True)
class EngineRun:
    """The engine's rates for one stack, the seconds spent compiling (its first step beyond a later
    one, and a first evaluation; 0 for ``"eager"``), and the evaluation batch it chose with its
    estimate of the activation memory."""

    parts: Parts
    compile_seconds: float
    eval_batch: int
    eval_bytes: int


def engine_parts(cfg: ExperimentConfig, data: Dataset, iterations: int, networks: int, device: torch.device,
                 step: str = "eager", precision: str = "fp32", evaluate: bool = True) -> EngineRun:
    """The engine's rates for a stack of ``networks`` pruned networks, with the pieces that
    ``train_stack`` runs: ``iterations`` steps of :func:`lt_utils.engine.step.make_step_forms` on
    batches gathered from the resident data, and the evaluation of one batch of validation images
    (at least ``EVAL_TIMING_IMAGES``) by its scorer, at the batch ``train_stack`` chooses
    (:func:`lt_utils.engine.memory.eval_batch_for`); ``evaluate=False`` times the steps alone."""
    seeds = list(range(networks))
    model, params, buffers = init_states(cfg.model, seeds, cfg.dropout, device)
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, cfg.prune, 1)
    forms = make_step_forms(step, model, params, buffers, masks, cfg.train, None, precision)
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    order = epoch_batches(len(data.train), cfg.train.batch_size, generators, device)
    fill, shape = black(data.name), data.train.x.shape[1:]

    def train_step(it: int) -> None:
        index = order[:, it % order.shape[1]]
        x, y = data.train.x[index], data.train.y[index]
        if cfg.train.augment:
            x = torch.stack([augment(x[i], generators[i], fill) for i in range(networks)])
        forms.step(x, y, cfg.train.lr_at(it), 0.0)

    first = _timed(lambda: train_step(0), device)
    step_seconds = _step_seconds(train_step, iterations, device)
    extra = first - step_seconds
    batch = eval_batch_for(model, networks, shape, RunOptions().eval_batch, device)
    eval_rate = 0.0
    if evaluate:
        val = _eval_split(data, max(batch, EVAL_TIMING_IMAGES))
        model.eval()
        first_batch = _eval_split(data, batch)
        warm = _timed(lambda: evaluate_stack(forms.score, params, buffers, first_batch, batch), device) \
            if step != "eager" else 0.0  # compiles the scorer (eager, like the references, is timed on its first pass)
        eval_seconds = _eval_seconds(lambda: evaluate_stack(forms.score, params, buffers, val, batch), device)
        extra += max(0.0, warm - eval_seconds * len(first_batch) / len(val)) if warm else 0.0
        model.train()
        eval_rate = networks * len(val) / eval_seconds
    return EngineRun(Parts(networks / step_seconds, eval_rate),
                     round(max(0.0, extra), 1) if step != "eager" else 0.0, batch,
                     activation_bytes(model, networks, batch, shape))


def default_steps(device: torch.device) -> list[str]:
    """The step forms worth timing on ``device``: the plain one and the fastest one it supports."""
    return ["eager", "graph" if device.type == "cuda" else "compile"]


def engine_forms(name: str, steps: list[str], bf16_models: Sequence[str],
                 bf16_native: bool = True) -> dict[str, tuple[str, str]]:
    """The engine forms timed for model ``name``: ``{label: (step, precision)}``; bf16 only for
    ``bf16_models`` and only where the device computes it natively (``bf16_native``)."""
    forms = {step: (step, "fp32") for step in steps}
    if name in bf16_models and bf16_native:
        forms |= {f"{step}, bf16": (step, "bf16") for step in steps}
    return forms


def machine_peak(device: torch.device) -> dict[str, Any]:
    """The device's own peak, measured now (:mod:`lt_utils.book.peak`), and whether it computes
    bf16 natively (and if not, why)."""
    peak = {"matmul_fp32_gflop_per_s": round(matmul_gflops(device), 1),
            "conv2_conv_fp32_gflop_per_s": round(conv_gflops(device), 1), "bf16_native": native_bf16(device)}
    if device.type == "cpu" and not peak["bf16_native"]:
        peak["bf16_note"] = missing_bf16_note()
    return peak


def _peak_memory_gib() -> float | None:
    """The process's peak resident memory so far (None where ``resource`` is missing)."""
    if resource is None:
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / (2**30 if platform.system() == "Darwin" else 2**20), 2)


def model_report(name: str, device: torch.device, data_dir: str | None, iterations: int,
                 reference_iterations: int, steps: list[str], bf16_models: Sequence[str],
                 peak: dict[str, Any]) -> dict[str, Any]:
    """The report of one model: both references, each engine form, the stacking compared, FLOPs
    and the engine's share of ``peak``."""
    cfg = preset(FIGURES[name])
    if stand_in(cfg.dataset):  # throughput does not depend on the pixels; CIFAR-10 may be absent
        cfg = cfg.with_overrides(dataset=stand_in(cfg.dataset))
    data = load_dataset(cfg.dataset, data_dir, device, cfg.train.train_eval_size,
                        synthetic_size=55_000 if DATASETS[cfg.dataset].synthetic else 1_200)
    round_size = networks_per_round(cfg)
    stack = networks_per_stack(cfg.model, device.type) or round_size
    plan = schedule(cfg, engine_like=True)
    reference = reference_parts(cfg, data, reference_iterations, device)
    plain = plain_parts(cfg, data, reference_iterations, device)
    reference_rate, plain_rate = paper_rate(reference, schedule(cfg, engine_like=False)), paper_rate(plain, plan)
    engines, runs, forms = {}, {}, engine_forms(name, steps, bf16_models, peak["bf16_native"])
    for label, (step, precision) in forms.items():
        runs[label] = run = engine_parts(cfg, data, iterations, stack, device, step, precision)
        rate = paper_rate(run.parts, plan)
        engines[label] = {"network_iterations_per_s": round(rate, 2), "ratio": round(rate / reference_rate, 2),
                          "ratio_to_plain": round(rate / plain_rate, 2), "compile_seconds": run.compile_seconds,
                          **run.parts.as_dict()}
    fp32 = [label for label, (_, precision) in forms.items() if precision == "fp32"]
    fastest = max(fp32, key=lambda label: engines[label]["network_iterations_per_s"])
    engine = engines[fastest]["network_iterations_per_s"]
    other = 1 if stack > 1 else min(STACK_COMPARED, round_size)
    stacking = {str(stack): round(runs[fp32[0]].parts.step_rate, 3), str(other): round(engine_parts(
        cfg, data, max(2, iterations // 5), other, device, fp32[0], evaluate=False).parts.step_rate, 3)}
    train_flops, eval_flops = model_flops(cfg.model, cfg.dropout, tuple(data.train.x.shape[1:]), cfg.train.batch_size)
    images = plan["evaluations"] * plan["images_per_evaluation"] + plan["final_images"]
    flops = train_flops + images * eval_flops / plan["iterations"]  # per network-iteration, evaluation included
    work = figure_network_iterations(preset(FIGURES[name]))
    return {
        "figure_preset": FIGURES[name], "data": cfg.dataset, "networks_at_once": stack,
        "networks_per_round": round_size,
        "reference_iterations_per_s": round(reference_rate, 2), "plain_iterations_per_s": round(plain_rate, 2),
        "reference_parts": reference.as_dict(), "plain_parts": plain.as_dict(),
        "engine": engines, "fastest_step": fastest, "engine_network_iterations_per_s": engine,
        "ratio": engines[fastest]["ratio"], "ratio_to_plain": engines[fastest]["ratio_to_plain"],
        "stacking_step_network_iterations_per_s": stacking, "schedule": plan,
        "eval_batch": runs[fastest].eval_batch, "eval_activation_gib": round(runs[fastest].eval_bytes / 2**30, 2),
        "eval_batch_one_stack_per_round": eval_batch_for(build_model(cfg.model, cfg.dropout), round_size,
                                                         data.train.x.shape[1:], RunOptions().eval_batch, device),
        "gflop_per_network_iteration": round(flops / 1e9, 3), "engine_gflop_per_s": round(engine * flops / 1e9, 1),
        "share_of_matmul_peak": round(engine * flops / 1e9 / peak["matmul_fp32_gflop_per_s"], 3),
        "share_of_conv_peak": round(engine * flops / 1e9 / peak["conv2_conv_fp32_gflop_per_s"], 3),
        "figure_network_iterations": work, "projected_figure_hours": round(work / engine / 3600, 2),
        "projected_single_run_minutes": round(cfg.train.iterations / (engine / stack) / 60, 2)}


def benchmark(models: list[str], device: torch.device, data_dir: str | None, iterations: int,
              reference_iterations: int, steps: list[str] | None = None,
              bf16_models: Sequence[str] = ("vgg19",)) -> dict[str, Any]:
    """Measure the device's peak, then every model with each step form in ``steps`` (and in bf16
    for ``bf16_models``, where the device computes bf16 natively); return the JSON-ready report."""
    steps = steps or default_steps(device)
    cpu = f"CPU ({platform.processor() or platform.machine()})"
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "iterations": iterations,
        "reference_iterations": reference_iterations,
        "rates": "paper schedule, evaluation included (training and evaluation timed apart)",
        "peak": machine_peak(device), "models": {}}
    for name in tqdm(models, desc="benchmark"):
        report["models"][name] = model_report(name, device, data_dir, iterations, reference_iterations, steps,
                                              bf16_models, report["peak"])
    report["peak_memory_gib"] = _peak_memory_gib()
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lt_utils.book.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="lenet,conv2,conv4,conv6,vgg19")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--iterations", type=int, default=300, help="engine iterations timed per model")
    parser.add_argument("--reference-iterations", type=int, default=300, help="reference iterations timed")
    parser.add_argument("--steps", default=None,
                        help="step forms to time, comma-separated (default: eager plus graph on CUDA, compile on CPU)")
    parser.add_argument("--bf16", default="vgg19", help="models also timed in bf16 autocast, comma-separated")
    parser.add_argument("--out", default=None, help="write the report here (JSON)")
    args = parser.parse_args(argv)
    with user_errors(parser.prog):
        command(args)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def command(args: argparse.Namespace) -> None:
    """Check the parsed command line ``args`` (all of it, before any data loads), then benchmark."""
    models, bf16_models = _names(args.models), _names(args.bf16)
    require(bool(models), "--models", args.models, f"a comma-separated list of models from {sorted(FIGURES)}")
    for flag, names in (("--models", models), ("--bf16", bf16_models)):
        bad = [m for m in names if m not in FIGURES]
        if bad:
            raise ConfigError(f"unknown model(s) {bad} for {flag}; choose from {sorted(FIGURES)}")
    check_int("--iterations", args.iterations, 1)
    check_int("--reference-iterations", args.reference_iterations, 1)
    if args.data_dir is not None:
        check_folder("--data-dir", args.data_dir)
    if args.out is not None:
        require(not Path(args.out).is_dir(), "--out", args.out, "a file to write the report to; it is a folder")
        check_folder("--out", Path(args.out).parent, writable=True)
    device = RunOptions(device=args.device).torch_device()
    steps = _names(args.steps) if args.steps is not None else None
    require(steps is None or bool(steps), "--steps", args.steps, "a comma-separated list of step forms")
    for step in steps or []:
        resolve_step_mode(step, device)  # a bad or impossible form fails before any timing
    report = benchmark(models, device, args.data_dir, args.iterations, args.reference_iterations, steps, bf16_models)
    print(json.dumps(report, indent=2))
    if args.out:
        atomic_write_json(report, Path(args.out))


if __name__ == "__main__":
    main()
