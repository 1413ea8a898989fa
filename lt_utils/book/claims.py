"""The paper's claims beside this book's numbers: one table of claims, one function that judges them.

Each entry of ``CLAIMS`` holds a claim's page, its statement (filled from the paper's value in
``lt_utils.book.reference``, never re-typed), the paper's value as it states it, the measure it
reads from a run's tables, its rule (the values that count as reproducing it) and the deviations
that qualify it. ``evaluate_claims`` measures a page's claims; pages, the scoreboard and the
notebooks read only from it.

Every measured value comes with a range (``lt_utils.book.noise``): over two or more trials,
the trials' min and max; with one trial, the spread that early stopping's own noise allows. The
verdict:

- *reproduced*: the whole range satisfies the rule (the paper's effect in the same direction and
  at least half as large; a P_m the paper locates an effect at, within a factor of 2);
- *not reproduced*: no value in the range satisfies it;
- *inconclusive*: the range straddles the rule's threshold;
- *measured*: no rule applies (the paper states no number), or the claim is about an absolute
  accuracy on a copy of the data that the book calls not comparable exactly;
- *not run at this scale*: the run lacks the P_m or the variant the claim reads, or the claim
  reads every pruned round (a range, the sparsest P_m, the best ticket) of a run still in progress;
- *not run yet*: the book has no run of the network the claim reads (Conv-4 on a page run for
  Conv-2 only, or a page never run);
- *not measured in this run*: the run did not measure what the claim reads;
- *not the paper's protocol*: the claim reads pruned networks of a run pruned where early
  termination stopped (``prune_at="stop"``), whose masks are not the paper's; measured against
  the paper's protocol on Lenet, that shortcut changes verdicts, so it judges none (the
  comparison of the two protocols asks for its verdicts with ``judge_shortcut``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from lt_utils.book import reference as ref
from lt_utils.book.noise import RANGED, Interval, near_minimum_ranges
from lt_utils.chapters.landscape import barriers, spectrum_summary
from lt_utils.engine.data import DATASETS
from lt_utils.lottery.results import PM_TOLERANCE, early_stopping, measured, nearest_pm
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, REINIT, RST, UNIDLTH

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_RUN, NOT_MEASURED = "not run at this scale", "not measured in this run"
MEASURED = "measured (no verdict)"
NOT_PROTOCOL = "not the paper's protocol"
NOT_RUN_YET = "not run yet"
VERDICTS = (REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED, MEASURED, NOT_PROTOCOL, NOT_RUN, NOT_MEASURED, NOT_RUN_YET)
"""Every verdict, in the order the scoreboard counts them."""

CONV_PM_TOLERANCE = 0.3
"""``PM_TOLERANCE`` for the Conv nets, whose per-layer rounding moves P_m a little more."""


@dataclass(frozen=True)
class Rule:
    """The values of a measure that reproduce a claim: ``low <= x <= high``, in words ``text``."""

    low: float = -math.inf
    high: float = math.inf
    text: str = ""

    def passes(self, x: float) -> bool:
        return self.low <= x <= self.high

    def verdict(self, low: float, high: float) -> str:
        """Reproduced when all of ``[low, high]`` passes, not reproduced when none of it does,
        else inconclusive."""
        if self.passes(low) and self.passes(high):
            return REPRODUCED
        if high < self.low or low > self.high:
            return NOT_REPRODUCED
        return INCONCLUSIVE


def at_least(threshold: float, unit: str) -> Rule:
    return Rule(low=threshold, text=f">= {threshold:.3g} {unit}")


def within(centre: float, tolerance: float, unit: str) -> Rule:
    """``centre ± tolerance``; an accuracy's (unit ``%``) tolerance is in percentage points."""
    if unit == "%":
        return Rule(centre - tolerance, centre + tolerance, f"within ±{tolerance:g} pp of {centre:g}%")
    return Rule(centre - tolerance, centre + tolerance, f"within ±{tolerance:g} {unit} of {centre:g} {unit}")


def within_factor_2(paper: float) -> Rule:
    return Rule(paper / 2, 2 * paper, f"between {paper / 2:.3g}% and {2 * paper:.3g}% (a factor of 2)")


@dataclass(frozen=True)
class Measured:
    """What a measure found: a value with its range, or why there is none.

    ``text`` shows the value where a number alone would mislead (``"never, down to P_m 1.9%"``);
    ``unit`` overrides the claim's; ``status`` (``NOT_RUN``, ``NOT_MEASURED``) says why there is no
    value; ``value=None`` with a ``text`` and a range is a value that is only bounded."""

    value: float | None
    low: float | None = None
    high: float | None = None
    text: str = ""
    unit: str | None = None
    status: str | None = None

    @staticmethod
    def of(x: Interval | float | None, **kwargs: Any) -> Measured:
        if x is None:
            return Measured(None, status=NOT_RUN, **kwargs)
        i = Interval.of(x)
        return Measured(i.value, i.low, i.high, **kwargs)


NOT_RUN_HERE = Measured(None, status=NOT_RUN)
NO_RUN = Measured(None, status=NOT_RUN_YET)


