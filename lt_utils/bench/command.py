"""Benchmark: the engine against two reference loops, on the same device, in the same run. For
example::

    python -m lt_utils.bench --device cuda --out book/bench/h100.json
    python -m lt_utils.bench --models lenet --data-dir ../shared/data   # CPU, MNIST only

The loops (``lt_utils.bench.loops``): the *reference*, one network trained the common way
(``DataLoader``, per-sample PIL transforms, ``.item()`` per step); the *plain loop*, one network
as a careful user trains it (``lt_utils.bench.plain``: ``nn.Module``, ``torch.optim``, tensors in
memory); and the *engine*, a round's networks in stacks of the size it chooses for the model and
device, once with each step form (``--steps``; default: eager, and a CUDA graph on a GPU or a
compiled step on the CPU) and for the models named by ``--bf16`` (default VGG-19) in bf16
autocast as well, where the device computes bf16 natively (otherwise the report says why bf16
was left out).

Rates are network-iterations per second over the figure's whole schedule, evaluation included,
from training steps and evaluations timed apart and in turns (``lt_utils.bench.timing``);
compile time is reported apart. The projection multiplies the fastest fp32 form's rate (the
paper's precision) out to each figure's paper-scale work. The report (``lt_utils.bench.report``)
also states the device's own peak, measured before and after (an fp32 matrix product and
Conv-2's convolution alone, ``lt_utils.bench.peak``), the engine's share of it, its stacking
compared with another stack size, its evaluation batch, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lt_utils.atomic import atomic_write_json
from lt_utils.bench.report import FIGURES, benchmark
from lt_utils.engine.step import resolve_step_mode
from lt_utils.errors import ConfigError, user_errors
from lt_utils.lottery.options import RunOptions
from lt_utils.validation import check_folder, check_int, require

PROG = "python -m lt_utils.bench"
"""The command as the user types it: the name its error messages start with."""


def main(argv: list[str] | None = None, prog: str = PROG) -> None:
    """Parse ``argv`` (default: the process's arguments), check it and benchmark; a user's mistake
    ends in one line ``PROG: error: ...`` with ``prog`` as the program's name (exit status 2)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
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


def check_data_and_out(args: argparse.Namespace) -> None:
    """Check a benchmark's ``--data-dir`` (a folder it can read) and ``--out`` (a file it can write)."""
    if args.data_dir is not None:
        check_folder("--data-dir", args.data_dir)
    if args.out is not None:
        require(not Path(args.out).is_dir(), "--out", args.out, "a file to write the report to; it is a folder")
        check_folder("--out", Path(args.out).parent, writable=True)


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
    check_data_and_out(args)
    device = RunOptions(device=args.device).torch_device()
    steps = _names(args.steps) if args.steps is not None else None
    require(steps is None or bool(steps), "--steps", args.steps, "a comma-separated list of step forms")
    for step in steps or []:
        resolve_step_mode(step, device)  # a bad or impossible form fails before any timing
    report = benchmark(models, device, args.data_dir, args.iterations, args.reference_iterations, steps, bf16_models)
    print(json.dumps(report, indent=2))
    if args.out:
        atomic_write_json(report, Path(args.out))
