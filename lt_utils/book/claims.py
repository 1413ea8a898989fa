"""Set the paper's headline claims beside this run's numbers, with a plain verdict.

A claim is *reproduced* when this run shows the paper's effect in the same direction and at
least half as large as the paper states (thresholds stated by the paper are used as they are;
a P_m the paper locates an effect at, such as where accuracy starts falling, within a factor of
2); *not reproduced* otherwise; *not run at this scale* when the run lacks the P_m or the variant;
*not measured in this run* when the run did not measure what the claim reads (``patience``
stopped networks before the end of training, whose accuracy there the claim needs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lt_utils.book import reference as ref
from lt_utils.chapters.landscape import barriers, spectrum_summary
from lt_utils.engine.data import DATASETS
from lt_utils.lottery.results import early_stopping, measured
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT, RST, UNIDLTH
from lt_utils.lottery.variants import label as variant_label

REPRODUCED, NOT_REPRODUCED, NOT_RUN = "reproduced", "not reproduced", "not run at this scale"
NOT_MEASURED = "not measured in this run"
MEASURED = "measured (the paper states no number)"


@dataclass(frozen=True)
class Claim:
    key: str
    claim: str  # the paper's statement
    paper: str  # the paper's number, as it states it
    this_run: float | None  # our number (None: could not be measured)
    unit: str
    verdict: str
    caveat: str = ""  # what limits the comparison (shown beside this run's number)

    def shown(self) -> str:
        """This run's number as a table shows it, with its caveat."""
        if self.this_run is None:
            return "—"
        return f"{self.this_run:.2f} {self.unit}" + (f" ({self.caveat})" if self.caveat else "")


def _mean_at(per_net: pd.DataFrame, variant: str, pm: float, column: str, tol: float = 0.15) -> float | None:
    rows = per_net[per_net["variant"] == variant] if variant != "dense" else per_net[per_net["round"] == 0]
    if rows.empty:
        return None
    pms = rows["p_m"].unique()
    nearest = pms[np.argmin(np.abs(pms - pm))]
    if abs(nearest - pm) > tol:
        return None
    return float(rows[rows["p_m"] == nearest][column].mean())


def _conv_texts() -> dict[str, tuple[str, str, str]]:
    texts = {}
    for model, (factor, at) in ref.CONV_ES_SPEEDUP.items():
        gain_pp, gain_at = ref.CONV_ACC_GAIN_PP[model]
        texts |= {
            f"{model}_es": (f"{model}: early stopping faster than unpruned at P_m {at}%", f"{factor}x faster", "x"),
            f"{model}_acc": (f"{model}: test accuracy gain over unpruned at P_m {gain_at}%", f"+{gain_pp} pp", "pp"),
            f"{model}_unpruned": (f"{model}: unpruned validation accuracy (appendix H)",
                                  f"{100 * ref.CONV_UNPRUNED_VAL_ACC[model]:.1f}%", "%"),
            f"{model}_dropout_gain": (f"{model}: dropout's gain in unpruned test accuracy",
                                      f"+{ref.CONV_DROPOUT_GAIN_PP[model]} pp", "pp")}
        if model in ref.CONV_DROPOUT_BEST:
            acc, pm = ref.CONV_DROPOUT_BEST[model]
            texts[f"{model}_dropout_best"] = (f"{model} with dropout: the best winning ticket's test accuracy, at "
                                              f"P_m {pm}%", f"{100 * acc:.1f}% at P_m {pm}%", "%")
    return texts