class View:
    """A page's runs as a claim's measure reads them: ``per_net(run)`` is ``early_stopping``'s table of
    run ``run`` (a preset's name), with near-minimum ranges where ``ranged`` (by default: the runs
    have one trial)."""

    def __init__(self, tables: dict[str, pd.DataFrame], extra: dict[str, Any], ranged: bool | None = None):
        self.tables, self.extra = tables, extra
        self.ranged = len(self.trials) == 1 if ranged is None else ranged
        self._per_net: dict[str, pd.DataFrame] = {}

    def per_net(self, run: str) -> pd.DataFrame | None:
        if run not in self.tables:
            return None
        if run not in self._per_net:
            table = self.tables[run]
            self._per_net[run] = near_minimum_ranges(table) if self.ranged else early_stopping(table)
        return self._per_net[run]

    @cached_property
    def trials(self) -> list[int]:
        return sorted(set().union(*(set(t["trial"].unique()) for t in self.tables.values()))) if self.tables else []

    def for_trial(self, trial: int) -> View:
        """The same runs, trial ``trial`` only (its ranges: none)."""
        return View({k: t[t["trial"] == trial] for k, t in self.tables.items()}, self.extra, ranged=False)


Measure = Callable[[View], Measured]


@dataclass(frozen=True)
class ClaimSpec:
    """One claim the book checks (see the module docstring)."""

    page: str
    key: str
    statement: str
    paper: str
    unit: str
    measure: Measure
    rule: Rule | None = None  # None: no verdict (the paper states no number)
    absolute: bool = False  # about an absolute accuracy: only *measured* on a copy of the paper's data
    deviations: tuple[str, ...] = ()  # what qualifies it, shown beside its number
    runs: tuple[str, ...] = field(default=())  # the runs (presets) it reads; empty: any
    pruned: bool = True  # it reads pruned rounds (False: the unpruned networks only)
    whole_run: bool = False  # it reads every pruned round (a range, the sparsest, the best): none until all are run


@dataclass(frozen=True)
class Claim:
    """A claim as measured: the statement, the paper's value, this run's value and range, the verdict."""

    key: str
    claim: str
    paper: str
    this_run: float | None
    unit: str
    verdict: str
    caveat: str = ""  # what limits the comparison (shown beside this run's number)
    low: float | None = None
    high: float | None = None
    text: str = ""  # the value in words, where a number alone would mislead
    rule: str = ""

    def shown(self) -> str:
        """This run's number as a table shows it: the value, its range, its caveat."""
        if self.this_run is None and not self.text:
            return "—"
        number = self.text or f"{self.this_run:.2f} {self.unit}"
        spread = self.low is not None and self.high is not None and self.this_run is not None \
            and not math.isclose(self.low, self.high, abs_tol=5e-3)
        if spread:
            number += f" (range {self.low:.2f} to {self.high:.2f})"
        return number + (f" ({self.caveat})" if self.caveat else "")


# Reading a run's networks ------------------------------------------------------------------------

def _tickets(per_net: pd.DataFrame) -> pd.DataFrame:
    """The winning tickets (the unpruned networks among them)."""
    return per_net[per_net["variant"] == ITERATIVE]


def _rows(per_net: pd.DataFrame | None, variant: str) -> pd.DataFrame:
    if per_net is None:
        return pd.DataFrame()
    return per_net[per_net["round"] == 0] if variant == "dense" else per_net[per_net["variant"] == variant]


def _interval(rows: pd.DataFrame, column: str) -> Interval:
    """The mean of ``column`` over ``rows``, with the mean of its near-minimum range where there is one."""
    value = float(rows[column].mean())
    if column in RANGED and f"{column}_low" in rows:
        return Interval(value, float(rows[f"{column}_low"].mean()), float(rows[f"{column}_high"].mean()))
    return Interval.of(value)


def at_pm(per_net: pd.DataFrame | None, variant: str, pm: float, column: str,
          tol: float = PM_TOLERANCE) -> Interval | None:
    """``variant``'s mean ``column`` at the run's P_m nearest ``pm`` (``"dense"``: the unpruned
    networks), with its range; None when the run has no P_m within ``tol``."""
    rows = _rows(per_net, variant)
    if rows.empty:
        return None
    nearest = nearest_pm(rows["p_m"].unique(), pm, tol)
    return None if nearest is None else _interval(rows[rows["p_m"] == nearest], column)


def by_pm(per_net: pd.DataFrame | None, variant: str, column: str) -> dict[float, Interval]:
    """``variant``'s mean ``column`` at each pruned P_m (round >= 1), densest first, with ranges."""
    rows = _rows(per_net, variant)
    if rows.empty:
        return {}
    rows = rows[rows["round"] > 0]
    return {float(p): _interval(group, column) for p, group in
            sorted(rows.groupby("p_m"), key=lambda item: -item[0])}


def _dense(per_net: pd.DataFrame | None, column: str) -> Interval | None:
    rows = _rows(per_net, "dense")
    return None if rows.empty else _interval(rows, column)


