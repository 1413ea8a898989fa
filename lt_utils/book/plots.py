"""Figures in the paper's style: P_m on a reversed log axis, mean with min/max error bars.

Every figure is at most :data:`PAGE_WIDTH` inches wide and its text at least 9 pt, so it reads
at page width in the book; the scale of a run goes in the caption, never in the figure. Each
variant has one colour and marker everywhere (``lt_utils.lottery.variants.VARIANTS``); the paper's own values
are drawn in black and labelled "paper". A panel whose values a run did not measure (``patience``:
end-of-training values; ``test_eval="where_read"``: test accuracy over training) says so instead of
plotting what is left (:func:`not_measured`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from lt_utils.lottery.results import accuracy_at, early_stopping, measured, summarize
from lt_utils.lottery.variants import ITERATIVE, REINIT, VARIANTS

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
PAPER_STYLE = {"color": "black", "marker": "*", "markersize": 11, "linestyle": "none"}
_NOTE_BOX = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1}  # paper labels over lines
NETWORK_LINESTYLES = ("-", "--", ":", "-.")  # several networks or settings in one panel, in order
PM_TICKS = (100, 51.3, 21.1, 7.0, 3.6, 1.9)

# Figure 4 (Lenet) and Figure 5 (Conv): the paper's four panels.
FOUR_PANELS = (("es_iteration", "Early-stop iteration (val.)", 1.0),
               ("es_test_acc", "Accuracy at early stop (test, %)", 100.0),
               ("final_test_acc", "Accuracy at end of training (test, %)", 100.0),
               ("final_train_acc", "Accuracy at end of training (train subset, %)", 100.0))
WHOLE_TRAIN_PANEL = ("final_train_acc_full", "Accuracy at end of training (train, %)", 100.0)
CONV_PANELS = FOUR_PANELS


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


def pm_axis(ax: Axes) -> None:
    """P_m on a reversed log axis (dense on the left), with the paper's ticks."""
    ax.set_xscale("log")
    ax.set_xlim(120, 1.2)  # reversed: dense on the left, as in the paper
    ax.set_xticks(PM_TICKS, [f"{t:g}" for t in PM_TICKS])
    ax.minorticks_off()
    ax.set_xlabel("Percent of weights remaining (P_m)")


def metric_vs_pm(per_net: pd.DataFrame, column: str, ax: Axes, variants: Sequence[str], scale: float = 1.0,
                 label_suffix: str = "", linestyle: str = "-", hollow: bool = False) -> None:
    """Mean of ``column`` per round with min/max error bars over trials, one line per variant.

    ``per_net`` has one row per network (``early_stopping(table)`` or ``accuracy_at(...)``).
    Round 0 (the dense network) is shared by every variant: the curves start from it.
    """
    stats = summarize(per_net, [column])
    dense = stats[(stats["variant"] == ITERATIVE) & (stats["round"] == 0)]
    for variant in variants:
        rows = stats[stats["variant"] == variant]
        if rows.empty:
            continue
        if variant != ITERATIVE and not (rows["round"] == 0).any():
            rows = pd.concat([dense, rows])
        style = VARIANT_STYLE[variant]
        mean = rows[f"{column}_mean"].to_numpy() * scale
        err = np.vstack([mean - rows[f"{column}_min"] * scale, rows[f"{column}_max"] * scale - mean])
        ax.errorbar(rows["p_m"], mean, yerr=err, label=style["label"] + label_suffix, color=style["color"],
                    marker=style["marker"], markersize=4, linestyle=linestyle,
                    markerfacecolor="white" if hollow else style["color"])
    pm_axis(ax)


