"""lt_utils: the Lottery Ticket Hypothesis, reproduced fast and to the letter.

The package is layered, and each layer imports only the layers below it:

- :mod:`lt_utils.book`: the book's side: the paper's numbers, claims, figures, pages, the
  notebook helpers and the command line (``python -m lt_utils.book``);
- :mod:`lt_utils.chapters`: the extension chapters' studies (IMP's landscape, dual tickets);
- :mod:`lt_utils.bench`: the benchmark (``python -m lt_utils.bench``) and the projections of a
  figure's hours from its reports (beside the chapters: neither imports the other);
- :mod:`lt_utils.lottery`: lottery-ticket experiments (configurations, presets, variants,
  pruning rounds with their controls) and their stored, checked and resumable results;
- :mod:`lt_utils.engine`: training stacks of networks at once (models, data, pruning masks,
  the training step);
- :mod:`lt_utils.errors`, :mod:`lt_utils.validation` and :mod:`lt_utils.atomic` (atomic file
  writes), imported by all.
"""