def falls_at(curve: dict[float, Interval], reference: Interval) -> Measured:
    """The P_m from which on (it and every sparser P_m) ``curve`` is below ``reference``: its value,
    and its range from the P_m below which the curve is surely below to the one below which it may
    be. Where it never falls, ``"never, down to P_m X%"``, bounded by the sparsest P_m X."""
    def onset(below: Callable[[Interval], bool]) -> float | None:
        found = None
        for p_m, value in sorted(curve.items()):  # sparsest first
            if not below(value):
                break
            found = p_m
        return found

    sparsest = min(curve)
    value = onset(lambda v: v.value < reference.value)
    sure, maybe = onset(lambda v: v.high < reference.low), onset(lambda v: v.low < reference.high)
    low = sure if sure is not None else 0.0  # surely below from `sure` on; else perhaps only beyond the run
    high = maybe if maybe is not None else sparsest
    if value is None:
        return Measured(None, 0.0 if sure is None else low, sparsest if maybe is None else high,
                        text=f"never, down to P_m {sparsest:.2g}%")
    return Measured(value, min(low, value), max(high, value))


def _share(values: dict[float, Interval], beats: Callable[[Interval], bool], surely: Callable[[Interval], bool],
           maybe: Callable[[Interval], bool]) -> Measured:
    """The share (%) of ``values``' P_m where ``beats`` holds, with its range from ``surely`` to ``maybe``."""
    if not values:
        return NOT_RUN_HERE
    share = {name: 100 * float(np.mean([test(v) for v in values.values()]))
             for name, test in (("value", beats), ("low", surely), ("high", maybe))}
    return Measured(share["value"], share["low"], share["high"])


def _in_range(curve: dict[float, Interval], high: float, low: float) -> dict[float, Interval]:
    return {p: v for p, v in curve.items() if low <= p <= high}


def _lowest(items: list[Interval]) -> Interval | None:
    return Interval.lowest(items) if items else None


def _measure_or_none(*parts: Interval | None) -> bool:
    return all(p is not None for p in parts)


# Lenet (section 2) -----------------------------------------------------------------------------

LENET = "lenet"


def _lenet(view: View) -> pd.DataFrame | None:
    return view.per_net(LENET)


def _lenet_es_speedup(view: View) -> Measured:
    per, (_, at) = _lenet(view), ref.LENET_CLAIMS["es_speedup_21"]
    ticket, dense = at_pm(per, ITERATIVE, at, "es_iteration"), _dense(per, "es_iteration")
    return Measured.of(100 * (1 - ticket / dense) if _measure_or_none(ticket, dense) else None)


def _lenet_acc_gain(view: View) -> Measured:
    per, (_, at) = _lenet(view), ref.LENET_CLAIMS["acc_gain_13_5_pp"]
    ticket, dense = at_pm(per, ITERATIVE, at, "es_test_acc"), _dense(per, "es_test_acc")
    return Measured.of(100 * (ticket - dense) if _measure_or_none(ticket, dense) else None)


def _lenet_acc_back(view: View) -> Measured:
    per = _lenet(view)
    ticket, dense = at_pm(per, ITERATIVE, ref.LENET_CLAIMS["acc_back_pm"], "es_test_acc"), _dense(per, "es_test_acc")
    return Measured.of(100 * (ticket - dense) if _measure_or_none(ticket, dense) else None)


def _lenet_reinit_es(view: View) -> Measured:
    per, (_, at) = _lenet(view), ref.LENET_CLAIMS["reinit_es_ratio_21"]
    ticket, reinit = at_pm(per, ITERATIVE, at, "es_iteration"), at_pm(per, REINIT, at, "es_iteration")
    return Measured.of(reinit / ticket if _measure_or_none(ticket, reinit) else None)


def _lenet_reinit_acc(view: View) -> Measured:
    per, (_, at) = _lenet(view), ref.LENET_CLAIMS["reinit_acc_gap_21_pp"]
    ticket, reinit = at_pm(per, ITERATIVE, at, "es_test_acc"), at_pm(per, REINIT, at, "es_test_acc")
    return Measured.of(100 * (ticket - reinit) if _measure_or_none(ticket, reinit) else None)


def _lenet_oneshot(column: str, key: str, earlier: bool) -> Measure:
    """The share of one-shot P_m in the paper's range where one-shot beats the original on ``column``."""
    def measure(view: View) -> Measured:
        per = _lenet(view)
        dense = _dense(per, column)
        values = _in_range(by_pm(per, ONESHOT, column), *ref.LENET_CLAIMS[key])
        if dense is None or not values:
            return NOT_RUN_HERE
        if earlier:
            return _share(values, lambda v: v.value < dense.value, lambda v: v.high < dense.low,
                          lambda v: v.low < dense.high)
        return _share(values, lambda v: v.value > dense.value, lambda v: v.low > dense.high,
                      lambda v: v.high > dense.low)
    return measure


def _lenet_falls(variant: str, key: str) -> Measure:
    def measure(view: View) -> Measured:
        per = _lenet(view)
        curve, dense = by_pm(per, variant, "es_test_acc"), _dense(per, "es_test_acc")
        if dense is None or not curve or min(curve) > ref.LENET_CLAIMS[key] + PM_TOLERANCE:
            return NOT_RUN_HERE
        return falls_at(curve, dense)
    return measure


def _lenet_unpruned(view: View) -> Measured:
    dense = _dense(_lenet(view), "es_test_acc")
    return Measured.of(None if dense is None else 100 * dense)


def _lenet_train_acc(view: View) -> Measured:
    per = _lenet(view)
    if per is None:
        return NOT_RUN_HERE
    if not measured(_tickets(per), "final_test_acc"):  # prune_at="stop": the tickets stopped before the end
        return Measured(None, status=NOT_MEASURED)
    if per["final_iteration"].max() < ref.LENET_ITERATIONS:
        return NOT_RUN_HERE
    full = per[per["variant"] == ITERATIVE]["final_train_acc_full"].dropna()
    return Measured.of(None if full.empty else 100 * float(full.mean()))