CATALOG: dict[str, dict[str, tuple[str, str, str]]] = {
    "lenet_imp": {
        "es_speedup_21": ("At P_m 21.1% the early-stopping iteration is earlier than the unpruned network's",
                          "38% earlier", "% earlier"),
        "acc_gain_13_5": ("Test accuracy at P_m 13.5% is higher than the original's", "> 0.3 pp higher", "pp"),
        "acc_back_3_6": ("At P_m 3.6% accuracy is back to about the original's", "about 0 pp", "pp"),
        "reinit_es_ratio_21": ("At P_m 21.1% the winning ticket reaches minimum validation loss faster than its "
                               "random reinitializations", "2.51x faster", "x"),
        "reinit_acc_gap_21": ("At P_m 21.1% the winning ticket is more accurate than its random reinitializations",
                              "about 0.5 pp", "pp"),
        "oneshot_acc": ("One-shot tickets beat the original's test accuracy for 95.0% >= P_m >= 5.17%",
                        "all of that range", "% of the run's P_m in range"),
        "unpruned_acc": ("Unpruned Lenet test accuracy (paper: read off a figure, unverified)", "about 98%", "%"),
        "oneshot_es": ("One-shot tickets reach minimum validation loss earlier than the original for 67.5% >= P_m "
                       ">= 17.6%", "all of that range", "% of the run's P_m in range"),
        "reinit_falls_21_1": ("The random reinitializations' test accuracy starts falling below the original's at "
                              "P_m 21.1% (and stays below at every sparser P_m)", "21.1%", "% P_m"),
        "ticket_falls_2_9": ("The winning tickets' test accuracy starts falling below the original's at P_m 2.9% "
                             "(and stays below at every sparser P_m)", "2.9%", "% P_m"),
        "train_acc_full": ("At 50K iterations, winning tickets' training accuracy (whole training set) is about "
                           "100%", "about 100%", "%"),
    },
    "conv_dropout": _conv_texts(),
    "vgg19_warmup": {
        "warmup_min_pm": ("With warmup, winning tickets (matching the unpruned accuracy at every P_m down to it) "
                          "exist down to P_m", f"{ref.VGG19_WARMUP_MIN_PM}%",
                          "% smallest P_m with every denser one matching"),
        "lr01_no_tickets": ("At lr 0.1 without warmup, pruned networks do no better than random reinitialization "
                            "(at every P_m of the run)", "no better", "pp ticket minus reinit (largest over P_m)"),
        "lr001_within_1pp": (f"At lr 0.01, pruned networks stay within 1 pp of the original's test accuracy for "
                             f"P_m >= {ref.VGG19_LR001_WITHIN_1PP_PM}%", "within 1 pp",
                             f"pp (lowest ticket minus original, P_m >= {ref.VGG19_LR001_WITHIN_1PP_PM}%)"),
    },
    "imp_landscape": {
        "imp_best_last_level": ("At the last level's sparsity, IMP with rewinding is more accurate than one-shot "
                                "pruning, fine-tuning, a random initialization and random masks",
                                "compared (Saleem et al.; no number in PAPER.md)", "pp IMP minus the best other"),
        "no_barrier": ("The training loss along the line between consecutive levels' minima shows no barrier",
                       "measured (no number in PAPER.md)", "largest barrier (training loss)"),
        "wider_minima": ("Later levels' minima are wider: a smaller top Hessian eigenvalue",
                         "measured (no number in PAPER.md)", "x top eigenvalue, last level over first"),
    },
    "dual_tickets": {
        "transform_vs_imp": ("At the sparsest target, a transformed random sparse network (RST, UniDLTH) is as "
                             "accurate as IMP's winning ticket", "DLTH's claim (no number in PAPER.md)",
                             "pp best transformed minus IMP"),
    },
}
"""Every claim the book checks, by page: key -> (the paper's statement, its value, this book's unit)."""


def _claim(page: str, key: str, value: float | None, verdict: str, unit: str | None = None) -> Claim:
    text, paper, default_unit = CATALOG[page][key]
    return Claim(key, text, paper, value, unit or default_unit, verdict)


def page_catalog(page: str) -> list[Claim]:
    """The claims a page checks, with no value: for a page not run yet."""
    return [_claim(page, key, None, NOT_RUN) for key in CATALOG[page]]


def _verdict(value: float | None, passes: bool) -> str:
    return NOT_RUN if value is None else (REPRODUCED if passes else NOT_REPRODUCED)


def _by_pm(per_net: pd.DataFrame, variant: str, column: str) -> pd.Series:
    """Mean of ``column`` per P_m for one variant, densest first."""
    rows = per_net[per_net["variant"] == variant]
    return rows.groupby("p_m")[column].mean().sort_index(ascending=False)


def _falls_at(curve: pd.Series, reference: float) -> float | None:
    """The P_m from which on (it and every sparser P_m) ``curve`` is below ``reference``; None: the
    sparsest P_m is not below it."""
    onset = None
    for p_m, value in curve.sort_index().items():  # sparsest first
        if not value < reference:
            break
        onset = float(p_m)
    return onset


def _matching_down_to(curve: pd.Series, reference: float) -> float | None:
    """The smallest P_m such that ``curve`` is at least ``reference`` at it and every denser P_m;
    None: the densest already falls short."""
    smallest = None
    for p_m, value in curve.sort_index(ascending=False).items():
        if value < reference:
            break
        smallest = float(p_m)
    return smallest


def _within_factor_2(value: float | None, paper: float) -> bool:
    return value is not None and paper / 2 <= value <= 2 * paper


