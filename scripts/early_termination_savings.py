"""What patience and test_eval="where_read" save, and what patience changes, for book/performance.md.

1. Patience, simulated on a stored table trained on the full schedule: each network stops at the
   first evaluation (before the last) whose iteration is at least ``patience`` past its minimum
   validation loss so far, as ``lt_utils.engine.training`` does; a round's stack ends when its last
   network stops. Exact for each stack's training given its masks; in a real patience run, rounds
   after the first prune other weights (those where training stopped), so it estimates them.
2. The parts of 100 iterations of a Lenet stack timed on this machine: the training steps and
   one evaluation of each split (the test set's is what "where_read" saves), and what patience
   adds per step (holding the stopped networks' weights).

    python scripts/early_termination_savings.py book/results/lenet-8c126bca3b.csv.gz --data-dir DATA
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import pandas as pd
import torch

from lt_utils.engine.data import Dataset, Split, load_dataset
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.pruning import dense_masks
from lt_utils.engine.stack import init_states
from lt_utils.engine.step import make_step_forms
from lt_utils.engine.training import evaluate_stack
from lt_utils.lottery.results import GROUP, early_stopping


def stop_iteration(curve: pd.DataFrame, patience: int) -> int | None:
    """Where a network with this validation curve (``iteration``, ``val_loss``) stops; None: never."""
    best, best_iteration = float("inf"), None
    for iteration, loss in zip(curve["iteration"].iloc[:-1], curve["val_loss"].iloc[:-1], strict=True):
        if loss < best:
            best, best_iteration = loss, iteration
        elif iteration - best_iteration >= patience:
            return int(iteration)
    return None


def simulate(table: pd.DataFrame, patience: int) -> dict[str, float]:
    """Share of training iterations saved (stacks: rounds) and networks whose early stopping changes."""
    end = int(table["iteration"].max())
    stops = {key: stop_iteration(rows.sort_values("iteration"), patience) for key, rows in table.groupby(GROUP)}
    last = pd.Series({key: at or end for key, at in stops.items()}, name="stop")
    cut = table.join(last, on=GROUP)
    full, early = early_stopping(table).set_index(GROUP), early_stopping(cut[cut["iteration"] <= cut["stop"]])
    early = early.set_index(GROUP)
    changed = full["es_iteration"] != early["es_iteration"]
    moved = 100 * (early["es_test_acc"] - full["es_test_acc"])[changed].abs()
    ends = last.groupby(level=GROUP.index("round")).max()
    return {"patience": patience, "networks stopped (%)": 100 * float((last < end).mean()),
            "training iterations saved (%)": 100 * float((end - ends).sum()) / (end * len(ends)),
            "networks whose early stop moved": f"{int(changed.sum())} of {len(changed)}",
            "their test accuracy there, mean change (pp)": float(moved.mean()) if len(moved) else 0.0}


def _best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def components(data: Dataset, networks: int, repeats: int) -> pd.DataFrame:
    """Seconds of each part of 100 iterations of a Lenet stack (best of ``repeats``): the steps, one
    evaluation of each split, and holding half the stack's networks (patience) after each step."""
    model, params, buffers = init_states("lenet", list(range(networks)))
    forms = make_step_forms("eager", model, params, buffers, dense_masks(params, model.layer_kinds), TrainConfig())
    generator = torch.Generator().manual_seed(0)
    index = torch.randint(len(data.train), (networks, 60), generator=generator)
    x, y = data.train.x[index], data.train.y[index]
    half = torch.arange(0, networks, 2)
    held = {k: v.detach()[half].clone() for k, v in params.items()}

    def steps() -> None:
        for _ in range(100):
            forms.step(x, y, 1e-3, 0.0)

    def hold() -> None:
        with torch.no_grad():
            for _ in range(100):
                for k, v in held.items():
                    params[k].index_copy_(0, half, v)

    def evaluate(split: Split) -> Callable[[], object]:
        return lambda: evaluate_stack(forms.score, params, buffers, split, 2_000)

    parts = {"100 training steps": steps, "validation (5,000)": evaluate(data.val),
             "test (10,000)": evaluate(data.test), f"training subset ({len(data.train_eval):,})":
             evaluate(data.train_eval), "patience: holding half the networks, 100 times": hold}
    steps()  # warm up
    seconds = {name: [] for name in parts}
    for _ in range(repeats):  # interleaved, so that a busy moment of the machine spreads over all
        for name, run in parts.items():
            seconds[name].append(_best_of(1, run))
    frame = pd.DataFrame({"part": list(parts), "seconds": [min(seconds[name]) for name in parts]})
    block = frame["seconds"].iloc[:4].sum()  # 100 iterations: steps and one evaluation of each split
    frame["share of 100 iterations (%)"] = 100 * frame["seconds"] / block
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--patience", type=int, nargs="+", default=[1_000, 2_000, 3_000, 5_000])
    args = parser.parse_args()
    table = pd.read_csv(args.table)
    print(pd.DataFrame([simulate(table, p) for p in args.patience]).to_markdown(index=False, floatfmt=".1f"))
    data = load_dataset("mnist", args.data_dir, "cpu", train_eval_size=5_000)
    print(f"\n{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}: Lenet x {args.networks}, eager step, best of {args.repeats}")
    print(components(data, args.networks, args.repeats).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
