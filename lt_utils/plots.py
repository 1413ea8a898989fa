"""Figures in the paper's style: P_m on a reversed log axis, mean with min/max error bars."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lt_utils.results import accuracy_at, early_stopping, summarize

VARIANT_STYLE = {
    "iterative": {"label": "winning ticket (iterative)", "color": "tab:blue", "marker": "o"},
    "oneshot": {"label": "winning ticket (one-shot)", "color": "tab:green", "marker": "s"},
    "reinit": {"label": "random reinitialization", "color": "tab:orange", "marker": "^"},
    "random_sparse": {"label": "random sparse network", "color": "tab:red", "marker": "v"},
    "rst": {"label": "RST (DLTH)", "color": "tab:purple", "marker": "D"},
    "unilth": {"label": "UniLTH", "color": "tab:brown", "marker": "P"},
    "unidlth": {"label": "UniDLTH", "color": "tab:pink", "marker": "X"},
}


def _pm_axis(ax: plt.Axes) -> None:
    ax.set_xscale("log")
    ax.set_xlim(120, 1.2)  # reversed: dense on the left, as in the paper
    ticks = [100, 51.3, 21.1, 7.0, 3.6, 1.9]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("Percent of weights remaining (P_m)")
    ax.grid(alpha=0.3)


def metric_vs_pm(per_net: pd.DataFrame, column: str, ax: plt.Axes, variants: Sequence[str], scale: float = 1.0,
                 label_suffix: str = "", linestyle: str = "-") -> None:
    """Mean of ``column`` per round with min/max error bars over trials, one line per variant.

    ``per_net`` has one row per network (``early_stopping(table)`` or ``accuracy_at(...)``).
    Round 0 (the dense network) is shared by every variant: the curves start from it.
    """
    stats = summarize(per_net, [column])
    dense = stats[(stats["variant"] == "iterative") & (stats["round"] == 0)]
    for variant in variants:
        rows = stats[stats["variant"] == variant]
        if rows.empty:
            continue
        if variant != "iterative":
            rows = pd.concat([dense, rows])
        style = VARIANT_STYLE[variant]
        mean = rows[f"{column}_mean"].to_numpy() * scale
        err = np.vstack([mean - rows[f"{column}_min"] * scale, rows[f"{column}_max"] * scale - mean])
        ax.errorbar(rows["p_m"], mean, yerr=err, label=style["label"] + label_suffix, color=style["color"],
                    marker=style["marker"], markersize=4, capsize=3, linestyle=linestyle)
    _pm_axis(ax)


def accuracy_curves(table: pd.DataFrame, pms: Sequence[float], variant: str = "iterative",
                    ax: plt.Axes | None = None) -> plt.Axes:
    """Figure 3: test accuracy over training for the rounds nearest to ``pms`` (mean, min-max band)."""
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    rows = table[table["variant"] == variant]
    available = np.sort(rows["p_m"].unique())[::-1]
    for pm in pms:
        nearest = available[np.argmin(np.abs(available - pm))]
        if abs(nearest - pm) > 0.15:
            continue
        curve = rows[rows["p_m"] == nearest].groupby("iteration")["test_acc"].agg(["mean", "min", "max"])
        line = ax.plot(curve.index, 100 * curve["mean"], label=f"{nearest:.1f}")[0]
        ax.fill_between(curve.index, 100 * curve["min"], 100 * curve["max"], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("Training iterations")
    ax.set_ylabel("Test accuracy (%)")
    ax.legend(title="P_m (%)")
    ax.grid(alpha=0.3)
    return ax


def early_stopping_figure(table: pd.DataFrame, variants: Sequence[str], title: str = "") -> Figure:
    """Figure 4 / 5 layout: early-stopping iteration and test accuracy at early stopping against P_m."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    per_net = early_stopping(table)
    metric_vs_pm(per_net, "es_iteration", left, variants)
    left.set_ylabel("Early-stop iteration (val.)")
    metric_vs_pm(per_net, "es_test_acc", right, variants, scale=100)
    right.set_ylabel("Accuracy at early stop (test, %)")
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def reference_line(ax: plt.Axes, value: float, text: str) -> None:
    """A dashed horizontal line for one of the paper's stated values, labelled as the paper's."""
    ax.axhline(value, color="gray", linestyle="--", linewidth=1)
    ax.annotate(f"paper: {text}", xy=(0.02, value), xycoords=("axes fraction", "data"), fontsize=8, color="gray",
                va="bottom")


def reference_point(ax: plt.Axes, x: float, y: float, text: str) -> None:
    """A star at one of the paper's stated (P_m, value) points, labelled as the paper's."""
    ax.plot([x], [y], marker="*", color="black", markersize=10, linestyle="none")
    ax.annotate(f"paper: {text}", xy=(x, y), xytext=(5, 5), textcoords="offset points", fontsize=8)


CONV_PANELS = (("es_iteration", "Early-stop iteration (val.)", 1.0),
               ("es_test_acc", "Accuracy at early stop (test, %)", 100.0),
               ("final_test_acc", "Accuracy at end of training (test, %)", 100.0),
               ("final_train_acc", "Accuracy at end of training (train, %)", 100.0))