def legend_below(fig: Figure, axes: Sequence[Axes], ncol: int = 2) -> None:
    """One legend for the whole figure, under the panels (entries deduplicated by label)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    fig.legend(list(entries.values()), list(entries), loc="lower center", ncol=ncol, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(entries) - 1) // ncol) / max(1, len(fig.axes) // 2), 1, 1))


def _fitted_ylim(ax: Axes, low: Sequence[float], high: Sequence[float], pad: float = 0.05) -> None:
    lo, hi = float(np.nanmin(low)), float(np.nanmax(high))
    margin = pad * max(hi - lo, 0.1)
    ax.set_ylim(lo - margin, hi + margin)


def not_measured(ax: Axes, what: str = "") -> None:
    """Say in panel ``ax`` that its values were not measured in this run (``what``: whose)."""
    ax.text(0.5, 0.5, f"not measured in this run{what}\n(see the run line)", transform=ax.transAxes,
            ha="center", va="center", fontsize=9, bbox=_NOTE_BOX)


def _nearest_round(rows: pd.DataFrame, pm: float, tol: float = 0.15) -> float | None:
    available = np.sort(rows["p_m"].unique())[::-1]
    if not len(available):
        return None
    nearest = available[np.argmin(np.abs(available - pm))]
    return float(nearest) if abs(nearest - pm) <= tol else None


FIGURE3_PANELS = ((ITERATIVE, (100.0, 51.3, 21.1), ()),
                  (ITERATIVE, (100.0, 21.1, 7.0, 3.6, 1.9), ()),
                  (ITERATIVE, (100.0, 51.3, 21.1), (51.3, 21.1)))


def figure3(table: pd.DataFrame, panels: Sequence[tuple[str, Sequence[float], Sequence[float]]] = FIGURE3_PANELS,
            settle: float = 0.1) -> Figure:
    """Figure 3: test accuracy over training, three panels of P_m (the third with random
    reinitializations dashed); mean over trials with a min-max band. The y axis is fitted to the
    curves after the first ``settle`` fraction of training, where they differ."""
    fig, axes = figure(1, len(panels), height=3.3, sharey=True)
    if not measured(table, "test_acc"):  # patience, or the test set evaluated only where read
        for ax in axes[0]:
            not_measured(ax)
            ax.set_xlabel("Training iterations")
        axes[0, 0].set_ylabel("Test accuracy (%)")
        fig.tight_layout()
        return fig
    all_pms = sorted({pm for _, pms, reinits in panels for pm in (*pms, *reinits)}, reverse=True)
    colors = dict(zip(all_pms, plt.cm.viridis(np.linspace(0, 0.9, len(all_pms))), strict=True))
    last = table["iteration"].max()
    low, high = [], []
    for ax, (variant, pms, reinit_pms) in zip(axes[0], panels, strict=True):
        for kind, chosen, style in ((variant, pms, "-"), (REINIT, reinit_pms, "--")):
            rows = table[table["variant"] == kind]
            for pm in chosen:
                nearest = _nearest_round(rows, pm)
                if nearest is None:
                    continue
                curve = rows[rows["p_m"] == nearest].groupby("iteration")["test_acc"].agg(["mean", "min", "max"])
                text = f"{nearest:.1f}" + (" reinit" if kind == REINIT else "")
                ax.plot(curve.index, 100 * curve["mean"], color=colors[pm], linestyle=style, label=text)
                ax.fill_between(curve.index, 100 * curve["min"], 100 * curve["max"], color=colors[pm], alpha=0.15)
                settled = curve[curve.index >= settle * last]
                low.append(100 * settled["min"].min())
                high.append(100 * settled["max"].max())
        ax.set_xlabel("Training iterations")
        ax.legend(title="P_m (%)", loc="lower right")
    axes[0, 0].set_ylabel("Test accuracy (%)")
    if low:
        _fitted_ylim(axes[0, 0], low, high)
    fig.tight_layout()
    return fig


def four_panel_figure(lines: Sequence[tuple[pd.DataFrame, Sequence[str], str, str]],
                      panels: Sequence[tuple[str, str, float]] = FOUR_PANELS, ncol: int = 2) -> Figure:
    """Figures 4 and 5: a 2x2 grid (early-stop iteration, accuracy at early stop, test and
    training accuracy at the end of training) against P_m. ``lines`` holds ``(table, variants,
    label suffix, line style)``: one network or setting each. Training accuracy is the whole
    training split's where the tables hold it, else the tracked subset's (labelled so)."""
    fig, axes = figure(2, 2, height=6.4)
    per_nets = [(early_stopping(table), variants, suffix, style) for table, variants, suffix, style in lines]
    whole = all(WHOLE_TRAIN_PANEL[0] in p and p[WHOLE_TRAIN_PANEL[0]].notna().all() for p, *_ in per_nets)
    if whole:  # the whole training split, measured at the end of training (tables stored since it was)
        panels = [WHOLE_TRAIN_PANEL if panel[0] == "final_train_acc" else panel for panel in panels]
    for ax, (column, ylabel, scale) in zip(axes.flat, panels, strict=False):
        missing = []
        for per_net, variants, suffix, style in per_nets:
            if measured(per_net, column):
                metric_vs_pm(per_net, column, ax, variants, scale, suffix, style)
            elif column in per_net:  # patience stopped networks before the end: no end-of-training values
                missing.append(suffix.strip())
        if missing:
            not_measured(ax, "" if len(missing) == len(per_nets) else f" for {', '.join(missing)}")
        ax.set_ylabel(ylabel)
        pm_axis(ax)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    legend_below(fig, list(axes.flat), ncol)
    return fig


def early_stopping_figure(table: pd.DataFrame, variants: Sequence[str]) -> Figure:
    """Figure 1's layout: early-stop iteration and test accuracy at early stop against P_m."""
    fig, axes = figure(1, 2, height=3.6)
    per_net = early_stopping(table)
    for ax, (column, ylabel, scale) in zip(axes[0], FOUR_PANELS[:2], strict=True):
        metric_vs_pm(per_net, column, ax, variants, scale)
        ax.set_ylabel(ylabel)
    legend_below(fig, list(axes[0]))
    return fig


