"""Projected wall time of a figure spread over G devices (``executor="ray"``): a projection from
the figure's chain structure and the stored benchmark reports, not a measurement.

Each configuration is a chain of rounds that run one after another. A round is trained in stacks
of the size the engine chooses for the model and device type
(:func:`lt_utils.engine.models.networks_per_stack`): a whole round as one stack, which is one task
(Lenet; the Conv nets on a GPU), or one network per stack, each its own task, all of them at once
(batch-norm models; the Conv nets on the CPU). So on G devices a figure takes about max(its
longest chain, its total work / G). The model counts a stack's time as its networks at the
benchmark's rate for that model: the rate of one stack on a whole device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lt_utils.engine.models import networks_per_stack
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.plan import round_networks

DEVICE_COUNTS = (1, 8, 64)
"""The device counts the book projects to."""


def _stack_sizes(cfg: ExperimentConfig, device_type: str) -> list[tuple[int, int]]:
    """Each round's networks and the size of its stacks on ``device_type`` (default ``max_stack``)."""
    size = networks_per_stack(cfg.model, device_type)
    return [(n, size or n) for n in (round_networks(cfg, r) for r in range(cfg.rounds + 1))]


def chain_runs(cfg: ExperimentConfig, device_type: str = "cuda") -> tuple[int, int]:
    """``(in sequence, in all)``: network-runs on ``cfg``'s chain's critical path on devices of
    ``device_type`` (a round's stacks run side by side: one stack's networks are in sequence), and
    in total."""
    rounds = _stack_sizes(cfg, device_type)
    return sum(min(size, n) for n, size in rounds), sum(n for n, _ in rounds)


def projected_hours(cfgs: list[ExperimentConfig], rates: dict[str, float], devices: int,
                    device_type: str = "cuda") -> float:
    """Wall time of ``cfgs`` run at once on ``devices`` devices of ``device_type``, at ``rates``
    (network-iterations per second of each model, from a benchmark report)."""
    seconds = [tuple(runs * cfg.train.iterations / rates[cfg.model] for runs in chain_runs(cfg, device_type))
               for cfg in cfgs]
    return max(max(sequential for sequential, _ in seconds), sum(total for _, total in seconds) / devices) / 3600


def speedup_bound(cfgs: list[ExperimentConfig], devices: int, device_type: str = "cuda") -> float:
    """How much faster ``cfgs`` run on ``devices`` devices than on one, where every model trains at
    the same rate (the structure's bound, before any benchmark)."""
    rates = {cfg.model: 1.0 for cfg in cfgs}
    return projected_hours(cfgs, rates, 1, device_type) / projected_hours(cfgs, rates, devices, device_type)


def tasks(cfg: ExperimentConfig, device_type: str = "cuda") -> int:
    """The Ray tasks of ``cfg``'s run on ``device_type`` (default ``max_stack``): one per stack."""
    return sum(-(-n // size) for n, size in _stack_sizes(cfg, device_type))


def report_device_type(report: dict[str, Any]) -> str:
    """``"cpu"`` or ``"cuda"``: the kind of device a stored benchmark report timed."""
    return "cpu" if report["device"].startswith("CPU") else "cuda"


def structure_table(figures: dict[str, list[ExperimentConfig]]) -> str:
    """Markdown: each figure's chains, networks, tasks and longest chain, and how much faster its
    chain structure lets it run on ``DEVICE_COUNTS`` devices than on one (equal rates)."""
    gains = " | ".join(f"{g} devices" for g in DEVICE_COUNTS[1:])
    lines = [f"| figure | chains | networks | Ray tasks | longest chain (network-runs in sequence) | {gains} |",
             "|---|---|---|---|---|" + "---|" * len(DEVICE_COUNTS[1:])]
    for title, cfgs in figures.items():
        runs = [chain_runs(cfg) for cfg in cfgs]
        bounds = " | ".join(f"{speedup_bound(cfgs, g):.1f}x faster" for g in DEVICE_COUNTS[1:])
        lines.append(f"| {title} | {len(cfgs)} | {sum(t for _, t in runs):,} | {sum(tasks(c) for c in cfgs):,} "
                     f"| {max(s for s, _ in runs):,} | {bounds} |")
    return "\n".join(lines) + "\n"


def stored_benchmarks(bench_dir: Path) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """Each benchmark report stored in ``bench_dir`` (sorted by file name), with the engine's rate
    of each model it times (network-iterations per second)."""
    reports = [json.loads(p.read_text()) for p in sorted(bench_dir.glob("*.json"))] if bench_dir.exists() else []
    return [(r, {m: v["engine_network_iterations_per_s"] for m, v in r["models"].items()}) for r in reports]


def hours_table(figures: dict[str, list[ExperimentConfig]], bench_dir: Path) -> tuple[str, bool]:
    """Markdown: each figure's projected wall time on ``DEVICE_COUNTS`` devices of each kind whose
    stored benchmark report times all its models; and whether any of those devices is a GPU."""
    head = " | ".join(f"{g} device{'s' if g > 1 else ''}" for g in DEVICE_COUNTS)
    lines, gpu = [f"| figure | device (benchmark of) | {head} |", "|---|---|" + "---|" * len(DEVICE_COUNTS)], False
    for title, cfgs in figures.items():
        for report, rates in stored_benchmarks(bench_dir):
            if all(cfg.model in rates for cfg in cfgs):
                gpu |= report_device_type(report) == "cuda"
                hours = " | ".join(f"{projected_hours(cfgs, rates, g, report_device_type(report)):,.1f} h"
                                   for g in DEVICE_COUNTS)
                lines.append(f"| {title} | {report['device']} ({report['date'][:10]}) | {hours} |")
    return "\n".join(lines) + "\n", gpu


def scaling_page_section(figures: dict[str, list[ExperimentConfig]], bench_dir: Path) -> str:
    """The performance page's projections for ``executor="ray"``: structure, then hours."""
    hours, gpu = hours_table(figures, bench_dir)
    note = ("" if gpu else "No GPU benchmark is stored yet, so the hours above are for devices like the stored "
            "CPU benchmark's; `python -m lt_utils.book.bench --device cuda --out book/bench/<gpu>.json`, then `make "
            "book`, adds a GPU's rows.\n")
    return ("**Projections, not measurements**, computed by `lt_utils.lottery.scaling` from each figure's chain "
            "structure at the paper's scale and the stored benchmark reports.\n\n"
            "How much faster the structure lets each figure run on more devices (every model at the same rate):\n\n"
            + structure_table(figures) + "\nProjected wall time, from the stored benchmark reports:\n\n" + hours
            + "\n" + note)
