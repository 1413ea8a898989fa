"""Deprecated alias of ``lt_utils.bench`` (``python -m lt_utils.book.bench``), kept for one release, to be removed."""

from lt_utils.bench.command import command, main
from lt_utils.bench.peak import machine_peak
from lt_utils.bench.projection import figure_network_iterations
from lt_utils.bench.report import (
    FIGURES,
    STACK_COMPARED,
    benchmark,
    default_steps,
    engine_forms,
    model_report,
    networks_per_round,
)

__all__ = [
    "FIGURES", "STACK_COMPARED", "benchmark", "command", "default_steps", "engine_forms", "figure_network_iterations",
    "machine_peak", "main", "model_report", "networks_per_round",
]

if __name__ == "__main__":
    main(prog="python -m lt_utils.book.bench")