def _lenet_claims() -> list[ClaimSpec]:
    c = ref.LENET_CLAIMS
    earlier, at_es = c["es_speedup_21"]
    gain, at_gain = c["acc_gain_13_5_pp"]
    ratio, at_ratio = c["reinit_es_ratio_21"]
    gap, at_gap = c["reinit_acc_gap_21_pp"]
    acc_high, acc_low = c["oneshot_acc_range"]
    es_high, es_low = c["oneshot_es_range"]
    page = "lenet_imp"
    return [
        ClaimSpec(page, "es_speedup_21", f"At P_m {at_es}% the early-stopping iteration is earlier than the unpruned "
                  "network's", f"{100 * earlier:.0f}% earlier", "% earlier", _lenet_es_speedup,
                  at_least(100 * earlier / 2, "% earlier")),
        ClaimSpec(page, "acc_gain_13_5", f"Test accuracy at P_m {at_gain}% is higher than the original's",
                  f"> {gain} pp higher", "pp", _lenet_acc_gain, at_least(gain, "pp")),
        ClaimSpec(page, "acc_back_3_6", f"At P_m {c['acc_back_pm']}% accuracy is back to about the original's",
                  "about 0 pp", "pp", _lenet_acc_back, within(0, gain, "pp")),
        ClaimSpec(page, "reinit_es_ratio_21", f"At P_m {at_ratio}% the winning ticket reaches minimum validation "
                  "loss faster than its random reinitializations", f"{ratio}x faster", "x", _lenet_reinit_es,
                  at_least(1 + (ratio - 1) / 2, "x")),
        ClaimSpec(page, "reinit_acc_gap_21", f"At P_m {at_gap}% the winning ticket is more accurate than its random "
                  "reinitializations", f"about {gap} pp", "pp", _lenet_reinit_acc, at_least(gap / 2, "pp")),
        ClaimSpec(page, "oneshot_acc", f"One-shot tickets beat the original's test accuracy for {acc_high}% >= P_m "
                  f">= {acc_low}%", "all of that range", "% of the run's P_m in range",
                  _lenet_oneshot("es_test_acc", "oneshot_acc_range", earlier=False), at_least(100, "%")),
        ClaimSpec(page, "unpruned_acc", "Unpruned Lenet test accuracy (paper: read off a figure, unverified)",
                  f"about {100 * ref.LENET_UNPRUNED_TEST_ACC:.0f}%", "%", _lenet_unpruned,
                  within(100 * ref.LENET_UNPRUNED_TEST_ACC, 0.5, "%"), absolute=True, pruned=False),
        ClaimSpec(page, "oneshot_es", f"One-shot tickets reach minimum validation loss earlier than the original for "
                  f"{es_high}% >= P_m >= {es_low}%", "all of that range", "% of the run's P_m in range",
                  _lenet_oneshot("es_iteration", "oneshot_es_range", earlier=True), at_least(100, "%")),
        ClaimSpec(page, "reinit_falls_21_1", f"The random reinitializations' test accuracy starts falling below the "
                  f"original's at P_m {c['reinit_falls_pm']}% (and stays below at every sparser P_m)",
                  f"{c['reinit_falls_pm']}%", "% P_m", _lenet_falls(REINIT, "reinit_falls_pm"),
                  within_factor_2(c["reinit_falls_pm"]), whole_run=True),
        ClaimSpec(page, "ticket_falls_2_9", f"The winning tickets' test accuracy starts falling below the "
                  f"original's at P_m {c['ticket_falls_pm']}% (and stays below at every sparser P_m)",
                  f"{c['ticket_falls_pm']}%", "% P_m", _lenet_falls(ITERATIVE, "ticket_falls_pm"),
                  within_factor_2(c["ticket_falls_pm"]), whole_run=True),
        ClaimSpec(page, "train_acc_full", f"At {ref.LENET_ITERATIONS // 1000}K iterations, winning tickets' training "
                  "accuracy (whole training set) is about 100%", "about 100%", "%", _lenet_train_acc,
                  at_least(99.0, "%"), absolute=True),
    ]


# Conv-2/4/6 (section 3, appendix H) ------------------------------------------------------------

def _conv_es(model: str) -> Measure:
    def measure(view: View) -> Measured:
        per, (_, at) = view.per_net(model), ref.CONV_ES_SPEEDUP[model]
        ticket, dense = at_pm(per, ITERATIVE, at, "es_iteration", CONV_PM_TOLERANCE), _dense(per, "es_iteration")
        return Measured.of(dense / ticket if _measure_or_none(ticket, dense) else None)
    return measure


def _conv_gain(model: str) -> Measure:
    def measure(view: View) -> Measured:
        per, (_, at) = view.per_net(model), ref.CONV_ACC_GAIN_PP[model]
        ticket, dense = at_pm(per, ITERATIVE, at, "es_test_acc", CONV_PM_TOLERANCE), _dense(per, "es_test_acc")
        return Measured.of(100 * (ticket - dense) if _measure_or_none(ticket, dense) else None)
    return measure


def _conv_unpruned(model: str) -> Measure:
    def measure(view: View) -> Measured:
        dense = _dense(view.per_net(model), "es_val_acc")
        return Measured.of(None if dense is None else 100 * dense)
    return measure


