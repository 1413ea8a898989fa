"""The paper's figures: P_m on a reversed log axis, mean with min/max error bars.

They follow the book's style (``lt_utils.book.style``: page width, fonts, each variant's colour
and marker); the scale of a run goes in the caption, never in the figure. The paper's own values
are drawn in black and labelled "paper" where the label covers no data (``lt_utils.book.labels``).
A panel whose values a run did not measure (``patience``: the stopped networks' end-of-training
values; ``test_eval="where_read"``: test accuracy at a fixed iteration) is not drawn, and
:func:`unmeasured_caption` names it for the caption; where only some variants were measured (the
winning tickets train to the end, the controls stop), a panel draws those and names the others
(:func:`not_measured`). Figure 3 without test curves says so in its panels.

The notebooks draw through this module alone: it also holds the style's helpers, the paper marks
and the chapters' figures (``lt_utils.book.chapter_plots``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lt_utils.book import reference as ref
from lt_utils.book.chapter_plots import (  # noqa: F401 (re-exported: the notebooks call them as plots.*)
    curves_by_round,
    interpolation_figure,
    per_level,
    spectra_figure,
    variant_comparison,
)
from lt_utils.book.labels import (  # noqa: F401 (re-exported)
    PAPER_STYLE,
    labels_over_data,
    reference_line,
    reference_pm,
    reference_point,
    reference_range,
)
from lt_utils.book.style import (  # noqa: F401 (re-exported)
    BOOK_STYLE,
    MIN_FONT_PT,
    NOTE_BOX,
    PAGE_WIDTH,
    VARIANT_STYLE,
    figure,
    fit_ylim_after,
    glue_figure,
    label,
    legend_below,
    smallest_font,
)
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import (
    LATE_STOP,
    PM_TOLERANCE,
    accuracy_at,
    early_stopping,
    measured,
    nearest_pm,
    summarize,
)
from lt_utils.lottery.variants import ITERATIVE, REINIT

NETWORK_LINESTYLES = ("-", "--", ":", "-.")  # several networks or settings in one panel, in order
PM_TICKS = ref.LENET_FIGURE3_PM  # the P_m of the paper's Figure 3

# Figure 4 (Lenet) and Figure 5 (Conv): the paper's four panels.
FOUR_PANELS = (("es_iteration", "Early-stop iteration (val.)", 1.0),
               ("es_test_acc", "Accuracy at early stop (test, %)", 100.0),
               ("final_test_acc", "Accuracy at end of training (test, %)", 100.0),
               ("final_train_acc", "Accuracy at end of training (train subset, %)", 100.0))
WHOLE_TRAIN_PANEL = ("final_train_acc_full", "Accuracy at end of training (train, %)", 100.0)


NARROW_SPACING = 2.4
"""``pm_ticks``' spacing for narrow panels (three to a row): fewer ticks."""


def pm_axis(ax: Axes, p_m: Sequence[float] | None = None, spacing: float = 1.8) -> None:
    """P_m on a reversed log axis (dense on the left): with the paper's Lenet ticks, or, given the
    ``p_m`` a figure's networks reach (another network's rounds), ticks at those (``pm_ticks``, at
    least ``spacing`` apart) and the axis ending just past the sparsest."""
    ticks = PM_TICKS if p_m is None else pm_ticks(p_m, spacing)
    ax.set_xscale("log")
    ax.set_xlim(120, 1.2 if p_m is None else min(ticks) / 1.3)  # reversed: dense on the left, as in the paper
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("Percent of weights remaining (P_m)")


def pm_ticks(p_m: Sequence[float], spacing: float = 1.8) -> list[float]:
    """Ticks at the reached ``p_m`` (rounded to 0.1), densest first, each at least ``spacing``
    times the next, the sparsest always among them: readable at a panel's width."""
    values = sorted({round(float(v), 1) for v in p_m}, reverse=True)
    ticks = [values[0]]
    for value in values[1:]:
        if ticks[-1] / value >= spacing:
            ticks.append(value)
    if values[-1] != ticks[-1]:  # keep the sparsest: it replaces a tick too close to it
        if len(ticks) > 1 and ticks[-1] / values[-1] < spacing:
            ticks[-1] = values[-1]
        else:
            ticks.append(values[-1])
    return ticks


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


LATE_LABEL = "early stop in the last tenth of training (a lower bound)"


