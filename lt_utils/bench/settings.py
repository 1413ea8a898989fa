"""What the cheaper-run settings save, timed side by side on one machine in one run. For example::

    python -m lt_utils.bench.settings --data-dir ../shared/data --out book/bench/settings/cpu.json

The same small Lenet experiment (round 0 and round 1: a winning ticket and one random
reinitialization, by default) runs under each setting of ``settings``: the paper's full schedule;
early termination with the paper's masks (``prune_at="end"``); early termination pruning where
it stopped (``prune_at="stop"``, the shortcut); and early termination with the paper's masks and
the test set only where read (``test_eval="where_read"``), as the book's Conv-2 run has them.
Each run starts from an empty results folder, the settings run in turns (``--repeats`` times,
the fastest kept), and every wall time is set against the full schedule's from the same run, so
the ratios hold on the machine that measured them. The network-iterations each run trained are
read from its table (``training_lengths``).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lt_utils.atomic import atomic_write_json
from lt_utils.bench.command import check_data_and_out
from lt_utils.errors import user_errors
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import early_stopping, training_lengths
from lt_utils.validation import check_int

PROG = "python -m lt_utils.bench.settings"
"""The command as the user types it: the name its error messages start with."""

FULL = "full schedule (the paper's)"
"""The setting every other one is timed against."""


def settings(patience: int) -> dict[str, dict[str, Any]]:
    """Each setting timed, by its label: the overrides it applies to the benchmark's configuration."""
    return {
        FULL: {},
        "patience, masks from the end of the schedule (prune_at='end', the paper's masks)":
            {"patience": patience, "prune_at": "end"},
        "patience, pruned where it stopped (prune_at='stop', the shortcut)": {"patience": patience, "prune_at": "stop"},
        "patience (prune_at='end') and test set where read": {"patience": patience, "prune_at": "end",
                                                              "test_eval": "where_read"},
    }


def benchmark_config(iterations: int, rounds: int) -> ExperimentConfig:
    """The experiment every setting runs: Lenet on MNIST, one trial, one reinitialization per round."""
    return preset("lenet", iterations=iterations, rounds=rounds, trials=1, reinits=1, one_shot_rounds=(),
                  random_sparse=False)


def trained_network_iterations(cfg: ExperimentConfig, table: Any) -> tuple[int, int]:
    """The network-iterations a run trained, and those of its whole schedule."""
    lengths = training_lengths(early_stopping(table), cfg.train.iterations)
    return int(lengths["trained_to"].sum()), len(lengths) * cfg.train.iterations


def time_settings(cfg: ExperimentConfig, patience: int, options: RunOptions, repeats: int,
                  progress: bool = True) -> list[dict[str, Any]]:
    """Run ``cfg`` under every setting, in turns, ``repeats`` times (one progress bar over all the
    runs); one row per setting with its fastest wall time, its ratio to the full schedule's and the
    network-iterations it trained."""
    chosen = settings(patience)
    seconds: dict[str, list[float]] = {label: [] for label in chosen}
    trained: dict[str, tuple[int, int]] = {}
    with tqdm(total=repeats * len(chosen), desc="settings", disable=not progress) as bar:
        for _ in range(repeats):
            for label, overrides in chosen.items():
                run_cfg = cfg.with_overrides(**overrides)
                with tempfile.TemporaryDirectory() as folder:
                    start = time.perf_counter()
                    result = run_experiment(run_cfg, dataclasses.replace(options, results_dir=folder))
                    seconds[label].append(time.perf_counter() - start)
                trained[label] = trained_network_iterations(run_cfg, result.table)
                bar.update()
    full = min(seconds[FULL])
    return [{"setting": label, "overrides": overrides, "seconds": min(seconds[label]), "all_seconds": seconds[label],
             "time_vs_full": min(seconds[label]) / full, "network_iterations": trained[label][0],
             "schedule_network_iterations": trained[label][1]} for label, overrides in chosen.items()]


def report(iterations: int, rounds: int, patience: int, repeats: int, options: RunOptions,
           progress: bool = True) -> dict[str, Any]:
    """The whole report: the configuration, the machine and one row per setting."""
    options = dataclasses.replace(options, progress=False)
    cfg = benchmark_config(iterations, rounds)
    with tempfile.TemporaryDirectory() as folder:  # untimed: loads the data and warms the caches
        run_experiment(cfg.with_overrides(iterations=100, rounds=0), dataclasses.replace(options, results_dir=folder))
    rows = time_settings(cfg, patience, options, repeats, progress)
    device = options.torch_device()
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()})",
            "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "config": cfg.to_dict(), "patience": patience, "repeats": repeats, "settings": rows}


def main(argv: list[str] | None = None, prog: str = PROG) -> None:
    """Parse ``argv`` (default: the process's arguments), check it and time the settings."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--iterations", type=int, default=20_000, help="iterations per network (the book's Lenet)")
    parser.add_argument("--rounds", type=int, default=1, help="pruning rounds after round 0")
    parser.add_argument("--patience", type=int, default=2_000, help="patience in iterations (the book's runs')")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting, in turns (the fastest kept)")
    parser.add_argument("--out", default=None, help="write the report here (JSON)")
    args = parser.parse_args(argv)
    with user_errors(parser.prog):
        check_int("--iterations", args.iterations, 100)
        check_int("--rounds", args.rounds, 1)
        check_int("--patience", args.patience, 100)
        check_int("--repeats", args.repeats, 1)
        check_data_and_out(args)
        options = RunOptions(device=args.device, data_dir=args.data_dir)
        result = report(args.iterations, args.rounds, args.patience, args.repeats, options)
    for row in result["settings"]:
        print(f"{row['setting']}: {row['seconds']:.1f} s ({row['time_vs_full']:.2f}x the full schedule), "
              f"{row['network_iterations']:,} of {row['schedule_network_iterations']:,} network-iterations")
    if args.out is not None:
        atomic_write_json(result, Path(args.out))


if __name__ == "__main__":
    main()
