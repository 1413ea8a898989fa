"""Figures in the paper's style: P_m on a reversed log axis, mean with min/max error bars.

Every figure is at most :data:`PAGE_WIDTH` inches wide and its text at least 9 pt, so it reads
at page width in the book; the scale of a run goes in the caption, never in the figure. Each
variant has one colour and marker everywhere (``lt_utils.lottery.variants.VARIANTS``); the paper's own values
are drawn in black and labelled "paper", beside the mark where the label covers no data, else in
the axes' legend (:func:`labels_over_data` finds any label that does). A panel whose values a run
did not measure (``patience``: the stopped networks' end-of-training values; ``test_eval="where_read"``:
test accuracy at a fixed iteration) is not drawn, and :func:`unmeasured_caption` names it for the
caption; where only some variants were measured (the winning tickets train to the end, the controls
stop), a panel draws those and names the others (:func:`not_measured`). Figure 3 without test curves
says so in its panels.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from lt_utils.book import reference as ref
from lt_utils.lottery.results import PM_TOLERANCE, accuracy_at, early_stopping, measured, nearest_pm, summarize
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
_NOTE_BOX = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1}  # paper labels
NETWORK_LINESTYLES = ("-", "--", ":", "-.")  # several networks or settings in one panel, in order
PM_TICKS = ref.LENET_FIGURE3_PM  # the P_m of the paper's Figure 3
SPARSE_TICKS = PM_TICKS[::2]  # fewer ticks, for narrow panels (100, 21.1, 3.6)

# Figure 4 (Lenet) and Figure 5 (Conv): the paper's four panels.
FOUR_PANELS = (("es_iteration", "Early-stop iteration (val.)", 1.0),
               ("es_test_acc", "Accuracy at early stop (test, %)", 100.0),
               ("final_test_acc", "Accuracy at end of training (test, %)", 100.0),
               ("final_train_acc", "Accuracy at end of training (train subset, %)", 100.0))
WHOLE_TRAIN_PANEL = ("final_train_acc_full", "Accuracy at end of training (train, %)", 100.0)


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
        return "Every panel holds this run's values."
    return (f"Not drawn, because this run did not measure them (see the run line): {'; '.join(panels)}.")


def not_measured(ax: Axes, what: str = "") -> None:
    """Say in panel ``ax`` that its values were not measured in this run (``what``: whose)."""
    ax.text(0.5, 0.5, f"not measured in this run{what}\n(see the run line)", transform=ax.transAxes,
            ha="center", va="center", fontsize=9, bbox=_NOTE_BOX)


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
    colors = dict(zip(all_pms, plt.cm.viridis(np.linspace(0, 0.9, len(all_pms))), strict=True))
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
    axes[0, 0].set_ylabel("Test accuracy (%)")
    if bands:
        fit_ylim_after(axes[0, 0], bands, settle)
    legend_below(fig, list(axes[0]), ncol=4, title="P_m (%)")
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
        missing, drawn = [], 0
        for per_net, variants, suffix, style in per_nets:
            # patience stopped the controls before the end: their end-of-training values are not measured,
            # while the winning tickets, which train the whole schedule (prune_at="end"), have theirs
            shown = [v for v in variants if measured(_network_rows(per_net, v), column)]
            if shown:
                metric_vs_pm(per_net, column, ax, shown, scale, suffix, style)
                drawn += 1
            missing += [f"{label(v)}{suffix}".strip() for v in variants if v not in shown and column in per_net]
        ax.set_ylabel(ylabel)
        pm_axis(ax)
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
    legend_below(fig, list(axes[0]))
    return fig


_PAPER_GID = "paper"
"""The gid of a paper mark whose label found no clear spot beside it: the axes' legend names it."""
_LEGEND_SPOTS = ("upper left", "upper right", "lower left", "lower right", "upper center", "lower center",
                 "center left", "center right", "center")


