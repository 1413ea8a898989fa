"""The benchmark's report: each model timed in every form, against both references, on one device.

The engine trains a round's networks (Lenet: 5 trials, 15 random reinitializations, 5 random
sparse and 5 one-shot networks) in stacks of the size it chooses for the model and device
(``lt_utils.engine.models.networks_per_stack``: on the CPU a round of Conv nets is 20 stacks of
one, and the rate of the round is the rate of one stack), once with each step form (eager,
compiled, CUDA graph), and for the models asked in bf16 autocast as well, where the device
computes bf16 natively. The report states each rate, its ratio to the references, the projection
of the fastest fp32 form's rate (the paper's precision) to the figure's paper-scale work, the
device's peak and the engine's share of it, its stacking compared with another stack size, its
evaluation batch, and the process's peak memory.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import torch
from tqdm import tqdm

from lt_utils.bench.loops import engine_loop, plain_loop, reference_loop
from lt_utils.bench.peak import machine_peak, model_flops
from lt_utils.bench.projection import figure_network_iterations
from lt_utils.bench.timing import paper_rate, schedule, time_loops
from lt_utils.engine.data import DATASETS, load_dataset, stand_in
from lt_utils.engine.memory import EVAL_BATCH_CAP, eval_batch_for
from lt_utils.engine.models import MODELS, build_model, networks_per_stack
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.plan import widest_round
from lt_utils.lottery.presets import preset

try:
    import resource  # the process's peak memory (POSIX)
except ImportError:  # pragma: no cover - Windows
    resource = None

FIGURES = {name: info.preset for name, info in MODELS.items() if info.preset}
"""Model -> the preset of its figure, read from ``lt_utils.engine.models.MODELS``: what is timed and projected."""
STACK_COMPARED = 4
"""Where the engine trains a model's networks one at a time, their rate is compared with a stack of this many."""


def networks_per_round(cfg: ExperimentConfig) -> int:
    """Networks trained together in the widest pruning round (round >= 1) of ``cfg``."""
    return widest_round(cfg, first=1)


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


def _peak_memory_gib() -> float | None:
    """The process's peak resident memory so far (None where ``resource`` is missing)."""
    if resource is None:
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / (2**30 if platform.system() == "Darwin" else 2**20), 2)