def mark_late_stops(ax: Axes, per_net: pd.DataFrame, variants: Sequence[str]) -> None:
    """Ring each network of ``variants`` whose early-stopping iteration falls in the last tenth of
    its schedule (``LATE_STOP``): the schedule's end may have cut its minimum short."""
    end = per_net["final_iteration"].max()
    late = per_net[per_net["variant"].isin(variants) & (per_net["es_iteration"] >= LATE_STOP * end)]
    if not late.empty:
        ax.plot(late["p_m"], late["es_iteration"], linestyle="none", marker="o", markersize=11,
                markerfacecolor="none", markeredgecolor="black", label=LATE_LABEL)


def _network_rows(per_net: pd.DataFrame, variant: str) -> pd.DataFrame:
    """``variant``'s networks in ``per_net`` with the dense networks its curve starts from."""
    return per_net[(per_net["variant"] == variant) | (per_net["round"] == 0)]


def _leave_out(fig: Figure, ax: Axes, panel: str) -> None:
    """Hide panel ``ax``, which this run did not measure, and name it for :func:`unmeasured_caption`."""
    ax.set_visible(False)
    fig.unmeasured_panels = [*getattr(fig, "unmeasured_panels", []), panel]


def unmeasured_caption(fig: Figure) -> str:
    """A sentence for ``fig``'s caption naming the panels left out because the run did not measure them."""
    panels = getattr(fig, "unmeasured_panels", [])
    if not panels:
        if getattr(fig, "partly_measured", False):
            return "Every panel holds this run's values, but for the networks a panel names as not measured."
        return "Every panel holds this run's values."
    return (f"Not drawn, because this run did not measure them (see the run line): {'; '.join(panels)}.")


def error_bars_caption(tables: Sequence[pd.DataFrame]) -> str:
    """A sentence for a caption on the error bars of ``tables``' figure: min and max over trials,
    or, where every table has one trial, that there are none."""
    if any(table["trial"].nunique() > 1 for table in tables):
        return "Error bars: min and max over trials."
    return "One trial per point, so no error bars (the claims table gives each number's range)."


def not_measured(ax: Axes, what: str = "") -> None:
    """Say in panel ``ax`` that its values were not measured in this run (``what``: whose), in lines
    short enough for a narrow panel."""
    whose = textwrap.fill(what.strip(), 28)
    if whose:
        ax.figure.partly_measured = True  # for unmeasured_caption
    ax.text(0.5, 0.5, "\n".join(["not measured in this run", *([whose] if whose else []), "(see the run line)"]),
            transform=ax.transAxes, ha="center", va="center", fontsize=9, bbox=NOTE_BOX)


_F3 = ref.LENET_FIGURE3_PM
FIGURE3_PANELS = ((ITERATIVE, _F3[:3], ()),
                  (ITERATIVE, (_F3[0], *_F3[2:]), ()),
                  (ITERATIVE, _F3[:3], _F3[1:3]))


def figure3(table: pd.DataFrame, panels: Sequence[tuple[str, Sequence[float], Sequence[float]]] = FIGURE3_PANELS,
            settle: float = 0.1) -> Figure:
    """Figure 3: test accuracy over training, three panels of P_m (the third with random
    reinitializations dashed); mean over trials with a min-max band. The y axis is fitted to the
    curves after the first ``settle`` fraction of training, where they differ; one legend for
    the panels, under them (each P_m has one colour in every panel)."""
    fig, axes = figure(1, len(panels), height=3.3, sharey=True)
    if not measured(table, "test_acc"):  # patience, or the test set evaluated only where read
        for ax in axes[0]:
            not_measured(ax)
            ax.set_xlabel("Training iterations")
        axes[0, 0].set_ylabel("Test accuracy (%)")
        fig.tight_layout()
        return fig
    all_pms = sorted({pm for _, pms, reinits in panels for pm in (*pms, *reinits)}, reverse=True)
    colors = {pm: plt.cm.tab10(i % 10) for i, pm in enumerate(all_pms)}  # one distinct colour per P_m
    bands = []
    for ax, (variant, pms, reinit_pms) in zip(axes[0], panels, strict=True):
        for kind, chosen, style in ((variant, pms, "-"), (REINIT, reinit_pms, "--")):
            rows = table[table["variant"] == kind]
            for pm in chosen:
                nearest = nearest_pm(rows["p_m"].unique(), pm, PM_TOLERANCE)
                if nearest is None:
                    continue
                curve = rows[rows["p_m"] == nearest].groupby("iteration")["test_acc"].agg(["mean", "min", "max"])
                text = f"{nearest:.1f}" + (" reinit" if kind == REINIT else "")
                ax.plot(curve.index, 100 * curve["mean"], color=colors[pm], linestyle=style, label=text)
                ax.fill_between(curve.index, 100 * curve["min"], 100 * curve["max"], color=colors[pm], alpha=0.15)
                bands += [100 * curve["min"], 100 * curve["max"]]
        ax.set_xlabel("Training iterations")
        ax.set_title(f"P_m {max(pms):g} to {min(pms):g}%" + (", reinit. dashed" if reinit_pms else ""), fontsize=10)
    axes[0, 0].set_ylabel("Test accuracy (%)")
    if bands:
        fit_ylim_after(axes[0, 0], bands, settle)
    legend_below(fig, list(axes[0]), ncol=4, title="P_m (%)")
    return fig


