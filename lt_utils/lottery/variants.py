"""The variants: every kind of network a table's ``variant`` column names, in one table.

Each variant has a name (the value stored in result tables and used in seeds, so it never
changes), the label every legend and text shows, one colour and marker for every figure, a
one-line meaning, and the runner that trains it. The runners, the plots, the claims and the
notebooks read names and labels from here.
"""

from __future__ import annotations

from dataclasses import dataclass

ITERATIVE = "iterative"
ONESHOT = "oneshot"
REINIT = "reinit"
RANDOM_SPARSE = "random_sparse"
FINETUNE = "finetune"
RANDOM_SPARSE_REINIT = "random_sparse_reinit"
RST = "rst"
UNILTH = "unilth"
UNIDLTH = "unidlth"


@dataclass(frozen=True)
class Variant:
    """One kind of network: its stored name, book label, figure style, meaning and runner."""

    name: str  # the value of the ``variant`` column (stored; also enters the seeds)
    label: str  # shown in every legend, table and text
    color: str  # matplotlib colour, the same in every figure
    marker: str  # matplotlib marker, the same in every figure
    meaning: str  # one line for readers
    runner: str  # the module that trains it: "experiments", "landscape" or "transform"


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant(ITERATIVE, "winning ticket (iterative)", "tab:blue", "o",
            "iterative magnitude pruning, the survivors rewound to their initial (or iteration-k) values",
            "experiments"),
    Variant(ONESHOT, "winning ticket (one-shot)", "tab:green", "s",
            "the dense trained network pruned once to a round's sparsity, then rewound", "experiments"),
    Variant(REINIT, "random reinitialization", "tab:orange", "^",
            "the winning ticket's mask with a fresh random initialization", "experiments"),
    Variant(RANDOM_SPARSE, "random sparse network", "tab:red", "v",
            "a random mask at the ticket's per-layer sparsity, from the ticket's initial weights", "experiments"),
    Variant(FINETUNE, "fine-tuning (no rewinding)", "tab:olive", "h",
            "the dense trained network pruned to the last level's counts and trained on, without rewinding",
            "landscape"),
    Variant(RANDOM_SPARSE_REINIT, "random mask, random init", "tab:gray", "<",
            "a random mask at the last level's sparsity with a fresh random initialization", "landscape"),
    Variant(RST, "RST (DLTH)", "tab:purple", "D",
            "a random mask at initialization; a growing L2 penalty removes the other weights", "transform"),
    Variant(UNILTH, "UniLTH", "tab:brown", "P",
            "trained to a plateau, then a growing penalty removes the smallest weights in stages", "transform"),
    Variant(UNIDLTH, "UniDLTH", "tab:pink", "X",
            "as UniLTH, with the weights to remove chosen at random", "transform"),
)}
"""Every variant by name, in the order legends list them."""


def names(runner: str) -> tuple[str, ...]:
    """The names of the variants that ``runner`` ("experiments", "landscape", "transform") trains."""
    return tuple(name for name, variant in VARIANTS.items() if variant.runner == runner)


def label(name: str) -> str:
    """The book's label of variant ``name`` (every legend and text uses it)."""
    return VARIANTS[name].label


def labels(chosen: list[str] | tuple[str, ...]) -> str:
    """Labels of several variants for a caption, separated by semicolons (a label may hold a comma)."""
    return "; ".join(label(name) for name in chosen)