def model_report(name: str, device: torch.device, data_dir: str | None, iterations: int,
                 reference_iterations: int, steps: list[str], bf16_models: Sequence[str],
                 bf16_native: bool) -> dict[str, Any]:
    """The report of one model: both references, each engine form, the engine's stacking compared
    with another stack size (steps only), the evaluation batch and FLOPs, all timed in turns
    (``lt_utils.bench.timing.time_loops``)."""
    cfg = preset(FIGURES[name])
    if stand_in(cfg.dataset):  # throughput does not depend on the pixels; CIFAR-10 may be absent
        cfg = cfg.with_overrides(dataset=stand_in(cfg.dataset))
    data = load_dataset(cfg.dataset, data_dir, device, cfg.train.train_eval_size,
                        synthetic_size=55_000 if DATASETS[cfg.dataset].synthetic else 1_200)
    round_size = networks_per_round(cfg)
    stack = networks_per_stack(cfg.model, device.type) or round_size
    other = 1 if stack > 1 else min(STACK_COMPARED, round_size)
    forms = engine_forms(name, steps, bf16_models, bf16_native)
    loops = {"reference": reference_loop(cfg, data, device), "plain": plain_loop(cfg, data, device)}
    loops |= {label: engine_loop(cfg, data, stack, device, *form) for label, form in forms.items()}
    loops["stacked"] = engine_loop(cfg, data, other, device, steps[0], evaluate=False)
    counts = {label: reference_iterations if label in ("reference", "plain") else iterations for label in loops}
    counts["stacked"] = max(2, iterations // 4)
    parts = time_loops(loops, counts, device)
    plan = schedule(cfg, engine_like=True)
    reference_rate = paper_rate(parts["reference"], schedule(cfg, engine_like=False))
    plain_rate = paper_rate(parts["plain"], plan)
    engines = {}
    for label in forms:
        rate = paper_rate(parts[label], plan)
        engines[label] = {"network_iterations_per_s": round(rate, 2), "ratio": round(rate / reference_rate, 2),
                          "ratio_to_plain": round(rate / plain_rate, 2),
                          "compile_seconds": round(loops[label].setup_seconds, 1), **parts[label].as_dict()}
    fp32 = [label for label, (_, precision) in forms.items() if precision == "fp32"]
    fastest = max(fp32, key=lambda label: engines[label]["network_iterations_per_s"])
    engine = engines[fastest]["network_iterations_per_s"]
    train_flops, eval_flops = model_flops(cfg.model, cfg.dropout, tuple(data.train.x.shape[1:]), cfg.train.batch_size)
    images = plan["evaluations"] * plan["images_per_evaluation"] + plan["final_images"]
    flops = train_flops + images * eval_flops / plan["iterations"]  # per network-iteration, evaluation included
    work = figure_network_iterations(preset(FIGURES[name]))
    return {
        "figure_preset": FIGURES[name], "data": cfg.dataset, "networks_at_once": stack,
        "networks_per_round": round_size,
        "reference_iterations_per_s": round(reference_rate, 2), "plain_iterations_per_s": round(plain_rate, 2),
        "reference_parts": parts["reference"].as_dict(), "plain_parts": parts["plain"].as_dict(),
        "engine": engines, "fastest_step": fastest, "engine_network_iterations_per_s": engine,
        "ratio": engines[fastest]["ratio"], "ratio_to_plain": engines[fastest]["ratio_to_plain"],
        "stacking_step_network_iterations_per_s": {str(stack): round(parts[steps[0]].step_rate, 3),
                                                   str(other): round(parts["stacked"].step_rate, 3)},
        "schedule": plan, "eval_batch": loops[fastest].eval_batch,
        "eval_activation_gib": round(loops[fastest].eval_bytes / 2**30, 2),
        "eval_batch_one_stack_per_round": eval_batch_for(build_model(cfg.model, cfg.dropout), round_size,
                                                         data.train.x.shape[1:], EVAL_BATCH_CAP, device),
        "gflop_per_network_iteration": round(flops / 1e9, 3), "engine_gflop_per_s": round(engine * flops / 1e9, 1),
        "figure_network_iterations": work, "projected_figure_hours": round(work / engine / 3600, 2),
        "projected_single_run_minutes": round(cfg.train.iterations / (engine / stack) / 60, 2)}


def benchmark(models: list[str], device: torch.device, data_dir: str | None, iterations: int,
              reference_iterations: int, steps: list[str] | None = None,
              bf16_models: Sequence[str] = ("vgg19",)) -> dict[str, Any]:
    """Measure every model with each step form in ``steps`` (and in bf16 for ``bf16_models``, where
    the device computes bf16 natively), and the device's peak before and after them (the higher
    of each counts: a busy spell only lowers it); return the JSON-ready report."""
    steps = steps or default_steps(device)
    cpu = f"CPU ({platform.processor() or platform.machine()})"
    peak = machine_peak(device)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "iterations": iterations,
        "reference_iterations": reference_iterations,
        "rates": "paper schedule, evaluation included (training and evaluation timed apart, loops in turns)",
        "peak": peak, "models": {}}
    for name in tqdm(models, desc="benchmark"):
        report["models"][name] = model_report(name, device, data_dir, iterations, reference_iterations, steps,
                                              bf16_models, peak["bf16_native"])
    again = machine_peak(device)
    for key in ("matmul_fp32_gflop_per_s", "conv2_conv_fp32_gflop_per_s"):
        peak[key] = max(peak[key], again[key])
    for m in report["models"].values():
        m["share_of_matmul_peak"] = round(m["engine_gflop_per_s"] / peak["matmul_fp32_gflop_per_s"], 3)
        m["share_of_conv_peak"] = round(m["engine_gflop_per_s"] / peak["conv2_conv_fp32_gflop_per_s"], 3)
    report["peak_memory_gib"] = _peak_memory_gib()
    return report