def four_panel_figure(lines: Sequence[tuple[pd.DataFrame, Sequence[str], str, str]],
                      panels: Sequence[tuple[str, str, float]] = FOUR_PANELS, ncol: int = 2,
                      own_ticks: bool = False) -> Figure:
    """Figures 4 and 5: a 2x2 grid (early-stop iteration, accuracy at early stop, test and
    training accuracy at the end of training) against P_m. ``lines`` holds ``(table, variants,
    label suffix, line style)``: one network or setting each. Training accuracy is the whole
    training split's where the tables hold it, else the tracked subset's (labelled so).
    ``own_ticks``: P_m ticks at the networks' own rounds (not Lenet's, as in Figure 4)."""
    fig, axes = figure(2, 2, height=6.4)
    per_nets = [(early_stopping(table), variants, suffix, style) for table, variants, suffix, style in lines]
    reached = [p for per_net, *_ in per_nets for p in per_net["p_m"]]
    whole = all(WHOLE_TRAIN_PANEL[0] in p and p[WHOLE_TRAIN_PANEL[0]].notna().all() for p, *_ in per_nets)
    if whole:  # the whole training split, measured at the end of training (tables stored since it was)
        panels = [WHOLE_TRAIN_PANEL if panel[0] == "final_train_acc" else panel for panel in panels]
    for ax, (column, ylabel, scale) in zip(axes.flat, panels, strict=False):
        missing, drawn = [], 0
        for per_net, variants, suffix, style in per_nets:
            # patience stopped the controls before the end: their end-of-training values are not measured,
            # while the winning tickets, which train the whole schedule (prune_at="end"), have theirs
            shown = [v for v in variants if measured(_network_rows(per_net, v), column)]
            if shown:
                metric_vs_pm(per_net, column, ax, shown, scale, suffix, style)
                if column == "es_iteration":
                    mark_late_stops(ax, per_net, shown)
                drawn += 1
            missing += [f"{label(v)}{suffix}".strip() for v in variants if v not in shown and column in per_net]
        ax.set_ylabel(ylabel)
        pm_axis(ax, reached if own_ticks else None)
        if missing and not drawn:  # a panel that would hold nothing is not drawn; the caption says so
            _leave_out(fig, ax, ylabel)
        elif missing:
            not_measured(ax, f" for {', '.join(missing)}")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    if not any(ax.get_visible() for ax in axes[1]):  # the bottom row left out: keep no blank half-figure
        for ax in axes[1]:
            fig.delaxes(ax)
        grid = fig.add_gridspec(1, axes.shape[1])
        for i, ax in enumerate(axes[0]):
            ax.set_subplotspec(grid[0, i])
        fig.set_figheight(fig.get_figheight() / 2 + 0.6)
    legend_below(fig, list(fig.axes), ncol)
    return fig


def early_stopping_figure(table: pd.DataFrame, variants: Sequence[str]) -> Figure:
    """Figure 1's layout: early-stop iteration and test accuracy at early stop against P_m."""
    fig, axes = figure(1, 2, height=3.6)
    per_net = early_stopping(table)
    for ax, (column, ylabel, scale) in zip(axes[0], FOUR_PANELS[:2], strict=True):
        metric_vs_pm(per_net, column, ax, variants, scale)
        ax.set_ylabel(ylabel)
    mark_late_stops(axes[0, 0], per_net, variants)
    legend_below(fig, list(axes[0]))
    return fig


def conv_figure(tables: dict[str, pd.DataFrame]) -> Figure:
    """Figure 5: the four panels, each network a line style, tickets against reinitialization."""
    lines = [(table, [ITERATIVE, REINIT], f" {name}", NETWORK_LINESTYLES[i % 4])
             for i, (name, table) in enumerate(tables.items())]
    return four_panel_figure(lines, own_ticks=True)