def lenet_claims(table: pd.DataFrame) -> list[Claim]:
    """The Lenet claims of PAPER.md section 4 (Figures 1, 3, 4) measured on ``table``."""
    per_net = early_stopping(table)
    dense = per_net[per_net["round"] == 0]
    dense_es, dense_acc = float(dense["es_iteration"].mean()), float(dense["es_test_acc"].mean())
    claims = []

    def add(key: str, value: float | None, passes: bool, verdict: str | None = None) -> None:
        claims.append(_claim("lenet_imp", key, value, verdict or _verdict(value, passes)))

    es21 = _mean_at(per_net, ITERATIVE, 21.1, "es_iteration")
    speedup = None if es21 is None else 1 - es21 / dense_es
    add("es_speedup_21", None if speedup is None else 100 * speedup,
        speedup is not None and speedup >= ref.LENET_CLAIMS["es_speedup_21"] / 2)

    acc13 = _mean_at(per_net, ITERATIVE, 13.5, "es_test_acc")
    gain = None if acc13 is None else 100 * (acc13 - dense_acc)
    add("acc_gain_13_5", gain, gain is not None and gain > 0.3)

    acc36 = _mean_at(per_net, ITERATIVE, 3.6, "es_test_acc")
    drop = None if acc36 is None else 100 * (acc36 - dense_acc)
    add("acc_back_3_6", drop, drop is not None and abs(drop) <= 0.3)

    ticket_es = _mean_at(per_net, ITERATIVE, 21.1, "es_iteration")
    reinit_es = _mean_at(per_net, REINIT, 21.1, "es_iteration")
    ratio = None if ticket_es is None or reinit_es is None else reinit_es / ticket_es
    half_ratio = 1 + (ref.LENET_CLAIMS["reinit_es_ratio_21"] - 1) / 2
    add("reinit_es_ratio_21", ratio, ratio is not None and ratio >= half_ratio)

    ticket_acc = _mean_at(per_net, ITERATIVE, 21.1, "es_test_acc")
    reinit_acc = _mean_at(per_net, REINIT, 21.1, "es_test_acc")
    gap = None if ticket_acc is None or reinit_acc is None else 100 * (ticket_acc - reinit_acc)
    add("reinit_acc_gap_21", gap, gap is not None and gap >= ref.LENET_CLAIMS["reinit_acc_gap_21_pp"] / 2)

    oneshot = per_net[(per_net["variant"] == ONESHOT)]
    high, low = ref.LENET_CLAIMS["oneshot_acc_range"]
    in_range = oneshot[(oneshot["p_m"] <= high) & (oneshot["p_m"] >= low)].groupby("p_m")["es_test_acc"].mean()
    share = None if in_range.empty else float((in_range > dense_acc).mean()) * 100
    add("oneshot_acc", share, share is not None and share == 100)

    add("unpruned_acc", 100 * dense_acc, abs(dense_acc - ref.LENET_UNPRUNED_TEST_ACC) <= 0.005)

    high, low = ref.LENET_CLAIMS["oneshot_es_range"]
    in_range = oneshot[(oneshot["p_m"] <= high) & (oneshot["p_m"] >= low)].groupby("p_m")["es_iteration"].mean()
    share = None if in_range.empty else float((in_range < dense_es).mean()) * 100
    add("oneshot_es", share, share is not None and share == 100)

    for key, variant in (("reinit_falls_pm", REINIT), ("ticket_falls_pm", ITERATIVE)):
        paper = ref.LENET_CLAIMS[key]
        curve = _by_pm(per_net[per_net["round"] > 0], variant, "es_test_acc")
        onset = _falls_at(curve, dense_acc)
        ran = not curve.empty and curve.index.min() <= paper + 0.15
        verdict = NOT_RUN if not ran else REPRODUCED if _within_factor_2(onset, paper) else NOT_REPRODUCED
        add(key.replace("_pm", f"_{paper:g}".replace(".", "_")), onset, False, verdict)

    full = per_net[per_net["variant"] == ITERATIVE]["final_train_acc_full"].dropna()
    train_acc = None if full.empty else 100 * float(full.mean())
    long_enough = per_net["final_iteration"].max() >= ref.LENET_ITERATIONS
    ended = measured(per_net, "final_test_acc")  # patience: some networks stopped before the end
    add("train_acc_full", train_acc if ended else None, ended and train_acc is not None and train_acc >= 99.0,
        NOT_MEASURED if not ended else None if long_enough else NOT_RUN)
    return claims


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """A display table: claim, the paper's number, this run's number, verdict."""
    return pd.DataFrame({
        "claim": [c.claim for c in claims],
        "paper": [c.paper for c in claims],
        "this run": [c.shown() for c in claims],
        "verdict": [c.verdict for c in claims],
    })


