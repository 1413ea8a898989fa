"""Run the figure notebooks with papermill and build the book.

    python -m lt_utils.book run lenet_imp -p trials 2 -p device cuda   # one figure, into book/figures
    python -m lt_utils.book run all                                    # every figure, paper scale
    python -m lt_utils.book rerender lenet_imp                         # re-render from committed tables
    python -m lt_utils.book smoke --data-dir ../shared/data --out DIR  # CI: tiny runs + book build in DIR
    python -m lt_utils.book build                                      # build the book (warnings as errors)
    python -m lt_utils.book pack                                       # resume points of unfinished runs

This module parses the command line and dispatches: the work is in :mod:`lt_utils.book.runner`
(running, re-rendering, packing, building) and :mod:`lt_utils.book.pages` (the generated pages).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lt_utils.book.pages import write_pages
from lt_utils.book.registry import NOTEBOOKS
from lt_utils.book.runner import build, checked_notebook, pack, repo_root, rerender, root_relative, run_figure, smoke
from lt_utils.errors import ConfigError, user_errors


def parse_value(text: str) -> Any:
    """A ``-p`` value exactly as papermill's own ``-p`` reads it: ``True``, ``False``, ``None``, an
    int, a float, else the string itself (``3,7`` stays the string ``"3,7"``)."""
    from papermill.cli import _resolve_type

    return _resolve_type(text)


def parse_parameters(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as a dict of parsed values; a name given twice is refused."""
    parameters: dict[str, Any] = {}
    for name, text in pairs:
        if name in parameters:
            given = [value for other, value in pairs if other == name]
            raise ConfigError(f"invalid -p {name}: given {len(given)} times ({', '.join(given)}); give each "
                              "parameter once")
        parameters[name] = parse_value(text)
    return parameters


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lt_utils.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute figure notebook(s) into the book")
    run.add_argument("notebook", choices=[*NOTEBOOKS, "all"])
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    run.add_argument("--no-wait", action="store_true",
                     help="fail at once if another process is running the same experiment (default: wait)")
    smoke_cmd = sub.add_parser("smoke", help="tiny runs of every notebook and a book build, in a scratch folder")
    smoke_cmd.add_argument("--out", default=".ci-out")
    smoke_cmd.add_argument("--data-dir", default=None)
    again = sub.add_parser("rerender", help="re-render committed page(s) from the book's tables, without training")
    again.add_argument("notebook", choices=[*NOTEBOOKS, "all"])
    sub.add_parser("build", help="build the book from the executed notebooks in book/")
    pack = sub.add_parser("pack", help="pack every unfinished run in a results folder into a resume point in "
                                       "book/results/resume, to commit: another checkout goes on from there")
    pack.add_argument("--results-dir", default="results")
    pack.add_argument("--stored-dir", default=None, help="where resume/ goes (default: the book's book/results)")
    args = parser.parse_args(argv)
    with user_errors(parser.prog):
        command(args)


def command(args: argparse.Namespace) -> None:
    """Run the parsed command line ``args`` (a user's error raises, for ``main`` to report)."""
    root = repo_root()
    if args.command == "run":
        params = parse_parameters(args.parameter)
        names = NOTEBOOKS if args.notebook == "all" else [args.notebook]
        for name in names:  # every notebook's parameters, before any of them runs
            checked_notebook(name, root_relative(params, root), root)
        for name in names:
            print(run_figure(name, params, root, root / "book", wait=not args.no_wait))
    elif args.command == "rerender":
        names = [n for n in NOTEBOOKS if (root / "book" / "runs" / f"{n}.json").exists()] \
            if args.notebook == "all" else [args.notebook]
        for name in names:
            print(rerender(name, root, root / "book"))
    elif args.command == "smoke":
        smoke(root, Path(args.out).resolve(), args.data_dir)
    elif args.command == "pack":
        pack(Path(args.results_dir), Path(args.stored_dir) if args.stored_dir else root / "book" / "results")
    else:
        write_pages(root / "book", root)
        build(root)
