"""Runs of one page side by side: what moved between them (claims, diagnostics, networks at given P_m)."""

from __future__ import annotations

import pandas as pd

from lt_utils.book import reference as ref
from lt_utils.book.claims import Claim, at_pm
from lt_utils.lottery.results import early_stopping
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT
from lt_utils.lottery.variants import label as variant_label


def run_diagnostics(table: pd.DataFrame, iterations: int) -> dict[str, float]:
    """Numbers that explain a claim that does not reproduce: how often the minimum validation
    loss falls in the last tenth of training (the schedule cut it short), and how wide the
    spread over trials is compared with the effects the paper reports."""
    per_net = early_stopping(table)
    dense = per_net[per_net["round"] == 0]
    late = per_net["es_iteration"] >= 0.9 * iterations
    return {
        "late_share": 100 * float(late.mean()),
        "late_share_dense": 100 * float(late[per_net["round"] == 0].mean()),
        "dense_spread_pp": 100 * float(dense["es_test_acc"].max() - dense["es_test_acc"].min()),
        "trials": int(per_net["trial"].nunique()),
        "dense_es_iteration": float(dense["es_iteration"].mean()),
    }


DIAGNOSTICS = {"dense_es_iteration": "unpruned networks' early-stopping iteration (mean)",
               "late_share": "networks whose minimum falls in the last tenth of training (%)",
               "late_share_dense": "unpruned networks whose minimum falls in the last tenth (%)",
               "dense_spread_pp": "spread of unpruned test accuracy over trials (pp)"}
"""The ``run_diagnostics`` compared between runs, with their descriptions."""


def variants_side_by_side(runs: dict[str, pd.DataFrame], p_ms: tuple[float, ...] = ref.LENET_FIGURE3_PM[1:5],
                          variants: tuple[str, ...] = (ITERATIVE, REINIT, ONESHOT, RANDOM_SPARSE)) -> pd.DataFrame:
    """For each variant at each of ``p_ms`` (the unpruned network first), the mean early-stopping
    iteration and test accuracy there in each of ``runs`` (``{label: table}``), side by side."""
    per_net = {run: early_stopping(table) for run, table in runs.items()}
    rows = []
    for variant, p_m in [("dense", 100.0)] + [(v, p) for v in variants for p in p_ms]:
        row = {"": "unpruned" if variant == "dense" else variant_label(variant), "P_m (%)": f"{p_m:.1f}"}
        for run, per in per_net.items():
            es, acc = (at_pm(per, variant, p_m, column) for column in ("es_iteration", "es_test_acc"))
            row[run] = "—" if es is None else f"{es.value:,.0f} it., {100 * acc.value:.2f}%"
        if any(row[run] != "—" for run in runs):
            rows.append(row)
    return pd.DataFrame(rows)


def what_changed(before: tuple[str, list[Claim], dict[str, float]],
                 after: tuple[str, list[Claim], dict[str, float]]) -> str:
    """In words, from run ``before`` to run ``after`` (each ``(label, claims, run_diagnostics)``):
    the claims whose verdict changed, then how each diagnostic moved."""
    (label_a, claims_a, diag_a), (label_b, claims_b, diag_b) = before, after
    old = {c.key: c.verdict for c in claims_a}
    changed = [f"*{c.claim}*: {old[c.key]} → {c.verdict}" for c in claims_b if c.key in old and old[c.key] != c.verdict]
    verdicts = (f"From {label_a} to {label_b}, {len(changed)} verdict{'s' if len(changed) != 1 else ''} changed"
                + (": " + "; ".join(changed) + "." if changed else "."))
    moved = "; ".join(f"{text}: {diag_a[name]:.1f} → {diag_b[name]:.1f}" for name, text in DIAGNOSTICS.items()
                      if name in diag_a and name in diag_b)
    return f"{verdicts} The diagnostics moved as follows. {moved}."


def compare_runs(runs: dict[str, tuple[list[Claim], dict[str, float]]]) -> pd.DataFrame:
    """Two or more runs of one page side by side, ``{run label: (claims, run_diagnostics)}``: each
    claim's number and verdict per run, then the diagnostics (rows in the first run's order)."""
    first = next(iter(runs.values()))
    rows = [{"": c.claim, "paper": c.paper} for c in first[0]]
    for label, (claims, _) in runs.items():
        by_key = {c.key: c for c in claims}
        for row, claim in zip(rows, first[0], strict=True):
            mine = by_key.get(claim.key)
            row[label] = "—" if mine is None or mine.this_run is None else \
                f"{mine.this_run:.2f} {mine.unit} ({mine.verdict})"
    for name, text in DIAGNOSTICS.items():
        rows.append({"": text, "paper": ""} | {label: f"{diag[name]:.1f}" for label, (_, diag) in runs.items()})
    return pd.DataFrame(rows)