def conv_claims(plain: dict[str, pd.DataFrame], dropout: dict[str, pd.DataFrame],
                dataset: str = "cifar10") -> list[Claim]:
    """Section 3's claims, in the page's order: measured for each Conv net run (``plain``: no
    dropout; ``dropout``: Figure 6), *not run at this scale* for the others. On
    ``dataset``: on another copy of CIFAR-10 than the paper's, a claim about an absolute accuracy
    says so beside its number (the relative claims compare like with like)."""
    claims = []
    other_copy = "" if dataset == "cifar10" else f"{DATASETS[dataset].label}: not comparable exactly"

    def add(key: str, value: float | None, passes: bool, unit: str | None = None) -> None:
        claim = _claim("conv_dropout", key, value, _verdict(value, passes), unit)
        claims.append(dataclasses.replace(claim, caveat=other_copy if key.endswith("_unpruned") else ""))

    for model, table in plain.items():
        per_net = early_stopping(table)
        dense = per_net[per_net["round"] == 0]
        factor, at = ref.CONV_ES_SPEEDUP[model]
        es = _mean_at(per_net, ITERATIVE, at, "es_iteration", tol=0.3)
        speed = None if es is None else float(dense["es_iteration"].mean()) / es
        add(f"{model}_es", speed, speed is not None and speed >= 1 + (factor - 1) / 2)
        gain_pp, at = ref.CONV_ACC_GAIN_PP[model]
        acc = _mean_at(per_net, ITERATIVE, at, "es_test_acc", tol=0.3)
        gain = None if acc is None else 100 * (acc - float(dense["es_test_acc"].mean()))
        add(f"{model}_acc", gain, gain is not None and gain >= gain_pp / 2)
        val = float(dense["es_val_acc"].mean())
        add(f"{model}_unpruned", 100 * val, abs(val - ref.CONV_UNPRUNED_VAL_ACC[model]) <= 0.02)
    for model, table in dropout.items():
        with_dropout = early_stopping(table)
        dense_acc = float(with_dropout[with_dropout["round"] == 0]["es_test_acc"].mean())
        if model in plain:
            without = early_stopping(plain[model])
            gain = 100 * (dense_acc - without[without["round"] == 0]["es_test_acc"].mean())
            add(f"{model}_dropout_gain", float(gain), gain >= ref.CONV_DROPOUT_GAIN_PP[model] / 2)
        if model in ref.CONV_DROPOUT_BEST:
            paper_acc, paper_pm = ref.CONV_DROPOUT_BEST[model]
            paper_gain = paper_acc - ref.CONV_DROPOUT_UNPRUNED[model]
            tickets = _by_pm(with_dropout[with_dropout["round"] > 0], ITERATIVE, "es_test_acc")
            ran = not tickets.empty and tickets.index.min() <= paper_pm + 0.3
            best, best_pm = (float(tickets.max()), float(tickets.idxmax())) if ran else (None, None)
            passes = ran and best - dense_acc >= paper_gain / 2 and _within_factor_2(best_pm, paper_pm)
            add(f"{model}_dropout_best", None if best is None else 100 * best, passes,
                None if best_pm is None else f"% at P_m {best_pm:.1f}%")
    measured_claims = {claim.key: claim for claim in claims}  # the networks not run: not run at this scale
    return [measured_claims.get(claim.key, claim) for claim in page_catalog("conv_dropout")]


def _warmup_min_pm(per_net: pd.DataFrame) -> Claim:
    dense = float(per_net[per_net["round"] == 0]["final_test_acc"].mean())
    tickets = _by_pm(per_net[per_net["round"] > 0], ITERATIVE, "final_test_acc")
    smallest = _matching_down_to(tickets, dense)
    reached = per_net["p_m"].min() <= ref.VGG19_WARMUP_MIN_PM + 0.2
    passes = smallest is not None and smallest <= 2 * ref.VGG19_WARMUP_MIN_PM
    return _claim("vgg19_warmup", "warmup_min_pm", smallest,
                  NOT_RUN if not reached else REPRODUCED if passes else NOT_REPRODUCED)


def _lr01_no_tickets(per_net: pd.DataFrame) -> Claim:
    pruned = per_net[per_net["round"] > 0]
    gaps = (100 * (_by_pm(pruned, ITERATIVE, "final_test_acc") - _by_pm(pruned, REINIT, "final_test_acc"))).dropna()
    worst = None if gaps.empty else float(gaps.max())
    return _claim("vgg19_warmup", "lr01_no_tickets", worst, _verdict(worst, worst is not None and worst <= 1.0))