def _conv_above_original(model: str) -> Measure:
    """The lowest margin (pp) of the winning tickets over the original's accuracy while P_m > 2%."""
    def measure(view: View) -> Measured:
        per = view.per_net(model)
        dense = _dense(per, "es_test_acc")
        curve = {p: v for p, v in by_pm(per, ITERATIVE, "es_test_acc").items() if p > ref.CONV_ABOVE_ORIGINAL_PM}
        if dense is None or len(curve) < 3:  # "stays above" needs a pruned curve, not a point or two
            return NOT_RUN_HERE
        return Measured.of(_lowest([100 * (v - dense) for v in curve.values()]),
                           unit=f"pp (lowest, P_m {min(curve):.1f}% to {max(curve):.1f}%)")
    return measure


def _reinit_pairs(view: View, model: str, column: str) -> list[tuple[float, Interval, Interval]]:
    """(P_m, ticket, reinit) at each P_m where the run has both, densest first."""
    per = view.per_net(model)
    tickets, reinits = by_pm(per, ITERATIVE, column), by_pm(per, REINIT, column)
    return [(p, tickets[p], reinits[p]) for p in reinits if p in tickets]


def _conv_reinit_slower(model: str) -> Measure:
    def measure(view: View) -> Measured:
        pairs = _reinit_pairs(view, model, "es_iteration")
        return Measured.of(_lowest([reinit / ticket for _, ticket, reinit in pairs]))
    return measure


def _conv_reinit_less_accurate(model: str) -> Measure:
    """The ticket's accuracy lead over its reinitializations at the sparsest P_m that has them (the paper:
    reinitializations at first hold their accuracy at moderate pruning, then fall behind)."""
    def measure(view: View) -> Measured:
        pairs = _reinit_pairs(view, model, "es_test_acc")
        if not pairs:
            return NOT_RUN_HERE
        p_m, ticket, reinit = pairs[-1]
        return Measured.of(100 * (ticket - reinit), unit=f"pp (at P_m {p_m:.1f}%)")
    return measure


def _conv_reinit_gap_widens(model: str) -> Measure:
    """The ticket's accuracy lead over its reinitialization at the sparsest P_m that has one, less
    that at the densest (pp)."""
    def measure(view: View) -> Measured:
        pairs = _reinit_pairs(view, model, "es_test_acc")
        if len(pairs) < 2:
            return NOT_RUN_HERE
        (_, t_dense, r_dense), (_, t_sparse, r_sparse) = pairs[0], pairs[-1]
        return Measured.of(100 * ((t_sparse - r_sparse) - (t_dense - r_dense)))
    return measure


def _conv_dropout_gain(model: str) -> Measure:
    def measure(view: View) -> Measured:
        plain, drop = _dense(view.per_net(model), "es_test_acc"), _dense(view.per_net(f"{model}_dropout"),
                                                                          "es_test_acc")
        return Measured.of(100 * (drop - plain) if _measure_or_none(plain, drop) else None)
    return measure


def _conv_dropout_pruning_gain(model: str) -> Measure:
    """The best winning ticket with dropout over the unpruned network with dropout (pp)."""
    def measure(view: View) -> Measured:
        per = view.per_net(f"{model}_dropout")
        dense, tickets = _dense(per, "es_test_acc"), by_pm(per, ITERATIVE, "es_test_acc")
        if dense is None or len(tickets) < 3:  # the best ticket needs a pruned curve, not a point or two
            return NOT_RUN_HERE
        return Measured.of(100 * (Interval.highest(list(tickets.values())) - dense))
    return measure


def _conv_dropout_best(model: str) -> Measure:
    def measure(view: View) -> Measured:
        per = view.per_net(f"{model}_dropout")
        paper_acc, paper_pm = ref.CONV_DROPOUT_BEST[model]
        tickets = by_pm(per, ITERATIVE, "es_test_acc")
        if not tickets or min(tickets) > paper_pm + CONV_PM_TOLERANCE:
            return NOT_RUN_HERE
        best_pm = max(tickets, key=lambda p: tickets[p].value)
        return Measured.of(100 * Interval.highest(list(tickets.values())), unit=f"% at P_m {best_pm:.1f}%")
    return measure


