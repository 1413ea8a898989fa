"""``python -m lt_utils.book``: run, smoke-run and re-render the figure notebooks, and build the book."""

from lt_utils.book.cli import main

main()
