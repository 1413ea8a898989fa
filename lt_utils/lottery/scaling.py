"""Deprecated copy, kept only until the book (``lt_utils/book/pages.py``, ``cli.py``) imports these
names from their new homes: the projections from ``lt_utils.bench.projection``, the page's Markdown
(``scaling_page_section``) from ``lt_utils.book.scaling_page``, and ``chain_runs`` and ``tasks``
from ``lt_utils.lottery.plan``. A lottery module may not import those layers, so this file repeats
them; delete it then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.plan import chain_runs, tasks

DEVICE_COUNTS = (1, 8, 64)
"""The device counts the book projects to."""


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
            "CPU benchmark's; `python -m lt_utils.bench --device cuda --out book/bench/<gpu>.json`, then `make "
            "book`, adds a GPU's rows.\n")
    return ("**Projections, not measurements**, computed by `lt_utils.bench.projection` from each figure's chain "
            "structure at the paper's scale and the stored benchmark reports.\n\n"
            "How much faster the structure lets each figure run on more devices (every model at the same rate):\n\n"
            + structure_table(figures) + "\nProjected wall time, from the stored benchmark reports:\n\n" + hours
            + "\n" + note)
