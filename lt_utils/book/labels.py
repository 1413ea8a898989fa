"""The paper's values as marks in a figure, each labelled "paper" where the label covers no data.

A mark (a line, a star, a P_m or a range of P_m) is labelled beside it at the first clear spot;
with none clear, the axes' legend names it. ``labels_over_data`` finds any label that covers data.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from lt_utils.book.style import NOTE_BOX

PAPER_STYLE = {"color": "black", "marker": "*", "markersize": 11, "linestyle": "none"}
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
        label = ax.annotate(text, fontsize=9, bbox=NOTE_BOX, **common, **spot)
        scores.append((_covered(ax, label.get_window_extent(renderer), renderer, label), i))
        label.remove()
        if scores[-1][0] == (0, 0):
            break
    (data, _), best = min(scores)
    if data == 0:
        ax.annotate(text, fontsize=9, bbox=NOTE_BOX, **common, **spots[best])
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


def reference_range(ax: Axes, high: float, low: float, text: str) -> None:
    """A shaded P_m range over which the paper states an effect, labelled as the paper's inside it
    (at its top or bottom) where the label covers no data, else in the axes' legend."""
    span = ax.axvspan(low, high, color="black", alpha=0.07, linewidth=0)
    spots = [{"xy": (x, y), "xytext": (3 * side, 0), "ha": "left" if side > 0 else "right", "va": va}
             for y, va in ((0.97, "top"), (0.03, "bottom")) for x, side in ((high, 1), (low, -1))]
    _label_mark(ax, span, _paper_text(text), spots, _paper_text(text, f"P_m {high:g} to {low:g}%"),
                xycoords=("data", "axes fraction"), textcoords="offset points")