def _conv_claims(model: str) -> list[ClaimSpec]:
    factor, at = ref.CONV_ES_SPEEDUP[model]
    gain, gain_at = ref.CONV_ACC_GAIN_PP[model]
    unpruned = 100 * ref.CONV_UNPRUNED_VAL_ACC[model]
    dropout_gain, pruning_gain = ref.CONV_DROPOUT_GAIN_PP[model], ref.CONV_DROPOUT_PRUNING_GAIN_PP[model]
    page, plain, dropout = "conv_dropout", (model,), (model, f"{model}_dropout")
    specs = [
        ClaimSpec(page, f"{model}_es", f"{model}: early stopping faster than unpruned at P_m {at}%",
                  f"{factor}x faster", "x", _conv_es(model), at_least(1 + (factor - 1) / 2, "x"), runs=plain),
        ClaimSpec(page, f"{model}_acc", f"{model}: test accuracy gain over unpruned at P_m {gain_at}%",
                  f"+{gain} pp", "pp", _conv_gain(model), at_least(gain / 2, "pp"), runs=plain),
        ClaimSpec(page, f"{model}_above_original", f"{model}: winning tickets stay above the original's test "
                  f"accuracy while P_m > {ref.CONV_ABOVE_ORIGINAL_PM:g}% (lowest margin)", "above at every such P_m",
                  "pp", _conv_above_original(model), at_least(0, "pp"), runs=plain, whole_run=True),
        ClaimSpec(page, f"{model}_reinit_slower", f"{model}: random reinitializations reach their early stop later "
                  "than the winning ticket (smallest ratio over the P_m that have them)", "later (Figure 5)", "x",
                  _conv_reinit_slower(model), at_least(1, "x"), runs=plain, whole_run=True),
        ClaimSpec(page, f"{model}_reinit_less_accurate", f"{model}: random reinitializations are less accurate than "
                  "the winning ticket, once pruning is heavy (at the sparsest P_m that has them)",
                  "less accurate (Figure 5)", "pp",
                  _conv_reinit_less_accurate(model), at_least(0, "pp"), runs=plain, whole_run=True),
        ClaimSpec(page, f"{model}_reinit_gap_widens", f"{model}: the winning ticket's lead over its random "
                  "reinitializations grows as P_m falls (sparsest lead less densest)", "it grows (Figure 5)", "pp",
                  _conv_reinit_gap_widens(model), at_least(0, "pp"), runs=plain, whole_run=True),
        ClaimSpec(page, f"{model}_unpruned", f"{model}: unpruned validation accuracy (appendix H)", f"{unpruned:.1f}%",
                  "%", _conv_unpruned(model), within(unpruned, 2, "%"), absolute=True, runs=plain, pruned=False),
        ClaimSpec(page, f"{model}_dropout_gain", f"{model}: dropout's gain in unpruned test accuracy",
                  f"+{dropout_gain} pp", "pp", _conv_dropout_gain(model), at_least(dropout_gain / 2, "pp"),
                  runs=dropout, pruned=False),
        ClaimSpec(page, f"{model}_dropout_pruning_gain", f"{model} with dropout: iterative pruning's further gain "
                  "(best winning ticket over the unpruned network, both with dropout)", f"up to +{pruning_gain} pp",
                  "pp", _conv_dropout_pruning_gain(model), at_least(pruning_gain / 2, "pp"), runs=dropout[1:],
                  whole_run=True),
    ]
    if model in ref.CONV_DROPOUT_BEST:
        acc, pm = ref.CONV_DROPOUT_BEST[model]
        specs.append(ClaimSpec(page, f"{model}_dropout_best", f"{model} with dropout: the best winning ticket's test "
                               f"accuracy, at P_m {pm}%", f"{100 * acc:.1f}% at P_m {pm}%", "%",
                               _conv_dropout_best(model), within(100 * acc, 2, "%"), absolute=True,
                               runs=dropout[1:], whole_run=True))
    return specs


# VGG-19 (section 4) ----------------------------------------------------------------------------

def _vgg(view: View, setting: str) -> pd.DataFrame | None:
    return view.per_net(ref.VGG19_SETTINGS[setting][0])


def _ended(per: pd.DataFrame | None, variants: tuple[str, ...] = (ITERATIVE,)) -> Measured | None:
    """Why a claim on the end-of-training accuracy of ``variants`` (and the unpruned networks) has no
    value in ``per``, or None when it has one: the only rows it reads were measured at the end."""
    if per is None:
        return NOT_RUN_HERE
    rows = per[per["variant"].isin(variants) | (per["round"] == 0)]
    return None if measured(rows, "final_test_acc") else Measured(None, status=NOT_MEASURED)


def _matching_down_to(curve: dict[float, Interval], reference: Interval) -> float | None:
    """The smallest P_m such that ``curve`` is at least ``reference`` there and at every denser P_m."""
    smallest = None
    for p_m, value in curve.items():  # densest first
        if value.value < reference.value:
            break
        smallest = p_m
    return smallest


def _vgg_warmup(view: View) -> Measured:
    per = _vgg(view, "warmup")
    if (why := _ended(per)) is not None:
        return why
    if per["p_m"].min() > ref.VGG19_WARMUP_MIN_PM + 0.2:
        return NOT_RUN_HERE
    smallest = _matching_down_to(by_pm(per, ITERATIVE, "final_test_acc"), _dense(per, "final_test_acc"))
    if smallest is None:
        return Measured(None, 100.0, 100.0, text="none: the densest pruned network already falls short")
    return Measured.of(smallest)


def _vgg_lr01(view: View) -> Measured:
    per = _vgg(view, "lr0.1")
    if (why := _ended(per, (ITERATIVE, REINIT))) is not None:
        return why
    tickets, reinits = by_pm(per, ITERATIVE, "final_test_acc"), by_pm(per, REINIT, "final_test_acc")
    gaps = [100 * (tickets[p] - reinits[p]) for p in reinits if p in tickets]
    return Measured.of(Interval.highest(gaps) if gaps else None)


def _vgg_lr001(view: View) -> Measured:
    per = _vgg(view, "lr0.01")
    if (why := _ended(per)) is not None:
        return why
    floor = ref.VGG19_LR001_WITHIN_1PP_PM
    tickets, dense = by_pm(per, ITERATIVE, "final_test_acc"), _dense(per, "final_test_acc")
    if not tickets or min(tickets) > floor + 0.2:
        return NOT_RUN_HERE
    return Measured.of(_lowest([100 * (v - dense) for p, v in tickets.items() if p >= floor - 0.2]))


