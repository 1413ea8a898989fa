"""Tidy result tables and the summaries the figures plot.

One row per (variant, trial, replicate, round, evaluation). Variants: ``iterative`` (winning
tickets), ``reinit`` (same mask, fresh initialization), ``oneshot``, ``random_sparse``.

Every network has a row at every evaluation of the schedule. A metric that was not measured is
NaN (empty in the CSV): with ``TrainConfig.patience``, every metric after the network stopped
and its end-of-training values; with ``test_eval="where_read"``, the test metrics except at the
early-stopping evaluation and the last one. An accuracy is NaN only when it was not measured (a
diverged network's loss is NaN, its accuracy is not): readers test accuracies for availability.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lt_utils.atomic import atomic_write_table
from lt_utils.engine.training import FULL_TRAIN_METRICS, METRICS
from lt_utils.errors import DamagedResultWarning

KEY_COLUMNS = ("variant", "trial", "replicate", "round", "p_m")
GROUP = list(KEY_COLUMNS)  # the same columns, as the list pandas' groupby takes


def cached_table(path: Path, compute: Any, stored: Path | None = None) -> pd.DataFrame:
    """The table stored at ``path``; ``compute()`` makes and stores it (atomically) when missing,
    or, with a warning naming the file, when it cannot be read. Always read back from disk, so a
    first run and a resumed one return the same values. ``stored``: a committed copy, read
    instead of computing when ``path`` is missing."""
    if path.exists():
        try:
            return pd.read_csv(path)
        except Exception as error:  # truncated or garbled: recompute rather than crash or trust it

            warnings.warn(f"{path} cannot be read ({type(error).__name__}: {error}); recomputing it",
                          DamagedResultWarning, stacklevel=2)
    elif stored is not None:
        return pd.read_csv(stored)
    atomic_write_table(compute(), path)
    return pd.read_csv(path)


def curves_to_table(curves: torch.Tensor, eval_iterations: list[int], labels: list[dict[str, Any]],
                    final_train: torch.Tensor | None = None) -> pd.DataFrame:
    """Rows for networks ``labels[i]`` (their KEY_COLUMNS) from curves ``N x evaluations x METRICS``;
    ``final_train`` (``N x FULL_TRAIN_METRICS``, the whole training split) fills the
    ``FULL_TRAIN_METRICS`` columns of each network's last row (NaN on the others)."""
    n, e, _ = curves.shape
    table = pd.DataFrame(curves.reshape(n * e, len(METRICS)).double().numpy(), columns=list(METRICS))
    if final_train is not None:
        for j, column in enumerate(FULL_TRAIN_METRICS):
            values = torch.full((n, e), float("nan"), dtype=torch.float64)
            values[:, -1] = final_train[:, j].double()
            table[column] = values.reshape(-1).numpy()
    table.insert(0, "iteration", eval_iterations * n)
    for column in reversed(KEY_COLUMNS):
        table.insert(0, column, [label[column] for label in labels for _ in range(e)])
    table["diverged"] = diverged(curves).repeat_interleave(e).numpy()
    return table


def diverged(curves: torch.Tensor) -> torch.Tensor:
    """Networks (curves ``N x evaluations x METRICS``) with a non-finite loss where it was measured
    (where its accuracy is not NaN; see the module docstring)."""
    pairs = [(METRICS.index(f"{split}_loss"), METRICS.index(f"{split}_acc")) for split in ("val", "test", "train")]
    losses, accuracies = curves[..., [a for a, _ in pairs]], curves[..., [b for _, b in pairs]]
    return (~torch.isfinite(losses) & ~accuracies.isnan()).flatten(1).any(1)


def divergence_note(table: pd.DataFrame) -> str:
    """A caption sentence naming the networks whose loss became non-finite ("" when none did)."""
    diverged = table["diverged"].eq(True) if "diverged" in table else pd.Series(False, index=table.index)
    if not diverged.any():  # eq(True): rows of a table stored before the column (NaN once joined) are not flagged
        return ""
    bad = table[diverged].drop_duplicates(["variant", "trial", "replicate", "round"])
    parts = ", ".join(f"{v} round {r} ({n} networks)" for (v, r), n in
                      bad.groupby(["variant", "round"]).size().items())
    return (f"DIVERGED: {len(bad)} networks reached a non-finite loss ({parts}); their accuracies are "
            "not results.")