def _paper_text(text: str, where: str = "") -> str:
    """A paper mark's label, wrapped; ``where`` locates the mark in a legend (several may look alike)."""
    return "\n".join([textwrap.fill(f"paper: {text}", 30), *([f"({where})"] if where else [])])


def _covered(ax: Axes, box: Bbox, renderer: object, label: Artist) -> tuple[int, int]:
    """What ``label``, drawn in ``box`` (display coordinates), covers in ``ax``: ``(data, shading)``.
    Data are lines (paper marks included), markers, error bars, bands, other labels and legends,
    and anything outside the axes; shading is a patch, such as a paper range."""
    inside = ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1
    data = 0 if inside else 1
    for line in (line for line in ax.lines if line.get_visible()):
        path = line.get_transform().transform_path(line.get_path())
        r = line.get_markersize() * ax.figure.dpi / 144 if line.get_marker() not in (None, "None", "") else 0
        near = Bbox.from_extents(box.x0 - r, box.y0 - r, box.x1 + r, box.y1 + r)
        drawn = line.get_linestyle() not in ("None", "", " ") and path.intersects_bbox(box, filled=False)
        data += bool(drawn or near.count_contains(path.vertices))
    for collection in ax.collections:
        filled = isinstance(collection, PolyCollection)
        transform = collection.get_transform()
        data += any(transform.transform_path(p).intersects_bbox(box, filled=filled) for p in collection.get_paths())
    others = [*ax.texts, *([ax.get_legend()] if ax.get_legend() else [])]
    data += sum(box.overlaps(o.get_window_extent(renderer)) for o in others if o is not label and o.get_visible())
    shading = sum(box.overlaps(p.get_window_extent(renderer)) for p in ax.patches)
    return data, shading


def labels_over_data(fig: Figure) -> list[str]:
    """The texts and legends inside ``fig``'s axes that cover data (lines, markers, error bars,
    bands, other labels) or stick out of their axes: none, in a figure that reads."""
    renderer = _renderer(fig)
    found = []
    for ax in fig.axes:
        for label in [*ax.texts, *([ax.get_legend()] if ax.get_legend() else [])]:
            if label.get_visible() and _covered(ax, label.get_window_extent(renderer), renderer, label)[0]:
                found.append(label.get_text() if isinstance(label, Text) else
                             "legend: " + "; ".join(t.get_text() for t in label.get_texts()))
    return found


def _renderer(fig: Figure) -> object:
    """A renderer of ``fig``, drawn once so that its limits and layout are settled."""
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _label_mark(ax: Axes, mark: Artist, text: str, spots: Sequence[dict], legend_text: str, **common) -> None:
    """Label ``mark`` with ``text`` at the first of ``spots`` (``annotate`` keywords) where the
    label covers no data (preferring no shading either); with none clear, the axes' legend of
    paper marks names it instead, as ``legend_text``."""
    renderer = _renderer(ax.figure)
    scores = []
    for i, spot in enumerate(spots):
        label = ax.annotate(text, fontsize=9, bbox=_NOTE_BOX, **common, **spot)
        scores.append((_covered(ax, label.get_window_extent(renderer), renderer, label), i))
        label.remove()
        if scores[-1][0] == (0, 0):
            break
    (data, _), best = min(scores)
    if data == 0:
        ax.annotate(text, fontsize=9, bbox=_NOTE_BOX, **common, **spots[best])
        return
    mark.set_label(legend_text)
    mark.set_gid(_PAPER_GID)
    marks = [a for a in ax.get_children() if a.get_gid() == _PAPER_GID]
    legend = ax.legend(marks, [m.get_label() for m in marks], framealpha=0.9)
    renderer = _renderer(ax.figure)
    scores = []
    for i, loc in enumerate(_LEGEND_SPOTS):
        legend.set_loc(loc)
        scores.append((_covered(ax, legend.get_window_extent(renderer), renderer, legend), i))
    legend.set_loc(_LEGEND_SPOTS[min(scores)[1]])