def _panel_rows(rows: dict[str, list[tuple[pd.DataFrame, str, str]]], panels: Sequence[tuple[str, str, float]],
                title: str) -> Figure:
    """One row per network, one panel per metric; each row overlays ``(table, label suffix, line style)``
    lines of tickets against reinitialization."""
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(4 * len(panels) + 3, 3.6 * len(rows)), squeeze=False)
    for row, (name, lines) in zip(axes, rows.items(), strict=True):
        for table, suffix, style in lines:
            per_net = early_stopping(table)
            for ax, (column, label, scale) in zip(row, panels, strict=True):
                metric_vs_pm(per_net, column, ax, ["iterative", "reinit"], scale, suffix, style)
                ax.set_ylabel(label)
                ax.set_title(name, fontsize=9)
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def conv_figure(tables: dict[str, pd.DataFrame], title: str) -> Figure:
    """Figure 5: one row per network, the four panels of the paper, tickets vs. reinitialization."""
    return _panel_rows({name: [(table, "", "-")] for name, table in tables.items()}, CONV_PANELS, title)


def dropout_figure(pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame]], title: str) -> Figure:
    """Figure 6: early-stop iteration and accuracy, with dropout (solid) against without (dashed)."""
    rows = {name: [(dropout, " (dropout)", "-"), (plain, "", "--")] for name, (plain, dropout) in pairs.items()}
    return _panel_rows(rows, CONV_PANELS[:2], title)


def checkpoint_figure(tables: dict[str, pd.DataFrame], checkpoints: Sequence[int], title: str) -> Figure:
    """Figure 7: test accuracy at fixed iterations against P_m, one line per setting and variant."""
    fig, axes = plt.subplots(1, len(checkpoints), figsize=(5.5 * len(checkpoints), 4), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, iteration in zip(axes[0], checkpoints, strict=True):
        for (name, table), style in zip(tables.items(), styles, strict=False):
            metric_vs_pm(accuracy_at(table, iteration), "test_acc", ax, ["iterative", "reinit"], 100,
                         f" {name}", style)
        ax.set_title(f"{iteration} iterations", fontsize=9)
        ax.set_ylabel("Test accuracy (%)")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_by_round(table: pd.DataFrame, columns: Sequence[tuple[str, str, float]], variant: str = "iterative",
                    title: str = "") -> Figure:
    """One panel per metric over training, one line per round (level), mean over trials."""
    fig, axes = plt.subplots(1, len(columns), figsize=(5.5 * len(columns), 4), squeeze=False)
    rows = table[table["variant"] == variant]
    colors = plt.cm.viridis(np.linspace(0, 1, rows["round"].nunique()))
    for ax, (column, label, scale) in zip(axes[0], columns, strict=True):
        for color, (r, group) in zip(colors, rows.groupby("round"), strict=True):
            curve = group.groupby("iteration")[column].mean() * scale
            ax.plot(curve.index, curve.to_numpy(), color=color, label=f"L={r} ({group['p_m'].iloc[0]:.1f}%)")
        ax.set_xlabel("Training iterations")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def variant_comparison(per_net: pd.DataFrame, column: str, labels: dict[str, str], scale: float = 100,
                       ax: plt.Axes | None = None) -> plt.Axes:
    """Mean of ``column`` per variant with min/max error bars (one sparsity)."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    stats = per_net.groupby("variant")[column].agg(["mean", "min", "max"]).reindex(list(labels)).dropna()
    x = np.arange(len(stats))
    ax.errorbar(x, stats["mean"] * scale, yerr=[(stats["mean"] - stats["min"]) * scale,
                                               (stats["max"] - stats["mean"]) * scale],
                fmt="o", capsize=4)
    ax.set_xticks(x, [labels[v] for v in stats.index], rotation=20, ha="right")
    ax.grid(alpha=0.3)
    return ax


def per_level(frame: pd.DataFrame, columns: dict[str, str], ylabel: str, ax: plt.Axes | None = None,
              log: bool = False) -> plt.Axes:
    """Mean (over trials) of each column against level, with min/max error bars."""
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for column, label in columns.items():
        stats = frame.groupby("level")[column].agg(["mean", "min", "max"])
        ax.errorbar(stats.index, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                    marker="o", capsize=3, label=label)
    ax.set_xlabel("IMP level L")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def interpolation_figure(interpolation: pd.DataFrame, title: str) -> Figure:
    """Train and test loss along the line from the projected level L-1 minimum to level L's."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    levels = sorted(interpolation["level"].unique())
    colors = plt.cm.viridis(np.linspace(0, 1, len(levels)))
    for ax, column in zip(axes, ("train_loss", "test_loss"), strict=True):
        for color, level in zip(colors, levels, strict=True):
            curve = interpolation[interpolation["level"] == level].groupby("alpha")[column].mean()
            ax.plot(curve.index, curve.to_numpy(), color=color, marker=".", label=f"L={level}")
        ax.set_xlabel("alpha (0: level L-1 projected onto L's mask, 1: level L)")
        ax.set_ylabel(column.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def spectra_figure(hessian: pd.DataFrame, title: str) -> Figure:
    """Top-k Hessian eigenvalues by rank, one line per level (trial 0), log scale."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    first = hessian[hessian["trial"] == hessian["trial"].min()]
    levels = sorted(first["level"].unique())
    for color, level in zip(plt.cm.viridis(np.linspace(0, 1, len(levels))), levels, strict=True):
        rows = first[first["level"] == level].sort_values("rank")
        ax.plot(rows["rank"], rows["eigenvalue"].clip(lower=1e-6), color=color, label=f"L={level}")
    ax.set_yscale("log")
    ax.set_xlabel("Eigenvalue rank")
    ax.set_ylabel("Hessian eigenvalue")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    return fig
