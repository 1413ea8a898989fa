"""Execute the figure notebooks into the book with papermill, re-render them from its committed
tables, copy their results into it, pack unfinished runs, and build it (the work behind
``python -m lt_utils.book``, :mod:`lt_utils.book.cli`).

Finished rounds are reused (the engine resumes), and a configuration whose table the book
commits (``book/results``) is read from it: re-running a figure re-renders it without retraining.
A run too long for one machine's session is packed (``pack``: its finished rounds' tables and
the next round's masks, in ``book/results/resume``) and committed; the same ``run`` command in
another checkout goes on from there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from lt_utils.atomic import atomic_write_bytes, atomic_write_json, atomic_write_table
from lt_utils.book.notebook import read_run_record, recorded_runs
from lt_utils.book.pages import shown_round, write_pages
from lt_utils.book.params import as_declared, check_notebook_parameters
from lt_utils.book.registry import NOTEBOOKS, page
from lt_utils.errors import ConfigError, DamagedFileError, user_error_named
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import load_folder_table, save_resume_points
from lt_utils.lottery.integrity import CODE_VERSION_ENV, code_version, record_tables, table_problems
from lt_utils.lottery.locking import NO_WAIT_ENV
from lt_utils.lottery.options import DEVICE_TYPES, TRAINED_ON_ENV, RunOptions
from lt_utils.lottery.results import KEY_COLUMNS
from lt_utils.lottery.stored import StoredTableError, committed_rounds, stored_table
from lt_utils.validation import check_folder, require

SMOKE_PARAMETERS: dict[str, dict[str, Any]] = {name: {"smoke": True} for name in NOTEBOOKS}
"""CI's parameters: every notebook asks for its configuration's smoke version the same way."""

BOOK_FILES = ("_config.yml", "_toc.yml", "book")

PATH_PARAMETERS = ("record_dir", "results_dir", "stored_dir", "data_dir")


def repo_root() -> Path:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists() and (folder / "notebooks").is_dir():
            return folder
    raise ConfigError(f"{here} is not in the project's folder: run this from the folder that has _toc.yml "
                      "and notebooks/")


def failed_path(output: Path) -> Path:
    """Where a failed execution of ``output`` is kept: ``NAME.failed.ipynb`` beside it."""
    return output.with_name(f"{output.stem}.failed{output.suffix}")


def checked_notebook(name: str, parameters: dict[str, Any], root: Path) -> tuple[Any, dict[str, Any]]:
    """``notebooks/<name>.md``, read once ``parameters`` (paths relative to ``root``, where the
    kernel runs) pass every check it would make: no kernel starts for bad ones. Returns it and the
    parameters as declared (:func:`lt_utils.book.params.as_declared`)."""
    import jupytext

    page(name)  # an unknown one is refused, naming the pages
    notebook = jupytext.read(root / "notebooks" / f"{name}.md")
    declared = declared_parameters(notebook)
    unknown = set(parameters) - set(declared)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {sorted(unknown)} for {name}; valid parameters are {sorted(declared)}")
    parameters = as_declared(parameters, declared)
    check_notebook_parameters(name, {k: str(root / v) if k in PATH_PARAMETERS and isinstance(v, str) else v
                                     for k, v in parameters.items()}, declared)
    return notebook, parameters


def execute(name: str, parameters: dict[str, Any], output: Path, root: Path) -> Path:
    """Execute ``notebooks/<name>.md`` with ``parameters`` into ``output`` (an .ipynb path).

    The parameters are checked in Python first (:func:`checked_notebook`). The notebook runs
    into a temporary file that replaces ``output`` only on success; a failed run is kept as
    :func:`failed_path` and ``output`` is left as it was. A user's error raised in the kernel (bad
    data, a damaged file) is raised here again as itself, naming the notebook."""
    import papermill

    notebook, parameters = checked_notebook(name, parameters, root)
    output.parent.mkdir(parents=True, exist_ok=True)
    running = output.with_name(f".{output.stem}.running{output.suffix}")  # outside the toc: never built
    try:
        papermill.execute_notebook(notebook, str(running), parameters=parameters, cwd=str(root),
                                   kernel_name="python3", progress_bar=False, log_output=False)
    except BaseException as error:
        if running.exists():
            running.replace(failed_path(output))
        user_error = user_error_named(getattr(error, "ename", ""))
        if isinstance(error, papermill.PapermillExecutionError) and user_error is not None:
            raise user_error(f"{name}: {error.evalue} (the failed run is kept as {failed_path(output)})") from error
        raise
    running.replace(output)
    failed_path(output).unlink(missing_ok=True)
    tidy_executed(output, root)
    return output


def tidy_executed(path: Path, root: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell`` (the page shows the run's
    parameters once, in its scale note, not as code) and make papermill's recorded paths
    relative to ``root``: no committed notebook names a machine's folders."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    papermill = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if isinstance(papermill.get(key), str) and Path(papermill[key]).is_absolute():
            papermill[key] = relative(papermill[key], root)
    nbformat.write(notebook, str(path))


def declared_parameters(notebook: Any) -> dict[str, Any]:
    """The parameters cell of a notebook as papermill reads it (name -> type, default, help)."""
    import tempfile

    import nbformat
    import papermill

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "notebook.ipynb"
        nbformat.write(notebook, str(path))
        return papermill.inspect_notebook(str(path))


def relative(path: Path | str, root: Path) -> str:
    """``path`` relative to ``root`` (``..`` where needed): no executed notebook names a machine's folders."""
    return os.path.relpath(Path(path).resolve(), root.resolve())