def reference_line(ax: Axes, value: float, text: str) -> None:
    """A dashed horizontal line for one of the paper's stated values, labelled as the paper's
    where the label covers no data: above or below the line, else in the axes' legend."""
    line = ax.axhline(value, color="black", linestyle="--", linewidth=1)
    spots = [{"xy": (x, value), "xytext": (0, dy), "ha": ha, "va": "bottom" if dy > 0 else "top"}
             for dy in (2, -2) for x, ha in ((0.02, "left"), (0.98, "right"), (0.5, "center"))]
    _label_mark(ax, line, _paper_text(text), spots, _paper_text(text), xycoords=("axes fraction", "data"),
                textcoords="offset points")


def reference_point(ax: Axes, x: float, y: float, text: str) -> None:
    """A star at one of the paper's stated (P_m, value) points, labelled as the paper's beside it
    where the label covers no data, else in the axes' legend."""
    (star,) = ax.plot([x], [y], **PAPER_STYLE)
    spots = [{"xy": (x, y), "xytext": (6 * dx, 6 * dy), "ha": "left" if dx > 0 else "right",
              "va": "bottom" if dy > 0 else "top"} for dx in (1, -1) for dy in (1, -1)]
    _label_mark(ax, star, _paper_text(text), spots, _paper_text(text, f"at P_m {x:g}%"), textcoords="offset points")


def reference_pm(ax: Axes, pm: float, text: str) -> None:
    """A dotted vertical line at a P_m where the paper states a value relative to the unpruned
    network (no absolute value to place), labelled as the paper's along it where the label
    covers no data (top, bottom or middle; either side), else in the axes' legend."""
    line = ax.axvline(pm, color="black", linestyle=":", linewidth=1)
    spots = [{"xy": (pm, y), "xytext": (3 * side, 0), "ha": "left" if side > 0 else "right", "va": va}
             for y, va in ((0.97, "top"), (0.03, "bottom"), (0.5, "center")) for side in (1, -1)]
    _label_mark(ax, line, _paper_text(text), spots, _paper_text(text, f"at P_m {pm:g}%"),
                xycoords=("data", "axes fraction"), textcoords="offset points", rotation=90)
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
        if missing and len(missing) == len(tables):
            _leave_out(fig, ax, f"test accuracy at {iteration:,} iterations")
        elif missing:
            not_measured(ax, f" for {', '.join(missing)}")
            pm_axis(ax)
        ax.set_title(f"{iteration:,} iterations")
        ax.set_xticks(SPARSE_TICKS, [f"{p:g}" for p in SPARSE_TICKS])
        ax.set_xlabel("P_m (%)")
    axes[0, 0].set_ylabel("Test accuracy (%)")
    legend_below(fig, list(axes[0]))
    return fig


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


def reference_range(ax: Axes, high: float, low: float, text: str) -> None:
    """A shaded P_m range over which the paper states an effect, labelled as the paper's inside it
    (at its top or bottom) where the label covers no data, else in the axes' legend."""
    span = ax.axvspan(low, high, color="black", alpha=0.07, linewidth=0)
    spots = [{"xy": (x, y), "xytext": (3 * side, 0), "ha": "left" if side > 0 else "right", "va": va}
             for y, va in ((0.97, "top"), (0.03, "bottom")) for x, side in ((high, 1), (low, -1))]
    _label_mark(ax, span, _paper_text(text), spots, _paper_text(text, f"P_m {high:g} to {low:g}%"),
                xycoords=("data", "axes fraction"), textcoords="offset points")


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
    for ax, iteration in zip(axes[0], reference.VGG19_CHECKPOINTS, strict=True):
        pm_axis(ax)
        ax.set_xticks(SPARSE_TICKS, [f"{p:g}" for p in SPARSE_TICKS])
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
