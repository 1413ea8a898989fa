"""The benchmark and the projections drawn from its reports: what the engine's speed is, and what
it means for a figure at the paper's scale.

- ``timing`` (loops timed in turns; rates composed to a figure's schedule), ``loops`` (the
  reference, the plain loop and the engine, ready to time), ``plain`` (the plain loop itself,
  also the engine's check), ``peak`` (the device's own peak and each model's FLOPs);
- ``report`` (each model timed in every form: the benchmark's report), ``command`` (its command
  line, ``python -m lt_utils.bench``);
- ``projection`` (a figure's wall time on G devices, from its chain structure and the stored
  reports);
- ``settings`` (what early termination and the test set where read save: one small experiment
  under each setting, timed side by side, ``python -m lt_utils.bench.settings``).

It imports ``lt_utils.lottery``, ``lt_utils.engine`` and the top modules; the book imports it.
"""

from lt_utils.bench.plain import PlainLoop, plain_run
from lt_utils.bench.projection import (
    figure_network_iterations,
    projected_hours,
    report_device_type,
    speedup_bound,
    stored_benchmarks,
)
from lt_utils.bench.report import benchmark

__all__ = [
    "PlainLoop", "benchmark", "figure_network_iterations", "plain_run", "projected_hours", "report_device_type",
    "speedup_bound", "stored_benchmarks",
]