def dropout_figure(pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> Figure:
    """Figure 6: early-stop iteration and accuracy at early stop of winning tickets, with dropout
    (solid) and without (dashed, hollow markers); one column per network."""
    fig, axes = figure(2, max(1, len(pairs)), height=6.0)
    for col, (name, (plain, dropout)) in enumerate(pairs.items()):
        reached = []
        for table, suffix, style, hollow in ((dropout, " with dropout", "-", False), (plain, " without", "--", True)):
            per_net = early_stopping(table)
            reached += list(per_net["p_m"])
            for row, (column, ylabel, scale) in enumerate(FOUR_PANELS[:2]):
                metric_vs_pm(per_net, column, axes[row, col], [ITERATIVE], scale, suffix, style, hollow)
                axes[row, col].set_ylabel(ylabel if col == 0 else "")
            mark_late_stops(axes[0, col], per_net, [ITERATIVE])
        for row in range(2):
            pm_axis(axes[row, col], reached)
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
        if missing and len(missing) == len(tables):
            _leave_out(fig, ax, f"test accuracy at {iteration:,} iterations")
        elif missing:
            not_measured(ax, f" for {', '.join(missing)}")
            pm_axis(ax)
        ax.set_title(f"{iteration:,} iterations")
        pm_axis(ax, [p for table in tables.values() for p in table["p_m"]], spacing=NARROW_SPACING)
        ax.set_xlabel("P_m (%)")
    axes[0, 0].set_ylabel("Test accuracy (%)")
    legend_below(fig, list(axes[0]))
    return fig


def paper_conv_figure(reference: object) -> Figure:
    """Figures 5 and 6's panels with the paper's stated values alone (a page not run yet). The
    speed-ups and gains are relative to the unpruned network, so only their P_m is placed."""
    fig = plt.figure(figsize=(PAGE_WIDTH, 6.4))
    axes = fig.subplot_mosaic([["es", "acc"], ["dropout", "dropout"]])
    for ax in axes.values():
        pm_axis(ax)
    for ax, title in ((axes["es"], "Fig. 5: early-stop iteration"), (axes["acc"], "Fig. 5: accuracy at early stop")):
        ax.set_yticks([])
        ax.set_ylabel("relative to unpruned")
        ax.set_title(title)
    drop = axes["dropout"]
    gains = ", ".join(f"{m} +{g} pp" for m, g in reference.CONV_DROPOUT_GAIN_PP.items())
    drop.set_title(f"Fig. 6 (dropout); paper: dropout's unpruned gain {gains}")
    drop.set_ylabel("Accuracy at early stop (test, %)")
    drop.set_ylim(76, 87)
    fig.tight_layout()  # the layout first: each label is placed where it covers nothing
    for model, (factor, at) in reference.CONV_ES_SPEEDUP.items():
        reference_pm(axes["es"], at, f"{model} {factor}x faster")
    for model, (gain, at) in reference.CONV_ACC_GAIN_PP.items():
        reference_pm(axes["acc"], at, f"{model} +{gain} pp")
    for model, (best, at) in reference.CONV_DROPOUT_BEST.items():
        reference_point(drop, at, 100 * best, f"{model} best {100 * best:.1f}%")
        reference_point(drop, 100, 100 * reference.CONV_DROPOUT_UNPRUNED[model], f"{model} unpruned")
    return fig


def paper_vgg_figure(reference: object) -> Figure:
    """Figure 7's panels with the paper's stated values alone (a page not run yet)."""
    fig, axes = figure(1, len(reference.VGG19_CHECKPOINTS), height=3.6, sharey=True)
    low, high = reference.VGG19_UNPRUNED_TEST_ACC
    vgg = preset("vgg19_lr01_warmup")  # global pruning: P_m falls by the global rate each round
    p_m = [100 * (1 - vgg.prune.global_rate) ** r for r in range(vgg.rounds + 1)]
    for ax, iteration in zip(axes[0], reference.VGG19_CHECKPOINTS, strict=True):
        pm_axis(ax, p_m, spacing=NARROW_SPACING)
        ax.set_xlabel("P_m (%)")
        ax.set_title(f"{iteration:,} iterations")
    axes[0, 0].set_ylim(85, 95)
    axes[0, 0].set_ylabel("Test accuracy (%)")
    fig.tight_layout()  # the layout first: each label is placed where it covers nothing
    last = axes[0, -1]
    last.axhspan(100 * low, 100 * high, color="black", alpha=0.1, linewidth=0)
    last.annotate("paper: unpruned\n92-93% (read off\na figure)", xy=(100, 100 * high), xytext=(0, 4),
                  textcoords="offset points", fontsize=9)
    reference_pm(last, reference.VGG19_WARMUP_MIN_PM, "tickets to 1.5%")
    reference_pm(last, reference.VGG19_LR001_WITHIN_1PP_PM, "lr 0.01 within 1 pp")
    return fig
