"""The performance page's projections for ``executor="ray"`` in Markdown: how much faster each
figure's chain structure lets it run on more devices, and its projected hours from the stored
benchmark reports (the arithmetic: ``lt_utils.bench.projection``)."""

from __future__ import annotations

from pathlib import Path

from lt_utils.bench.projection import projected_hours, report_device_type, speedup_bound, stored_benchmarks
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.plan import chain_runs, tasks

DEVICE_COUNTS = (1, 8, 64)
"""The device counts the book projects to."""


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
