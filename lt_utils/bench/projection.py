"""Projected wall time of a figure spread over G devices (``executor="ray"``): a projection from
the figure's chain structure and the stored benchmark reports, not a measurement.

Each configuration is a chain of rounds that run one after another. A round is trained in stacks
of the size the engine chooses for the model and device type
(:func:`lt_utils.engine.models.networks_per_stack`): a whole round as one stack, which is one task
(Lenet; the Conv nets on a GPU), or one network per stack, each its own task, all of them at once
(batch-norm models; the Conv nets on the CPU). So on G devices a figure takes about max(its
longest chain, its total work / G) (:func:`lt_utils.lottery.plan.chain_runs`). The model counts a
stack's time as its networks at the benchmark's rate for that model: the rate of one stack on a
whole device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.plan import chain_runs


def figure_network_iterations(cfg: ExperimentConfig) -> int:
    """All network-iterations of the figure: dense round plus every pruning round."""
    return cfg.train.iterations * chain_runs(cfg)[1]


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


def stored_benchmarks(bench_dir: Path) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """Each benchmark report stored in ``bench_dir`` (sorted by file name), with the engine's rate
    of each model it times (network-iterations per second)."""
    reports = [json.loads(p.read_text()) for p in sorted(bench_dir.glob("*.json"))] if bench_dir.exists() else []
    return [(r, {m: v["engine_network_iterations_per_s"] for m, v in r["models"].items()}) for r in reports]
