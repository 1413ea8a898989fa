"""The book's side: what the figure notebooks call, and the command line that runs them.

- :mod:`~lt_utils.book.reference` (the paper's numbers), :mod:`~lt_utils.book.claims` (the one table
  of claims: paper against run, noise-aware verdicts), :mod:`~lt_utils.book.compare` (runs side
  by side), :mod:`~lt_utils.book.plots` (figures drawn like the paper's),
  :mod:`~lt_utils.book.notebook` (a notebook's parameters, run line and record);
- :mod:`~lt_utils.book.pages` (the front page's scoreboard, pages of figures not run yet),
  :mod:`~lt_utils.book.params` (parameter checks before a kernel starts);
- the command lines: ``python -m lt_utils.book`` (:mod:`~lt_utils.book.cli`: run, smoke,
  rerender, build), ``python -m lt_utils.book.bench`` (the benchmark) and
  ``python -m lt_utils.book.migrate`` (stored results under older keys).

It may import every layer below it. This face imports only what the notebooks use, so that the
command-line modules run without being imported twice.
"""

from lt_utils.book import plots
from lt_utils.book import reference as ref
from lt_utils.book.claims import claims_table, evaluate_claims
from lt_utils.book.compare import (
    compare_runs,
    protocols_side_by_side,
    run_diagnostics,
    variants_side_by_side,
    what_changed,
)
from lt_utils.book.notebook import (
    check_parameters,
    configure,
    conv_presets,
    device_note,
    parse_choices,
    parse_rounds,
    progress_note,
    run_presets,
    run_record,
    save_run_record,
    scale_note,
    scale_notes,
)

__all__ = [
    "check_parameters", "claims_table", "compare_runs", "configure", "conv_presets", "device_note", "evaluate_claims",
    "parse_choices", "parse_rounds", "plots", "progress_note", "protocols_side_by_side", "ref", "run_diagnostics",
    "run_presets", "run_record", "save_run_record", "scale_note", "scale_notes", "variants_side_by_side",
    "what_changed",
]
