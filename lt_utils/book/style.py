"""The book's figure style and the helpers that lay out any of its figures.

Every figure is at most ``PAGE_WIDTH`` inches wide and its text at least ``MIN_FONT_PT``, so it reads
at page width in the book; each variant has one colour and marker everywhere (``VARIANT_STYLE``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from lt_utils.lottery.variants import VARIANTS

PAGE_WIDTH = 7.5  # inches: the book's text column at 100 dpi; no figure is wider
MIN_FONT_PT = 9.0
BOOK_STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9,
    "figure.titlesize": 11, "axes.grid": True, "grid.alpha": 0.3, "errorbar.capsize": 3,
}
plt.rcParams.update(BOOK_STYLE)

VARIANT_STYLE = {name: {"label": v.label, "color": v.color, "marker": v.marker} for name, v in VARIANTS.items()}
"""Each variant's label, colour and marker, read from ``lt_utils.lottery.variants.VARIANTS``."""
NOTE_BOX = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1}  # notes and paper labels


def label(variant: str) -> str:
    """The book's label of a variant (``lt_utils.lottery.variants.label``)."""
    return VARIANTS[variant].label


def figure(rows: int = 1, cols: int = 1, height: float = 3.4, width: float = PAGE_WIDTH,
           **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure at page width with a ``rows x cols`` grid of axes (always a 2-D array)."""
    return plt.subplots(rows, cols, figsize=(min(width, PAGE_WIDTH), height), squeeze=False, **kwargs)


def smallest_font(fig: Figure) -> float:
    """The smallest visible text in ``fig``, in points as shown at page width."""
    fig.canvas.draw()
    shrink = min(1.0, PAGE_WIDTH / fig.get_figwidth())
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) * shrink if sizes else float("inf")


def legend_below(fig: Figure, axes: Sequence[Axes], ncol: int = 2, title: str | None = None) -> None:
    """One legend for the whole figure, under the panels (entries deduplicated by label)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    fig.legend(list(entries.values()), list(entries), loc="lower center", ncol=ncol, frameon=False, title=title)
    rows = 1 + (len(entries) - 1) // ncol + (title is not None)
    fig.tight_layout(rect=(0, 0.06 * rows / max(1, len(fig.axes) // 2), 1, 1))


def fit_ylim_after(ax: Axes, curves: Sequence[pd.Series], settle: float = 0.1, pad: float = 0.05) -> None:
    """Fit ``ax``'s y axis to ``curves`` (values indexed by iteration) after the first ``settle``
    fraction of training, where they differ; their steep start may run off the axis."""
    last = max(curve.index.max() for curve in curves)
    settled = pd.concat([curve[curve.index >= settle * last] for curve in curves])
    lo, hi = float(np.nanmin(settled)), float(np.nanmax(settled))
    margin = pad * max(hi - lo, 0.1)
    ax.set_ylim(lo - margin, hi + margin)


def glue_figure(name: str, fig: Figure) -> None:
    """Glue ``fig`` for a ``{glue:figure}`` directive and close it, so the page shows it once."""
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
