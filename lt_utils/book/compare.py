"""Runs of one page side by side: what moved between them (claims, diagnostics, networks at given P_m), and
the two pruning protocols (``prune_at``) network by network."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pandas.io.formats.style import Styler

from lt_utils.book import reference as ref
from lt_utils.book.claims import MEASURED, NOT_MEASURED, NOT_PROTOCOL, NOT_RUN, NOT_RUN_YET, Claim, at_pm
from lt_utils.engine.pruning import mask_overlap
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import experiment_path, finished_rounds, load_table, load_ticket
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.results import LATE_STOP, early_stopping
from lt_utils.lottery.stored import stored_table
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT
from lt_utils.lottery.variants import label as variant_label


def run_diagnostics(table: pd.DataFrame, iterations: int) -> dict[str, float]:
    """Numbers that explain a claim that does not reproduce: how often the minimum validation
    loss falls in the last tenth of training (the schedule cut it short), and how wide the
    spread over trials is compared with the effects the paper reports."""
    per_net = early_stopping(table)
    dense = per_net[per_net["round"] == 0]
    late = per_net["es_iteration"] >= LATE_STOP * iterations
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


def _judged(verdict: str) -> bool:
    """Whether ``verdict`` judges its claim against a rule (not: not run, not measured, no rule, or withheld
    from a shortcut run)."""
    return verdict not in {NOT_RUN, NOT_RUN_YET, NOT_MEASURED, MEASURED, NOT_PROTOCOL}


def what_changed(before: tuple[str, list[Claim], dict[str, float]],
                 after: tuple[str, list[Claim], dict[str, float]]) -> str:
    """In words, from run ``before`` to run ``after`` (each ``(label, claims, run_diagnostics)``):
    the claims whose verdict changed, then how each diagnostic moved."""
    (label_a, claims_a, diag_a), (label_b, claims_b, diag_b) = before, after
    old = {c.key: c.verdict for c in claims_a}
    judged, other = [], []  # changes between two judgements; changes to or from an unjudged status
    for c in claims_b:
        if c.key in old and old[c.key] != c.verdict:
            both = _judged(old[c.key]) and _judged(c.verdict)
            (judged if both else other).append(f"*{c.claim}*: {old[c.key]} → {c.verdict}")
    verdicts = (f"From {label_a} to {label_b}, {len(judged)} of the claims both runs judge changed verdict"
                + (": " + "; ".join(judged) + "." if judged else "."))
    if other:
        verdicts += (f" {len(other)} claim{'s' if len(other) != 1 else ''} judged by at most one of them changed "
                     f"status: {'; '.join(other)}.")
    moved = "; ".join(f"{text}: {diag_a[name]:.1f} → {diag_b[name]:.1f}" for name, text in DIAGNOSTICS.items()
                      if name in diag_a and name in diag_b)
    return f"{verdicts} The diagnostics moved as follows. {moved}."


def shortcut_decision(paper: list[Claim], shortcut: list[Claim]) -> str:
    """Whether the shortcut (pruned where early termination stopped) may stand in for the paper's
    protocol, in words: it may only where it changes no verdict of a claim that both runs judge
    (a claim not run, not measured or without a rule in either run judges nothing)."""
    judged = {c.key: c.verdict for c in paper if _judged(c.verdict)}
    before = {c.key: judged[c.key] for c in shortcut if c.key in judged and _judged(c.verdict)}  # judged by both
    changed = [c.claim for c in shortcut if c.key in before and c.verdict != before[c.key]]
    if changed:
        return (f"**Which way it came out:** the shortcut changes the verdict of {len(changed)} of the {len(before)} "
                "claims both runs judge, so it may not stand in for the paper's protocol: wherever this book "
                "shows a run pruned where it stopped, its claims on pruned networks get no verdict (*not the "
                "paper's protocol*).")
    if not before:
        return ("**Which way it came out:** not yet. No claim is judged by both runs (the paper protocol's run may "
                "still be in progress), so this comparison decides nothing: the shortcut's claims on pruned "
                "networks keep no verdict (*not the paper's protocol*).")
    return (f"**Which way it came out:** the shortcut changes none of the verdicts of the {len(before)} claims "
            "both runs judge, so on this run it may stand in for the paper's protocol.")


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


def protocol_comparison(paper: pd.DataFrame, shortcut: pd.DataFrame,
                        overlap: dict[int, float] | None = None) -> pd.DataFrame:
    """The winning tickets of two runs of one configuration, round by round: ``paper`` pruned at the end
    of the schedule (``prune_at="end"``), ``shortcut`` where early termination stopped
    (``prune_at="stop"``). For each round both have: P_m, the early-stopping iteration and the test
    accuracy there under each protocol, and, where ``overlap`` has rounds, the share of the paper
    protocol's surviving weights that the shortcut's mask keeps too (``mask_overlap``)."""
    rows = []
    tickets = {name: early_stopping(t[t["variant"] == ITERATIVE]).groupby("round")
               for name, t in (("paper", paper), ("shortcut", shortcut))}
    means = {name: groups[["p_m", "es_iteration", "es_test_acc"]].mean() for name, groups in tickets.items()}
    for r in means["paper"].index.intersection(means["shortcut"].index):
        a, b = means["paper"].loc[r], means["shortcut"].loc[r]
        rows.append({"round": int(r), "P_m (%)": round(float(a["p_m"]), 1),
                     "early stop, end of schedule": a["es_iteration"], "early stop, where stopped": b["es_iteration"],
                     "test acc. (%), end of schedule": 100 * a["es_test_acc"],
                     "test acc. (%), where stopped": 100 * b["es_test_acc"],
                     **({OVERLAP_COLUMN: 100 * overlap[r] if r in overlap else float("nan")} if overlap else {})})
    return pd.DataFrame(rows)


def styled_comparison(side_by_side: pd.DataFrame) -> Styler:
    """:func:`protocol_comparison`'s table as a page shows it: iterations as whole numbers, the rest to
    one decimal, a share of masks not at hand said so."""
    iterations = [column for column in side_by_side if column.startswith("early stop")]
    return (side_by_side.style.hide(axis="index").format(precision=1, na_rep="not at hand")
            .format("{:,.0f}", subset=iterations))


OVERLAP_COLUMN = "masks in common (%)"
"""``protocol_comparison``'s column of masks in common: left out where no round's tickets are at hand."""
OVERLAP_NOT_AT_HAND = ("Masks in common: not at hand here. Only the runs' tables are committed; their tickets stay "
                       "on the machine that trained them.")


def shortcut_of(cfg: ExperimentConfig, patience: int | None = None) -> ExperimentConfig:
    """The run of ``cfg`` pruned where early termination stopped (``prune_at="stop"``), with ``cfg``'s
    patience or, where it has none, ``patience``."""
    return cfg.with_overrides(patience=cfg.train.patience or patience, prune_at="stop")


def _table_of(cfg: ExperimentConfig, options: RunOptions) -> pd.DataFrame | None:
    """``cfg``'s table: the committed one (``options.stored_dir``), else the finished rounds in
    ``options.results_dir``, else None."""
    stored = options.stored_dir
    table = stored_table(cfg, stored, cfg.key_for(options.identity(cfg))) if stored else None
    if table is None and experiment_path(cfg, options.results_dir, options).is_dir():
        table = load_table(cfg, options.results_dir, options)
    return table if table is not None and len(table) else None


def ticket_overlaps(paper: ExperimentConfig, shortcut: ExperimentConfig, results_dir: str | Path,
                    options: RunOptions | None = None) -> dict[int, float]:
    """For each round both runs finished in ``results_dir``, the mean over trials of the share of the
    paper protocol's surviving weights that the shortcut's mask keeps too; empty where either run's
    tickets are not at hand (only the tables are committed)."""
    options = options or RunOptions(device="cpu")
    rounds = set(finished_rounds(paper, results_dir, options)) & set(finished_rounds(shortcut, results_dir, options))
    out = {}
    for r in sorted(rounds):
        shares = [mask_overlap(load_ticket(paper, results_dir, r, t, options=options)[1],
                               load_ticket(shortcut, results_dir, r, t, options=options)[1])
                  for t in range(min(paper.trials, shortcut.trials))]
        out[r] = sum(shares) / len(shares)
    return out


def protocols_side_by_side(cfg: ExperimentConfig, table: pd.DataFrame, options: RunOptions,
                           patience: int | None = None) -> tuple[ExperimentConfig, pd.DataFrame | None, pd.DataFrame]:
    """``cfg``'s run (the paper's protocol, run with ``options``) beside its shortcut's (:func:`shortcut_of`,
    looked up with the same options): the shortcut's configuration, its table (None where it has not
    been run) and :func:`protocol_comparison`."""
    other = shortcut_of(cfg, patience)
    other_table = _table_of(other, options)
    if other_table is None:
        return other, None, pd.DataFrame()
    results_dir = options.results_dir
    overlap = ticket_overlaps(cfg, other, results_dir, options) if Path(results_dir).is_dir() else {}
    return other, other_table, protocol_comparison(table, other_table, overlap)