def _vgg_claims() -> list[ClaimSpec]:
    page = "vgg19_warmup"
    floor, within_pp = ref.VGG19_LR001_WITHIN_1PP_PM, ref.VGG19_LR001_WITHIN_PP
    return [
        ClaimSpec(page, "warmup_min_pm", "With warmup, winning tickets (matching the unpruned accuracy at every P_m "
                  "down to it) exist down to P_m", f"{ref.VGG19_WARMUP_MIN_PM}%",
                  "% smallest P_m with every denser one matching", _vgg_warmup,
                  Rule(high=2 * ref.VGG19_WARMUP_MIN_PM, text=f"<= {2 * ref.VGG19_WARMUP_MIN_PM:g}% (a factor of 2)"),
                  runs=(ref.VGG19_SETTINGS["warmup"][0],)),
        ClaimSpec(page, "lr01_no_tickets", "At lr 0.1 without warmup, pruned networks do no better than random "
                  "reinitialization (at every P_m of the run)", "no better",
                  "pp ticket minus reinit (largest over P_m)", _vgg_lr01, Rule(high=1.0, text="<= 1 pp"),
                  runs=(ref.VGG19_SETTINGS["lr0.1"][0],)),
        ClaimSpec(page, "lr001_within_1pp", f"At lr 0.01, pruned networks stay within {within_pp:g} pp of the "
                  f"original's test accuracy for P_m >= {floor}%", f"within {within_pp:g} pp",
                  f"pp (lowest ticket minus original, P_m >= {floor}%)", _vgg_lr001, at_least(-within_pp, "pp"),
                  runs=(ref.VGG19_SETTINGS["lr0.01"][0],)),
    ]


# The extension chapters (no number to judge by) ------------------------------------------------

def _landscape(key: str) -> Measure:
    def measure(view: View) -> Measured:
        table, extra = view.tables.get("landscape"), view.extra
        if table is None:
            return NOT_RUN_HERE
        if key == "imp_best_last_level":
            last = early_stopping(table[table["round"] == table["round"].max()])
            accuracy = last.groupby("variant")["final_test_acc"].mean()
            others = accuracy.drop(ITERATIVE, errors="ignore")
            empty = ITERATIVE not in accuracy or others.empty
            return Measured.of(None if empty else 100 * float(accuracy[ITERATIVE] - others.max()))
        if key == "no_barrier":
            return Measured.of(float(barriers(extra["interpolation"])["barrier"].max()))
        tops = spectrum_summary(extra["hessian"]).groupby("level")["top"].mean()
        return Measured.of(float(tops.iloc[-1] / tops.iloc[0]))
    return measure


def _dual(view: View) -> Measured:
    per_net, methods = view.extra.get("dual_per_net"), view.extra.get("methods", (RST, UNIDLTH))
    if per_net is None:
        return NOT_RUN_HERE
    sparsest = per_net[per_net["round"] == per_net["round"].max()].groupby("variant")["es_test_acc"].mean()
    transformed = sparsest.reindex(list(methods)).dropna()
    empty = transformed.empty or ITERATIVE not in sparsest
    return Measured.of(None if empty else 100 * float(transformed.max() - sparsest[ITERATIVE]))


def _chapter_claims() -> list[ClaimSpec]:
    return [
        ClaimSpec("imp_landscape", "imp_best_last_level", "At the last level's sparsity, IMP with rewinding is more "
                  "accurate than one-shot pruning, fine-tuning, a random initialization and random masks",
                  "compared (Saleem et al.; no number taken from the paper)", "pp IMP minus the best other",
                  _landscape("imp_best_last_level")),
        ClaimSpec("imp_landscape", "no_barrier", "The training loss along the line between consecutive levels' minima "
                  "shows no barrier", "measured (no number taken from the paper)", "largest barrier (training loss)",
                  _landscape("no_barrier")),
        ClaimSpec("imp_landscape", "wider_minima", "Later levels' minima are wider: a smaller top Hessian eigenvalue",
                  "measured (no number taken from the paper)", "x top eigenvalue, last level over first",
                  _landscape("wider_minima")),
        ClaimSpec("dual_tickets", "transform_vs_imp", "At the sparsest target, a transformed random sparse network "
                  "(RST, UniDLTH) is as accurate as IMP's winning ticket",
                  "DLTH's claim (no number taken from the paper)", "pp best transformed minus IMP", _dual),
    ]


CLAIMS: tuple[ClaimSpec, ...] = (*_lenet_claims(), *(s for m in ref.CONV_ES_SPEEDUP for s in _conv_claims(m)),
                                 *_vgg_claims(), *_chapter_claims())
"""Every claim the book checks, in page order: the one table of claims."""


def page_specs(page: str) -> list[ClaimSpec]:
    return [spec for spec in CLAIMS if spec.page == page]


# Judging ---------------------------------------------------------------------------------------

def _copy_caveat(dataset: str) -> str:
    info = DATASETS[dataset]
    return f"{info.label}: not comparable exactly" if info.variant_of is not None or info.synthetic else ""


