"""How the benchmark's loops are timed and how their rates compose to a figure's schedule.

**Interleaved.** A machine shared with other work slows whatever runs during a busy spell, so the
loops (``lt_utils.bench.loops``) are built first and then timed in turns: one training step of
each loop, round after round, then one evaluation of each, twice. A loop's step time is the median
of its steps, its evaluation the faster of its two. **Composed.** Evaluating every 100 iterations
is about half of a Conv net's work, and a short run would overstate the one-off evaluations (at
iteration 0 and of the whole training split at the end); so the two measured rates are composed
to the figure's whole schedule (``paper_rate``), evaluation included.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lt_utils.engine.data import DATASETS, VALIDATION_SIZE, real_dataset
from lt_utils.lottery.config import ExperimentConfig

EVAL_SPLITS = {"val": VALIDATION_SIZE, "test": 10_000}
"""The protocol's evaluation sets (MNIST's and CIFAR-10's test sets have 10,000 images)."""
EVAL_REPEATS = 2
"""Each evaluation is timed this often and the faster kept."""


@dataclass(frozen=True)
class Parts:
    """A loop's two measured rates: training steps in network-iterations per second (evaluation
    excluded) and evaluation in network-images per second."""

    step_rate: float
    eval_rate: float

    def as_dict(self) -> dict[str, float]:
        return {"step_network_iterations_per_s": round(self.step_rate, 3),
                "eval_network_images_per_s": round(self.eval_rate, 1)}


@dataclass
class Loop:
    """A loop ready to time: ``step(iteration)`` trains every network of it once, ``evaluate()``
    (None: not timed) scores ``images`` images with each; ``setup_seconds``: what its first step
    and evaluation took beyond later ones (compiling); ``eval_batch`` and ``eval_bytes``: the
    engine's evaluation batch and its memory estimate."""

    networks: int
    step: Callable[[int], object]
    evaluate: Callable[[], object] | None = None
    images: int = 0
    setup_seconds: float = 0.0
    eval_batch: int = 0
    eval_bytes: int = 0


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


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``run`` takes on ``device``: from when earlier queued work is done to when
    the call's own is."""
    _synchronize(device)
    start = time.perf_counter()
    run()
    _synchronize(device)
    return time.perf_counter() - start


def time_loops(loops: dict[str, Loop], iterations: dict[str, int], device: torch.device) -> dict[str, Parts]:
    """Each loop's rates, timed in turns: ``iterations[label]`` steps of each (the median step),
    then ``EVAL_REPEATS`` evaluations of each (the fastest); a loop without ``evaluate`` gets 0."""
    steps: dict[str, list[float]] = {label: [] for label in loops}
    for it in range(1, max(iterations.values()) + 1):
        for label, loop in loops.items():
            if it <= iterations[label]:
                steps[label].append(timed(lambda loop=loop, it=it: loop.step(it), device))
    evaluations: dict[str, list[float]] = {label: [] for label, loop in loops.items() if loop.evaluate}
    for _ in range(EVAL_REPEATS):
        for label in evaluations:
            evaluations[label].append(timed(loops[label].evaluate, device))
    return {label: Parts(loop.networks / statistics.median(steps[label]),
                         loop.networks * loop.images / min(evaluations[label]) if label in evaluations else 0.0)
            for label, loop in loops.items()}
