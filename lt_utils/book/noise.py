"""How far a measured value could move by noise alone: the ranges beside the claims' numbers.

With two or more trials, a claim's range is the min and max of its measure over the trials
(``lt_utils.book.claims.evaluate_claims`` evaluates it per trial). With one trial there are
no trials to compare, so the range comes from the run's own noise instead:

- A network's **jitter** is the median absolute change of its validation loss between consecutive
  evaluations (one evaluation interval apart) over its measured curve.
- Its **near-minimum evaluations** are those whose validation loss lies within one jitter of its
  minimum: early stopping could as well have picked any of them.
- Over them, the early-stopping iteration ranges from the first to the last, and the accuracy at
  early stopping from the lowest to the highest. Where the test set was evaluated only at the
  early-stopping point (``test_eval="where_read"``), each one's test accuracy is estimated as the
  measured one plus the change in validation accuracy from the early-stopping evaluation to it.

A claim's measure then combines its networks' ranges by interval arithmetic (``Interval``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lt_utils.lottery.results import GROUP, early_stopping

RANGED = ("es_iteration", "es_test_acc", "es_val_acc")
"""The columns of ``early_stopping``'s table that :func:`near_minimum_ranges` gives ``_low`` and ``_high`` to."""


@dataclass(frozen=True)
class Interval:
    """A value and the range it could take by noise alone (``low <= value <= high``)."""

    value: float
    low: float
    high: float

    @staticmethod
    def of(x: Interval | float) -> Interval:
        return x if isinstance(x, Interval) else Interval(float(x), float(x), float(x))

    def __add__(self, other: Interval | float) -> Interval:
        o = Interval.of(other)
        return Interval(self.value + o.value, self.low + o.low, self.high + o.high)

    __radd__ = __add__

    def __neg__(self) -> Interval:
        return Interval(-self.value, -self.high, -self.low)

    def __sub__(self, other: Interval | float) -> Interval:
        return self + (-Interval.of(other))

    def __rsub__(self, other: Interval | float) -> Interval:
        return Interval.of(other) - self

    def __mul__(self, factor: float) -> Interval:
        """Scaled by a positive number."""
        return Interval(self.value * factor, self.low * factor, self.high * factor)

    __rmul__ = __mul__

    def __truediv__(self, other: Interval | float) -> Interval:
        """The ratio of two non-negative quantities (over zero: infinite, as an early stop at iteration 0
        makes a speed-up unbounded)."""
        o = Interval.of(other)
        return Interval(_ratio(self.value, o.value), _ratio(self.low, o.high), _ratio(self.high, o.low))

    def __rtruediv__(self, other: Interval | float) -> Interval:
        return Interval.of(other) / self

    @staticmethod
    def lowest(items: list[Interval]) -> Interval:
        """The smallest of several: its value, and the range the smallest could take."""
        return Interval(min(i.value for i in items), min(i.low for i in items), min(i.high for i in items))

    @staticmethod
    def highest(items: list[Interval]) -> Interval:
        """The largest of several: its value, and the range the largest could take (a best over many
        noisy values is biased upward; the range says how far noise alone could take it)."""
        return Interval(max(i.value for i in items), max(i.low for i in items), max(i.high for i in items))


def _ratio(a: float, b: float) -> float:
    return a / b if b else (math.inf if a > 0 else math.nan)


def _jitter(val_loss: np.ndarray, iterations: np.ndarray) -> float:
    """Median absolute change of the validation loss between evaluations one interval apart."""
    if len(val_loss) < 3:
        return 0.0
    steps = np.diff(iterations)
    interval = np.median(steps)
    changes = np.abs(np.diff(val_loss))[steps == interval]
    return float(np.median(changes)) if len(changes) else 0.0


def _ranges(rows: pd.DataFrame, es: pd.Series) -> dict[str, float]:
    """One network's near-minimum ranges (``rows``: its evaluations; ``es``: its early-stopping row)."""
    measured = rows[rows["val_loss"].notna()].sort_values("iteration")
    loss, iterations = measured["val_loss"].to_numpy(), measured["iteration"].to_numpy()
    near = measured[loss <= loss.min() + _jitter(loss, iterations)]
    shift = near["val_acc"] - es["es_val_acc"]
    test = near["test_acc"].where(near["test_acc"].notna(), es["es_test_acc"] + shift)
    out: dict[str, Any] = {}
    for column, values in (("es_iteration", near["iteration"]), ("es_test_acc", test), ("es_val_acc", near["val_acc"])):
        values = pd.concat([values, pd.Series([es[column]])]).dropna()
        out[f"{column}_low"], out[f"{column}_high"] = float(values.min()), float(values.max())
    return out


def near_minimum_ranges(table: pd.DataFrame) -> pd.DataFrame:
    """``early_stopping(table)`` with ``<column>_low`` and ``<column>_high`` for each of ``RANGED``:
    the spread over each network's near-minimum evaluations (see the module docstring)."""
    per_net = early_stopping(table)
    if per_net.empty:
        return per_net
    keyed = per_net.set_index(GROUP)
    ranges = {key: _ranges(rows, keyed.loc[key]) for key, rows in table.groupby(GROUP, sort=False)}
    extra = pd.DataFrame.from_dict(ranges, orient="index")
    extra.index = pd.MultiIndex.from_tuples(extra.index, names=GROUP)
    return keyed.join(extra).reset_index()