def root_relative(parameters: dict[str, Any], root: Path) -> dict[str, Any]:
    """``parameters`` with each folder (``PATH_PARAMETERS``, as given: relative to the current folder)
    made relative to ``root``, where the notebook runs."""
    for name in PATH_PARAMETERS:
        require(isinstance(parameters.get(name), (str, os.PathLike, type(None))), name, parameters.get(name),
                "a folder (a path) or None")
    return {k: relative(v, root) if k in PATH_PARAMETERS and v is not None else v for k, v in parameters.items()}


def run_figure(name: str, parameters: dict[str, Any], root: Path, book_dir: Path, wait: bool = True) -> Path:
    """Execute one figure notebook into the book, replacing its not-yet-run placeholder.

    Paths are handed to the notebook relative to ``root``; the book's committed tables are its
    stored results, so a configuration the book already holds is re-rendered, not retrained.
    ``wait=False``: fail at once when another process holds one of its experiments."""

    if not wait:
        os.environ[NO_WAIT_ENV] = "1"  # the kernel inherits it; RunOptions(wait=None) reads it
    os.environ.setdefault(CODE_VERSION_ENV, code_version())  # before this run writes to the book
    parameters = root_relative({"record_dir": book_dir / "runs", "stored_dir": book_dir / "results", **parameters},
                               root)
    out = execute(name, parameters, book_dir / "figures" / f"{name}.ipynb", root)
    (book_dir / "figures" / f"{name}.md").unlink(missing_ok=True)  # the not-yet-run page and its figure
    (book_dir / "figures" / f"{name}_paper.png").unlink(missing_ok=True)
    record = book_dir / "runs" / f"{name}.json"
    data = read_run_record(record)
    data["parameters"] = {k: v for k, v in parameters.items() if k not in PATH_PARAMETERS}
    atomic_write_json(data, record)
    export_tables(record, Path(root, parameters.get("results_dir", "results")), book_dir / "results")
    write_pages(book_dir, root)
    return out


def recorded_parameters(name: str, book_dir: Path) -> dict[str, Any]:
    """The parameters a committed page was run with: from its run record, else from the
    executed notebook's papermill metadata (records written before they held them)."""
    import nbformat

    record = book_dir / "runs" / f"{name}.json"
    if not record.exists():
        raise ConfigError(f"{name} has never been run: it has no run record ({record}) to re-render it from; run it "
                          f"with 'python -m lt_utils.book run {name}'")
    parameters = read_run_record(record).get("parameters")
    if parameters is None:
        notebook = nbformat.read(str(book_dir / "figures" / f"{name}.ipynb"), as_version=4)
        parameters = dict(notebook.metadata.get("papermill", {}).get("parameters", {}))
    if not isinstance(parameters, dict):
        raise DamagedFileError(f"{record}: its 'parameters' are {parameters!r}, not a dict of the page's parameters; "
                               "restore it from git")
    return {k: v for k, v in parameters.items() if k not in PATH_PARAMETERS}


