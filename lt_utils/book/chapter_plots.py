"""The figures of the book's own chapters (the IMP landscape): curves over training by level,
variants side by side at one sparsity, values per level, loss along interpolation lines and
Hessian spectra. They share the paper figures' style (``lt_utils.book.style``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lt_utils.book.style import VARIANT_STYLE, figure, fit_ylim_after, label, legend_below
from lt_utils.lottery.variants import ITERATIVE


def curves_by_round(table: pd.DataFrame, columns: Sequence[tuple[str, str, float]],
                    variant: str = ITERATIVE, settle: float = 0.1) -> Figure:
    """One panel per metric over training, one line per round (level), mean over trials; each
    y axis fitted to the curves after the first ``settle`` fraction of training (as Figure 3's)."""
    fig, axes = figure(1, len(columns), height=3.6)
    rows = table[table["variant"] == variant]
    colors = plt.cm.viridis(np.linspace(0, 1, rows["round"].nunique()))
    for ax, (column, ylabel, scale) in zip(axes[0], columns, strict=True):
        curves = []
        for color, (r, group) in zip(colors, rows.groupby("round"), strict=True):
            curves.append(group.groupby("iteration")[column].mean() * scale)
            ax.plot(curves[-1].index, curves[-1].to_numpy(), color=color,
                    label=f"L={r} ({group['p_m'].iloc[0]:.1f}%)")
        fit_ylim_after(ax, curves, settle)
        ax.set_xlabel("Training iterations")
        ax.set_ylabel(ylabel)
    legend_below(fig, list(axes[0]), ncol=4)
    return fig


def variant_comparison(per_net: pd.DataFrame, column: str, variants: Sequence[str], scale: float = 100,
                       ax: Axes | None = None) -> Axes:
    """Mean of ``column`` per variant with min/max error bars (one sparsity), in each variant's style."""
    ax = ax or figure(height=3.6)[1][0, 0]
    stats = per_net.groupby("variant")[column].agg(["mean", "min", "max"]).reindex(list(variants)).dropna()
    for x, (variant, row) in enumerate(stats.iterrows()):
        style = VARIANT_STYLE[variant]
        ax.errorbar([x], [row["mean"] * scale], yerr=[[(row["mean"] - row["min"]) * scale],
                                                      [(row["max"] - row["mean"]) * scale]],
                    color=style["color"], marker=style["marker"], capsize=4)
    ax.set_xticks(range(len(stats)), [label(v) for v in stats.index], rotation=20, ha="right")
    return ax


def per_level(frame: pd.DataFrame, columns: dict[str, str], ylabel: str, ax: Axes | None = None,
              log: bool = False) -> Axes:
    """Mean (over trials) of each column against level, with min/max error bars."""
    ax = ax or figure(height=3.6)[1][0, 0]
    for column, text in columns.items():
        stats = frame.groupby("level")[column].agg(["mean", "min", "max"])
        ax.errorbar(stats.index, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                    marker="o", label=text)
    ax.set_xlabel("IMP level L")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend()
    return ax


def interpolation_figure(interpolation: pd.DataFrame) -> Figure:
    """Train and test loss along the line from the projected level L-1 minimum to level L's."""
    fig, axes = figure(1, 2, height=3.8)
    levels = sorted(interpolation["level"].unique())
    colors = plt.cm.viridis(np.linspace(0, 1, len(levels)))
    for ax, column in zip(axes[0], ("train_loss", "test_loss"), strict=True):
        for color, level in zip(colors, levels, strict=True):
            curve = interpolation[interpolation["level"] == level].groupby("alpha")[column].mean()
            ax.plot(curve.index, curve.to_numpy(), color=color, marker=".", label=f"L={level}")
        ax.set_xlabel("alpha (0: L-1 projected, 1: L)")
        ax.set_ylabel(column.replace("_", " "))
    legend_below(fig, list(axes[0]), ncol=5)
    return fig


def spectra_figure(hessian: pd.DataFrame) -> Figure:
    """Top-k Hessian eigenvalues by rank, one line per level (trial 0), log scale."""
    fig, axes = figure(height=3.8)
    ax = axes[0, 0]
    first = hessian[hessian["trial"] == hessian["trial"].min()]
    levels = sorted(first["level"].unique())
    for color, level in zip(plt.cm.viridis(np.linspace(0, 1, len(levels))), levels, strict=True):
        rows = first[first["level"] == level].sort_values("rank")
        ax.plot(rows["rank"], rows["eigenvalue"].clip(lower=1e-6), color=color, label=f"L={level}")
    ax.set_yscale("log")
    ax.set_xlabel("Eigenvalue rank")
    ax.set_ylabel("Hessian eigenvalue")
    ax.legend(ncol=2)
    fig.tight_layout()
    return fig