def _lr001_within_1pp(per_net: pd.DataFrame) -> Claim:
    dense = float(per_net[per_net["round"] == 0]["final_test_acc"].mean())
    tickets = _by_pm(per_net[per_net["round"] > 0], ITERATIVE, "final_test_acc")
    floor = ref.VGG19_LR001_WITHIN_1PP_PM
    ran = not tickets.empty and tickets.index.min() <= floor + 0.2
    kept = tickets[tickets.index >= floor - 0.2]
    lowest = 100 * float(kept.min() - dense) if ran and not kept.empty else None
    return _claim("vgg19_warmup", "lr001_within_1pp", lowest,
                  _verdict(lowest, lowest is not None and lowest >= -ref.VGG19_LR001_WITHIN_PP))


VGG_CLAIMS = (("warmup", "warmup_min_pm", _warmup_min_pm), ("lr0.1", "lr01_no_tickets", _lr01_no_tickets),
              ("lr0.01", "lr001_within_1pp", _lr001_within_1pp))
"""Section 4's claims: the setting (``reference.VGG19_SETTINGS``) each reads, its key and its measure."""


def vgg_claims(tables: dict[str, pd.DataFrame]) -> list[Claim]:
    """Section 4's claims, from runs keyed by their label in ``reference.VGG19_SETTINGS``. Each reads
    test accuracy at the end of training: not measured where patience stopped networks before it."""
    claims = []
    for setting, key, measure in VGG_CLAIMS:
        table = tables.get(ref.VGG19_SETTINGS[setting][1])
        if table is not None:
            per_net = early_stopping(table)
            ended = measured(per_net, "final_test_acc")
            claims.append(measure(per_net) if ended else _claim("vgg19_warmup", key, None, NOT_MEASURED))
    return claims


def landscape_claims(table: pd.DataFrame, interpolation: pd.DataFrame, hessian: pd.DataFrame) -> list[Claim]:
    """What the IMP-landscape chapter measures, as rows of the scoreboard (no paper number to judge by)."""
    last = early_stopping(table[table["round"] == table["round"].max()])
    accuracy = last.groupby("variant")["final_test_acc"].mean()
    others = accuracy.drop(ITERATIVE, errors="ignore")
    margin = None if ITERATIVE not in accuracy or others.empty else 100 * (accuracy[ITERATIVE] - others.max())
    tops = spectrum_summary(hessian).groupby("level")["top"].mean()
    return [_claim("imp_landscape", "imp_best_last_level", margin, MEASURED),
            _claim("imp_landscape", "no_barrier", float(barriers(interpolation)["barrier"].max()), MEASURED),
            _claim("imp_landscape", "wider_minima", float(tops.iloc[-1] / tops.iloc[0]), MEASURED)]


def dual_claims(per_net: pd.DataFrame, methods: tuple[str, ...] = (RST, UNIDLTH)) -> list[Claim]:
    """What the finding-vs-transforming chapter measures, as a scoreboard row (``per_net``:
    ``transform.dual_summary``)."""
    sparsest = per_net[per_net["round"] == per_net["round"].max()].groupby("variant")["es_test_acc"].mean()
    transformed = sparsest.reindex(list(methods)).dropna()
    gap = None if transformed.empty or ITERATIVE not in sparsest else \
        100 * float(transformed.max() - sparsest[ITERATIVE])
    return [_claim("dual_tickets", "transform_vs_imp", gap, MEASURED)]


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


def variants_side_by_side(runs: dict[str, pd.DataFrame], p_ms: tuple[float, ...] = (51.3, 21.1, 7.0, 3.6),
                          variants: tuple[str, ...] = (ITERATIVE, REINIT, ONESHOT, RANDOM_SPARSE)) -> pd.DataFrame:
    """For each variant at each of ``p_ms`` (the unpruned network first), the mean early-stopping
    iteration and test accuracy there in each of ``runs`` (``{label: table}``), side by side."""
    per_net = {run: early_stopping(table) for run, table in runs.items()}
    rows = []
    for variant, p_m in [("dense", 100.0)] + [(v, p) for v in variants for p in p_ms]:
        row = {"": "unpruned" if variant == "dense" else variant_label(variant), "P_m (%)": f"{p_m:.1f}"}
        for run, per in per_net.items():
            es, acc = (_mean_at(per, variant, p_m, column) for column in ("es_iteration", "es_test_acc"))
            row[run] = "—" if es is None else f"{es:,.0f} it., {100 * acc:.2f}%"
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