def rerender(name: str, root: Path, book_dir: Path) -> Path:
    """Re-execute a committed page with its recorded parameters, reading every result from the
    book's committed tables (verified first, against their manifest): nothing is trained, no data
    set is needed."""
    parameters = recorded_parameters(name, book_dir)
    problems = table_problems(book_dir / "results")
    if problems:
        raise StoredTableError(f"cannot re-render {name} from the book's tables: {'; '.join(problems)}")
    record = book_dir / "runs" / f"{name}.json"
    try:
        checked_notebook(name, root_relative({**parameters, "device": "cpu"}, root), root)
    except ConfigError as error:
        raise DamagedFileError(f"invalid parameters in {record}: {error} (if the record was edited, restore it "
                               "from git)") from None
    runs = recorded_runs(read_run_record(record))
    trained_on = recorded_device_type(name, runs)
    for run in runs:
        cfg = recorded_config(run, record)
        here = cfg.key_for(RunOptions(device="cpu", precision=run.get("identity", {}).get("precision", "fp32"),
                                      trained_on=trained_on, wait=False).identity(cfg))
        if here != run["key"]:  # stacked otherwise than its recorded parameters say: another key
            raise ConfigError(f"{name}: run {run['key']} was trained with {run.get('identity')}, and a re-render on "
                              f"the CPU would look for {here} (and train it); re-render it with "
                              f"'python -m lt_utils.book run {name}' on the device it ran on")
        shown = shown_round(run)
        if shown is not None:
            require(isinstance(shown, int) and not isinstance(shown, bool) and 0 <= shown <= cfg.rounds,
                    f"last_round of run {run['key']} in {record}", shown, f"a round in [0, {cfg.rounds}]")
        if stored_table(cfg, book_dir / "results", run["key"], through=shown) is None:
            raise StoredTableError(f"{name}: the book holds no table for {run['key']} in {book_dir / 'results'}; "
                                   f"run it with 'python -m lt_utils.book run {name}'")
    before = os.environ.get(TRAINED_ON_ENV)
    os.environ[TRAINED_ON_ENV] = trained_on  # the kernel inherits it: its runs look up the recorded keys
    try:
        return run_figure(name, {**parameters, "device": "cpu"}, root, book_dir)
    finally:
        if before is None:
            os.environ.pop(TRAINED_ON_ENV, None)
        else:
            os.environ[TRAINED_ON_ENV] = before


def recorded_device_type(name: str, runs: list[dict[str, Any]]) -> str:
    """The device type (``cpu``, ``cuda``) that a page's recorded ``runs`` were trained on: a re-render
    on the CPU reads their results under it. A page whose runs were trained on several is refused."""
    types = {str(run.get("identity", {}).get("device", "cpu")) for run in runs} or {"cpu"}
    if len(types) != 1 or not types <= set(DEVICE_TYPES):
        raise ConfigError(f"{name}: its recorded runs were trained on {sorted(types)}; a re-render reads the runs "
                          f"of one device type from {DEVICE_TYPES}: re-render it with 'python -m lt_utils.book run "
                          f"{name}' where its runs are")
    return types.pop()


def recorded_config(run: dict[str, Any], record: Path) -> ExperimentConfig:
    """The configuration of one run of the run ``record``, checked against the key it is filed under
    (an edited configuration is named as such, not taken for another device's run)."""
    try:
        cfg = ExperimentConfig.from_dict(run["config"])
    except ConfigError as error:
        raise DamagedFileError(f"{record}: the config of run {run['key']} is not valid ({error})") from error
    identity = run.get("identity")
    if isinstance(identity, dict) and cfg.key_for(identity) != run["key"]:
        raise DamagedFileError(f"{record}: the config of run {run['key']} does not match its key (with the recorded "
                               f"identity {identity} it is {cfg.key_for(identity)}): the record was edited; restore "
                               "it from git")
    return cfg


def check_same_rounds(committed: Path, table: pd.DataFrame) -> None:
    """Refuse to write ``table`` over the committed table ``committed`` where a round both hold differs:
    a run may add rounds to the book's table, never replace the numbers of rounds it holds."""
    if not committed.exists():
        return
    old = pd.read_csv(committed)
    ordered = [*KEY_COLUMNS, "iteration"]
    for r in sorted(set(old["round"]) & set(table["round"])):
        a = old[old["round"] == r].sort_values(ordered).reset_index(drop=True)
        b = table[table["round"] == r].sort_values(ordered).reset_index(drop=True)
        b = b[a.columns.intersection(b.columns)]
        try:
            pd.testing.assert_frame_equal(a[b.columns], b, check_dtype=False, rtol=1e-6)
        except AssertionError as error:
            raise StoredTableError(f"{committed}: round {r} of the book's table differs from this run's "
                                   f"({str(error).splitlines()[0]}); a run never replaces the numbers of rounds the "
                                   "book holds: remove the committed table (and its manifest entry) to replace "
                                   "it") from None


