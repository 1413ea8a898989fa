"""The book's side: what the figure notebooks call, and the command line that runs them.

- :mod:`~lt_utils.book.reference` (the paper's numbers), :mod:`~lt_utils.book.claims` (the one table
  of claims: paper against run, noise-aware verdicts), :mod:`~lt_utils.book.compare` (runs side
  by side), :mod:`~lt_utils.book.plots` (figures drawn like the paper's),
  :mod:`~lt_utils.book.notebook` (a notebook's parameters, run line and record);
- :mod:`~lt_utils.book.registry` (the one table of pages: each page's notebook, presets and
  configuration from its parameters), :mod:`~lt_utils.book.pages` (every generated page: the
  scoreboard, pages of figures not run yet, reproducibility, benchmark tables),
  :mod:`~lt_utils.book.params` (parameter checks before a kernel starts);
- the command lines: ``python -m lt_utils.book`` (:mod:`~lt_utils.book.cli` parses,
  :mod:`~lt_utils.book.runner` runs, re-renders, packs and builds),
  ``python -m lt_utils.bench`` (the benchmark, :mod:`lt_utils.bench`) and
  ``python -m lt_utils.book.migrate`` (stored results under older keys).

It may import every layer below it. This face imports only what the notebooks use, so that the
command-line modules run without being imported twice.
"""

from lt_utils.book import plots
from lt_utils.book import reference as ref
from lt_utils.book.claims import claims_table, evaluate_claims
from lt_utils.book.compare import (
    OVERLAP_COLUMN,
    OVERLAP_NOT_AT_HAND,
    compare_runs,
    protocols_side_by_side,
    run_diagnostics,
    shortcut_decision,
    styled_comparison,
    variants_side_by_side,
    what_changed,
)
from lt_utils.book.notebook import (
    PageSetup,
    check_parameters,
    configure,
    conv_presets,
    device_note,
    parse_choices,
    parse_rounds,
    progress_note,
    run_line,
    run_presets,
    run_record,
    save_run_record,
    scale_note,
    scale_notes,
)
from lt_utils.book.registry import configure_page

__all__ = [
    "OVERLAP_COLUMN", "OVERLAP_NOT_AT_HAND",
    "PageSetup", "check_parameters", "claims_table", "compare_runs", "configure", "configure_page", "conv_presets",
    "device_note", "evaluate_claims", "parse_choices", "parse_rounds", "plots", "progress_note",
    "protocols_side_by_side", "ref", "run_diagnostics", "run_line", "run_presets", "run_record", "save_run_record",
    "scale_note", "scale_notes", "shortcut_decision", "styled_comparison", "variants_side_by_side", "what_changed",
]