def reference_line(ax: Axes, value: float, text: str) -> None:
    """A dashed horizontal line for one of the paper's stated values, labelled as the paper's."""
    ax.axhline(value, color="black", linestyle="--", linewidth=1)
    ax.annotate(f"paper: {text}", xy=(0.02, value), xycoords=("axes fraction", "data"), fontsize=9, va="bottom",
                bbox=_NOTE_BOX)


def reference_point(ax: Axes, x: float, y: float, text: str) -> None:
    """A star at one of the paper's stated (P_m, value) points, labelled as the paper's."""
    ax.plot([x], [y], **PAPER_STYLE)
    ax.annotate(f"paper: {text}", xy=(x, y), xytext=(4, 4), textcoords="offset points", fontsize=9,
                bbox=_NOTE_BOX)


def reference_pm(ax: Axes, pm: float, text: str, y: float = 0.95, left: bool = False) -> None:
    """A dotted vertical line at a P_m where the paper states a value relative to the unpruned
    network (no absolute value to place), labelled as the paper's (on its ``left`` or right)."""
    ax.axvline(pm, color="black", linestyle=":", linewidth=1)
    ax.annotate(f"paper: {text}", xy=(pm, y), xycoords=("data", "axes fraction"), xytext=(-3 if left else 3, 0),
                textcoords="offset points", fontsize=9, rotation=90, va="top", ha="right" if left else "left",
                bbox=_NOTE_BOX)


def conv_figure(tables: dict[str, pd.DataFrame]) -> Figure:
    """Figure 5: the four panels, each network a line style, tickets against reinitialization."""
    lines = [(table, [ITERATIVE, REINIT], f" {name}", NETWORK_LINESTYLES[i % 4])
             for i, (name, table) in enumerate(tables.items())]
    return four_panel_figure(lines)