LATE_STOP = 0.9
"""An early stop at or past this share of the schedule may have been cut short by its end: its
iteration is a lower bound."""


def early_stopping(table: pd.DataFrame) -> pd.DataFrame:
    """One row per network: the evaluation with minimum validation loss (ties: the earliest, or
    the one whose test accuracy was measured: ``test_eval="where_read"`` picks the minimum in fp32,
    which the stored 6 digits may tie), with its test accuracy, plus the final evaluation's test
    accuracy, training accuracy on the tracked subset (``final_train_acc``) and on the whole
    training split (``final_train_acc_full``, ``final_train_loss_full``; NaN for tables stored
    before it was measured). ``trained_to``: the last evaluation measured (where ``patience``
    stopped the network; else the end of the schedule). A value not measured (see the module
    docstring) is NaN."""
    ordered = table.sort_values([*GROUP, "iteration"]).reset_index(drop=True)
    lowest = ordered["val_loss"] == ordered.groupby(GROUP, sort=False)["val_loss"].transform("min")
    candidates = ordered[lowest].assign(_unmeasured=ordered["test_acc"].isna())
    best = candidates.sort_values([*GROUP, "_unmeasured", "iteration"]).groupby(GROUP, sort=False).head(1)
    last = ordered.groupby(GROUP, sort=False).tail(1).set_index(GROUP)
    out = best.set_index(GROUP)[["iteration", "val_loss", "val_acc", "test_acc"]].rename(
        columns={"iteration": "es_iteration", "test_acc": "es_test_acc", "val_acc": "es_val_acc"})
    out["final_test_acc"] = last["test_acc"]
    out["final_train_acc"] = last["train_acc"]
    for column in FULL_TRAIN_METRICS:
        out[f"final_{column}"] = last[column] if column in last else float("nan")
    out["final_iteration"] = last["iteration"]
    out["trained_to"] = ordered[ordered["val_acc"].notna()].groupby(GROUP, sort=False)["iteration"].max()
    return out.reset_index()


def training_lengths(per_network: pd.DataFrame, iterations: int) -> pd.DataFrame:
    """What early termination saved, per network of ``early_stopping``'s table: its early-stopping
    iteration, where it stopped (``trained_to``), and the share of the ``iterations`` of the
    schedule it trained."""
    out = per_network[["variant", "trial", "replicate", "round", "p_m", "es_iteration", "trained_to"]].copy()
    out["share_trained"] = out["trained_to"] / iterations
    return out.sort_values(["round", "variant", "trial", "replicate"]).reset_index(drop=True)


def measured(frame: pd.DataFrame, column: str) -> bool:
    """Whether every row of ``frame`` has ``column``, an accuracy (a table's, or ``early_stopping``'s
    per network): False where it was not measured (see the module docstring)."""
    return column in frame and bool(frame[column].notna().all())


def summarize(per_network: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean, min and max over trials (and replicates) for each variant and round."""
    grouped = per_network.groupby(["variant", "round", "p_m"])[columns]
    out = grouped.agg(["mean", "min", "max", "count"])
    out.columns = [f"{c}_{stat}" for c, stat in out.columns]
    return out.reset_index().sort_values(["variant", "round"])


def accuracy_at(table: pd.DataFrame, iteration: int) -> pd.DataFrame:
    """One row per network: its metrics at the last evaluation at or before ``iteration``."""
    rows = table[table["iteration"] <= iteration].sort_values([*GROUP, "iteration"])
    return rows.groupby(GROUP, sort=False).tail(1).reset_index(drop=True)


PM_TOLERANCE = 0.15
"""How far (in percentage points of P_m) a run's P_m may lie from a P_m the paper names, to stand for it."""


def nearest_pm(p_ms: Sequence[float] | np.ndarray, pm: float, tol: float) -> float | None:
    """The P_m of ``p_ms`` nearest ``pm`` (ties: the densest), or None when none lies within ``tol``."""
    available = np.sort(np.asarray(p_ms, dtype=float))[::-1]
    if not len(available):
        return None
    nearest = float(available[np.argmin(np.abs(available - pm))])
    return nearest if abs(nearest - pm) <= tol else None