def export_tables(record: Path, results_dir: Path, out_dir: Path) -> None:
    """Copy the results of every run in a run record into the book: the tidy table of each
    experiment, and every other table (``*.csv.gz``) of its folder and of the folders the record
    lists under ``exports`` (chapter analyses). Checkpoints stay behind. The tables written are
    recorded in ``out_dir``'s manifest (``lt_utils.lottery.integrity.record_tables``)."""
    written = []
    data = read_run_record(record)
    for run in recorded_runs(data):
        cfg = ExperimentConfig.from_dict(run["config"])
        table = load_folder_table(results_dir / run["key"], cfg.rounds)
        shown = run.get("last_round")
        if not table.empty:  # a run in parts: the rounds its page shows, as its record says
            table = table[table["round"] <= (cfg.rounds if shown is None else shown)]
        if not table.empty and committed_rounds(out_dir, run["key"]) > table["round"].max() + 1:
            table = table.iloc[:0]  # the book's table goes further than this checkout's rounds: it stays
        if not table.empty:  # empty: re-rendered from the book's own table (its exports may still be new)
            check_same_rounds(out_dir / f"{run['key']}.csv.gz", table)
            atomic_write_table(table, out_dir / f"{run['key']}.csv.gz")
            written.append(out_dir / f"{run['key']}.csv.gz")
        for folder in [run["key"], *run.get("exports", [])]:
            for table in sorted((results_dir / folder).rglob("*.csv.gz")):
                relative = table.relative_to(results_dir / folder)
                if relative.parts[0] != "rounds":
                    atomic_write_bytes(out_dir / folder / relative, table.read_bytes())
                    written.append(out_dir / folder / relative)
    if written:
        record_tables(out_dir, written)


def build(root: Path, extra: list[str] | None = None) -> None:
    """Build the book at ``root`` offline with warnings as errors."""
    jupyter_book = str(Path(sys.executable).with_name("jupyter-book"))
    cmd = [jupyter_book, "build", str(root), "--warningiserror", "--nitpick", "--keep-going", *(extra or [])]
    subprocess.run(cmd, check=True)


def smoke(root: Path, out: Path, data_dir: str | None) -> None:
    """Run every notebook on its tiny configuration and build the book from those outputs in ``out``
    (deleted first: it must be new, empty, or an earlier smoke run's)."""
    if out.exists() and out.is_dir() and any(out.iterdir()) and not (out / "site").is_dir():
        raise ConfigError(f"invalid --out={str(out)!r}: must be a new or empty folder, or an earlier smoke run's "
                          "(one with site/ in it), since it is deleted first")
    check_folder("--out", out, writable=True)
    if data_dir is not None:
        check_folder("--data-dir", data_dir, must_exist=True)
    if out.exists():
        shutil.rmtree(out)
    site = out / "site"
    site.mkdir(parents=True)
    for item in BOOK_FILES:
        src = root / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, site / item)
    shutil.rmtree(site / "book" / "runs", ignore_errors=True)
    for name in NOTEBOOKS:
        params = {**SMOKE_PARAMETERS[name], "results_dir": str(out / "results"), "device": "cpu"}
        if data_dir:
            params["data_dir"] = data_dir
        (site / "book" / "figures" / f"{name}.ipynb").unlink(missing_ok=True)
        run_figure(name, params, root, site / "book")
    build(site)


def pack(results_dir: Path, stored_dir: Path) -> None:
    """Write a resume point of every unfinished run in ``results_dir`` into ``stored_dir`` (recorded in its
    manifest), and say what was packed, or that nothing was."""
    check_folder("--results-dir", results_dir, must_exist=True)
    check_folder("--stored-dir", stored_dir, writable=True)
    points = save_resume_points(results_dir, stored_dir)
    for point in points:
        print(f"{point} ({point.stat().st_size / 1e6:.2f} MB)")
    if not points:
        print(f"nothing to pack: no run in {results_dir} is unfinished with a finished round")
