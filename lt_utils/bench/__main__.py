"""``python -m lt_utils.bench``: the benchmark (``lt_utils.bench.command``)."""

from lt_utils.bench.command import main

main()