def _pruned_where_stopped(spec: ClaimSpec, configs: dict[str, Any]) -> bool:
    """Whether ``spec`` reads pruned networks of a run pruned where early termination stopped."""
    read = [configs[r] for r in (spec.runs or configs) if r in configs]
    return spec.pruned and any(getattr(cfg, "prune_at", "end") == "stop" for cfg in read)


def _run_caveats(spec: ClaimSpec, configs: dict[str, Any]) -> list[str]:
    """The deviations of the runs ``spec`` reads that qualify it."""
    notes = list(spec.deviations)
    if _pruned_where_stopped(spec, configs):
        notes.append("pruned where early termination stopped, not the paper's protocol")
    return notes


def _trial_range(found: Measured, per_trial: list[Measured]) -> tuple[float | None, float | None]:
    """The range of a claim over two or more trials: the min and max of the trials' values (a trial's
    value only bounded, as "never, down to P_m X%", by its bounds), widened to hold the value over all
    trials where that is a mean the trials' values do not bracket (a ratio of means, a lowest margin)."""
    ends = [(m.value, m.value) if m.value is not None else (m.low, m.high) for m in per_trial]
    ends = [(a, b) for a, b in ends if a is not None and b is not None and not (math.isnan(a) or math.isnan(b))]
    if len(ends) < 2:  # one usable trial: the value's own range
        return (found.value, found.value) if found.low is None else (found.low, found.high)
    low, high = min(a for a, _ in ends), max(b for _, b in ends)
    if found.value is not None and not math.isnan(found.value):
        low, high = min(low, found.value), max(high, found.value)
    return low, high


def _judge(spec: ClaimSpec, found: Measured, per_trial: list[Measured], dataset: str,
           configs: dict[str, Any], judge_shortcut: bool = False, in_progress: bool = False) -> Claim:
    low, high = _trial_range(found, per_trial) if per_trial else (found.low, found.high)
    has_value = found.value is not None or bool(found.text)
    caveats = _run_caveats(spec, configs) if has_value else []
    copy = _copy_caveat(dataset) if spec.absolute and has_value else ""
    if copy:
        caveats.append(copy)
    if found.status is not None:
        verdict = found.status
    elif found.value is not None and math.isnan(found.value):  # 0 / 0: both early stops at iteration 0
        verdict = NOT_MEASURED
    elif spec.rule is None or copy:
        verdict = MEASURED
    elif low is None or high is None or (spec.whole_run and in_progress):
        verdict = NOT_RUN
    elif _pruned_where_stopped(spec, configs) and not judge_shortcut:
        verdict = NOT_PROTOCOL
    else:
        verdict = spec.rule.verdict(low, high)
    rule = spec.rule.text if spec.rule else ""
    if rule and verdict == MEASURED:  # on a copy of the data the rule is shown, not applied
        rule += " (not applied)"
    return Claim(spec.key, spec.statement, spec.paper, found.value, found.unit or spec.unit, verdict,
                 "; ".join(caveats), low, high, found.text, rule)


def not_run_claims(page: str) -> list[Claim]:
    """The claims ``page`` checks, with no value: for a page not run yet."""
    return [Claim(s.key, s.statement, s.paper, None, s.unit, NOT_RUN_YET, rule=s.rule.text if s.rule else "")
            for s in page_specs(page)]


def evaluate_claims(page: str, tables: dict[str, pd.DataFrame], configs: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None, judge_shortcut: bool = False) -> list[Claim]:
    """Measure and judge every claim of ``page`` on its runs' tables, keyed by preset name
    (``"lenet"``, ``"conv2"``, ``"conv2_dropout"``, ``"vgg19_lr01"``...; the chapters: ``"landscape"``
    and ``extra``'s frames). ``configs`` (same keys) name the data and the protocol, for the caveats.
    A claim whose runs are absent reads *not run yet*; one that reads every pruned round of a run
    still in progress (fewer rounds than its configuration's), *not run at this scale*; a claim on
    pruned networks of a run pruned where early termination stopped reads *not the paper's
    protocol*, unless ``judge_shortcut`` (the comparison of the two protocols, which judges both)."""
    configs = configs or {}
    unfinished = {name for name, table in tables.items() if hasattr(configs.get(name), "rounds") and len(table)
                  and int(table["round"].max()) < configs[name].rounds}
    dataset = next((cfg.dataset for cfg in configs.values() if hasattr(cfg, "dataset")), "cifar10")
    view = View(tables, extra or {})
    trial_views = [view.for_trial(t) for t in view.trials] if len(view.trials) >= 2 else []
    claims = []
    for spec in page_specs(page):
        if spec.runs and not all(run in tables for run in spec.runs):
            found = NO_RUN
        else:
            found = spec.measure(view)
        measurable = (found.value is not None or found.text) and spec.rule is not None
        per_trial = [spec.measure(t) for t in trial_views] if measurable else []
        in_progress = any(run in unfinished for run in (spec.runs or tables))
        claims.append(_judge(spec, found, per_trial, dataset, configs, judge_shortcut, in_progress))
    return claims


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """A display table: claim, the paper's number, this run's number and range, the rule, the verdict."""
    return pd.DataFrame({
        "claim": [c.claim for c in claims],
        "paper": [c.paper for c in claims],
        "this run": [c.shown() for c in claims],
        "reproduced when": [c.rule for c in claims],
        "verdict": [c.verdict for c in claims],
    })