def dropout_figure(pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> Figure:
    """Figure 6: early-stop iteration and accuracy at early stop of winning tickets, with dropout
    (solid) and without (dashed, hollow markers); one column per network."""
    fig, axes = figure(2, max(1, len(pairs)), height=6.0)
    for col, (name, (plain, dropout)) in enumerate(pairs.items()):
        for table, suffix, style, hollow in ((dropout, " with dropout", "-", False), (plain, " without", "--", True)):
            per_net = early_stopping(table)
            for row, (column, ylabel, scale) in enumerate(FOUR_PANELS[:2]):
                metric_vs_pm(per_net, column, axes[row, col], [ITERATIVE], scale, suffix, style, hollow)
                axes[row, col].set_ylabel(ylabel if col == 0 else "")
        axes[0, col].set_title(name)
    legend_below(fig, list(axes.flat))
    return fig


def checkpoint_figure(tables: dict[str, pd.DataFrame], checkpoints: Sequence[int]) -> Figure:
    """Figure 7: test accuracy at fixed iterations against P_m, one panel per iteration, one line
    style per setting, tickets against reinitialization."""
    fig, axes = figure(1, len(checkpoints), height=3.8, sharey=True)
    for ax, iteration in zip(axes[0], checkpoints, strict=True):
        missing = []
        for i, (name, table) in enumerate(tables.items()):
            at = accuracy_at(table, iteration)
            if measured(at, "test_acc"):
                metric_vs_pm(at, "test_acc", ax, [ITERATIVE, REINIT], 100, f" {name}", NETWORK_LINESTYLES[i % 4])
            else:
                missing.append(name)
        if missing:
            not_measured(ax, "" if len(missing) == len(tables) else f" for {', '.join(missing)}")
            pm_axis(ax)
        ax.set_title(f"{iteration:,} iterations")
        ax.set_xticks((100, 21.1, 3.6), ["100", "21.1", "3.6"])
        ax.set_xlabel("P_m (%)")
    axes[0, 0].set_ylabel("Test accuracy (%)")
    legend_below(fig, list(axes[0]))
    return fig


def curves_by_round(table: pd.DataFrame, columns: Sequence[tuple[str, str, float]],
                    variant: str = ITERATIVE) -> Figure:
    """One panel per metric over training, one line per round (level), mean over trials."""
    fig, axes = figure(1, len(columns), height=3.6)
    rows = table[table["variant"] == variant]
    colors = plt.cm.viridis(np.linspace(0, 1, rows["round"].nunique()))
    for ax, (column, ylabel, scale) in zip(axes[0], columns, strict=True):
        for color, (r, group) in zip(colors, rows.groupby("round"), strict=True):
            curve = group.groupby("iteration")[column].mean() * scale
            ax.plot(curve.index, curve.to_numpy(), color=color, label=f"L={r} ({group['p_m'].iloc[0]:.1f}%)")
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


def reference_range(ax: Axes, high: float, low: float, text: str) -> None:
    """A shaded P_m range over which the paper states an effect, labelled as the paper's."""
    ax.axvspan(low, high, color="black", alpha=0.07, linewidth=0)
    ax.annotate(f"paper: {text}", xy=(high, 0.97), xycoords=("data", "axes fraction"), xytext=(-3, 0),
                textcoords="offset points", fontsize=9, ha="left", va="top", bbox=_NOTE_BOX)


def glue_figure(name: str, fig: Figure) -> None:
    """Glue ``fig`` for a ``{glue:figure}`` directive and close it, so the page shows it once."""
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def paper_conv_figure(reference: object) -> Figure:
    """Figures 5 and 6's panels with the paper's stated values alone (a page not run yet). The
    speed-ups and gains are relative to the unpruned network, so only their P_m is placed."""
    fig = plt.figure(figsize=(PAGE_WIDTH, 6.4))
    axes = fig.subplot_mosaic([["es", "acc"], ["dropout", "dropout"]])
    for model, (factor, at) in reference.CONV_ES_SPEEDUP.items():
        reference_pm(axes["es"], at, f"{model} {factor}x faster", left=model != "conv2")
    for model, (gain, at) in reference.CONV_ACC_GAIN_PP.items():
        reference_pm(axes["acc"], at, f"{model} +{gain} pp")
    for ax, title in ((axes["es"], "Fig. 5: early-stop iteration"), (axes["acc"], "Fig. 5: accuracy at early stop")):
        ax.set_yticks([])
        ax.set_ylabel("relative to unpruned")
        ax.set_title(title)
    drop = axes["dropout"]
    for model, (best, at) in reference.CONV_DROPOUT_BEST.items():
        reference_point(drop, at, 100 * best, f"{model} best {100 * best:.1f}%")
        reference_point(drop, 100, 100 * reference.CONV_DROPOUT_UNPRUNED[model], f"{model} unpruned")
    gains = ", ".join(f"{m} +{g} pp" for m, g in reference.CONV_DROPOUT_GAIN_PP.items())
    drop.set_title(f"Fig. 6 (dropout); paper: dropout's unpruned gain {gains}")
    drop.set_ylabel("Accuracy at early stop (test, %)")
    drop.set_ylim(76, 87)
    for ax in axes.values():
        pm_axis(ax)
    fig.tight_layout()
    return fig


def paper_vgg_figure(reference: object) -> Figure:
    """Figure 7's panels with the paper's stated values alone (a page not run yet)."""
    fig, axes = figure(1, len(reference.VGG19_CHECKPOINTS), height=3.6, sharey=True)
    low, high = reference.VGG19_UNPRUNED_TEST_ACC
    for ax, iteration in zip(axes[0], reference.VGG19_CHECKPOINTS, strict=True):
        pm_axis(ax)
        ax.set_xticks((100, 21.1, 3.6), ["100", "21.1", "3.6"])
        ax.set_xlabel("P_m (%)")
        ax.set_title(f"{iteration:,} iterations")
    last = axes[0, -1]
    last.axhspan(100 * low, 100 * high, color="black", alpha=0.1, linewidth=0)
    last.annotate("paper: unpruned\n92-93% (read off\na figure)", xy=(100, 100 * high), xytext=(0, 4),
                  textcoords="offset points", fontsize=9)
    reference_pm(last, reference.VGG19_WARMUP_MIN_PM, "tickets to 1.5%", y=0.6)
    reference_pm(last, reference.VGG19_LR001_WITHIN_1PP_PM, "lr 0.01 within 1 pp", y=0.6, left=True)
    axes[0, 0].set_ylim(85, 95)
    axes[0, 0].set_ylabel("Test accuracy (%)")
    fig.tight_layout()
    return fig
