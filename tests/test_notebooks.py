import json
from pathlib import Path

import jupytext
import nbformat
import pytest

from lt_utils.book.notebook import UNKNOWN_CODE, check_parameters, run_record, save_run_record, scale_note
from lt_utils.book.pages import reproducibility_page
from lt_utils.book.registry import NOTEBOOKS
from lt_utils.book.runner import SMOKE_PARAMETERS, declared_parameters, execute
from lt_utils.errors import ConfigError
from lt_utils.lottery import integrity
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset

ROOT = Path(__file__).resolve().parents[1]
COMMON = {"trials", "iterations", "seed", "device", "data_dir", "results_dir", "record_dir"}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_are_typed_and_explained(name):
    params = declared_parameters(jupytext.read(ROOT / "notebooks" / f"{name}.md"))
    assert COMMON <= set(params)
    assert set(SMOKE_PARAMETERS[name]) <= set(params)
    for param in params.values():
        assert param["inferred_type_name"] not in ("None", ""), param
        assert len(param["help"]) > 10, param


def _parameter_lines(cells: list) -> list[str]:
    """The lines of the one cell tagged ``parameters`` (papermill's own cell is tagged
    ``injected-parameters``), without trailing spaces and blank lines."""
    found = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(found) == 1, f"{len(found)} parameters cells"
    return [line.rstrip() for line in found[0].source.splitlines() if line.strip()]


PAGES = sorted(p for p in (ROOT / "book" / "figures").glob("*.ipynb") if not p.name.startswith("."))
"""The executed pages (not a run in progress, ``.NAME.running.ipynb``, which git ignores)."""


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_executed_pages_declare_their_notebooks_parameters(page):
    """A committed page was executed from its notebook as it is now: a page run before a parameter
    was added (or its help changed) is stale; `python -m lt_utils.book rerender NAME` renews it."""
    executed = _parameter_lines(nbformat.read(str(page), as_version=4).cells)
    source = _parameter_lines(jupytext.read(ROOT / "notebooks" / f"{page.stem}.md").cells)
    assert executed == source, (f"{page.name} is stale (its parameters cell is not notebooks/{page.stem}.md's): "
                                f"run 'python -m lt_utils.book rerender {page.stem}'")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_store_no_outputs(name):
    text = (ROOT / "notebooks" / f"{name}.md").read_text()
    assert "outputs" not in jupytext.reads(text, fmt="md:myst").cells[0]


def test_mistyped_parameter_fails_with_the_valid_names():
    params = 'preset: str = "lenet"  # x\ntrials: int = 5  # y\n'
    check_parameters(["", params, "trials = 3\n", "check_parameters(In)"])
    with pytest.raises(ConfigError, match=r"\['trails'\].*\['preset', 'trials'\]"):
        check_parameters(["", params, "trails = 3\n", "check_parameters(In)"])


def test_runner_rejects_unknown_parameter_before_running(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown parameter.*'trails'.*valid parameters"):
        execute("lenet_imp", {"trails": 3}, tmp_path / "out.ipynb", ROOT)
    assert list(tmp_path.iterdir()) == []


def test_scale_note_names_every_difference_from_the_paper():
    assert scale_note(preset("lenet"), "lenet").startswith("Full scale")
    note = scale_note(preset("lenet", trials=2, iterations=5000), "lenet")
    assert note == "Reduced scale: 5,000 of 50,000 iterations, 2 of 5 trials"
    assert scale_note(preset("smoke"), "lenet").startswith("SMOKE RUN")
    assert scale_note(preset("lenet", trials=10, lr=0.01), "lenet") == \
        "Settings changed: lr=0.01 (full scale: 0.0012), trials=10 (full scale: 5)"
    note = scale_note(preset("conv2", trials=1, reinit_rounds=(3, 7, 14)), "conv2")
    assert note == "Reduced scale: 1 of 5 trials, reinitializations at rounds 3, 7, 14 only (full scale: every round)"



def test_scale_note_says_when_a_run_stopped_early_or_read_the_test_set_only_where_read():
    note = scale_note(preset("lenet", patience=2_000), "lenet")
    assert note.startswith("Full scale (every other setting as the paper's); early termination: patience 2,000 "
                           "iterations, masks from the end of the schedule (the winning tickets train the whole "
                           "schedule, as the paper's")
    stop = scale_note(preset("lenet", patience=2_000, prune_at="stop"), "lenet")
    assert "pruned where it stopped (prune_at='stop', not the paper's protocol" in stop
    note = scale_note(preset("lenet", trials=2, test_eval="where_read"), "lenet")
    assert note.startswith("Reduced scale: 2 of 5 trials; test set evaluated only at the early-stopping iteration")
    assert "patience" not in note and "test_eval" not in note


def test_reproducibility_page_lists_each_run(tmp_path):
    record = {"config": preset("smoke").to_dict(), "key": "smoke-abc", "device": ["NVIDIA H100"], "wall_seconds": 90,
              "networks_trained": 18, "torch": ["2.5.0"], "python": "3.11.7", "finished": "2026-11-21T10:00:00",
              "cuda": "12.4"}
    (tmp_path / "lenet_imp.json").write_text(json.dumps({"notebook": "lenet_imp", "runs": [record]}))
    page = reproducibility_page(tmp_path)
    assert "NVIDIA H100" in page and "1.5 min (18 networks)" in page and '"trials": 2' in page
    assert f"| code that produced the numbers | {UNKNOWN_CODE} |" in page  # a record from before codes were kept
    record |= {"code": ["2f88abf", "ec259d0-dirty"], "drawn_by_code": "7425aaf"}
    (tmp_path / "lenet_imp.json").write_text(json.dumps({"notebook": "lenet_imp", "runs": [record]}))
    page = reproducibility_page(tmp_path)
    assert "| code that produced the numbers | 2f88abf, ec259d0-dirty |" in page
    assert "| code that drew the page | 7425aaf |" in page


def test_run_records_name_the_code_of_their_numbers_and_of_their_page(tmp_path, data_dir):
    cfg = preset("lenet", trials=1, rounds=0, iterations=20, eval_every=10, train_eval_size=100)
    run_experiment(cfg, results_dir=str(tmp_path / "results"), data_dir=str(data_dir), device="cpu", progress=False)
    trained = run_record(cfg, RunOptions(results_dir=str(tmp_path / "results"), device="cpu"))
    assert trained["code"] == [integrity.code_version()] and trained["drawn_by_code"] == integrity.code_version()

    # re-rendered without training (nothing in results/): the committed record's code stays, the page's is added
    records = tmp_path / "runs"
    save_run_record("lenet_imp", [trained | {"code": ["abc1234"], "drawn_by_code": "old"}], str(records))
    again = run_record(cfg, RunOptions(results_dir=str(tmp_path / "empty"), device="cpu"), str(records), "lenet_imp")
    assert again["code"] == ["abc1234"] and again["drawn_by_code"] == integrity.code_version()
    legacy = {k: v for k, v in trained.items() if k not in ("code", "drawn_by_code")}
    save_run_record("lenet_imp", [legacy], str(records))
    again = run_record(cfg, RunOptions(results_dir=str(tmp_path / "empty"), device="cpu"), str(records), "lenet_imp")
    assert again["code"] == [UNKNOWN_CODE] and again["drawn_by_code"] == integrity.code_version()


def test_code_version_is_git_describe_and_the_runners_in_its_kernels(monkeypatch):
    """``git describe`` of this checkout (not the package version, as when it looked for .git one
    folder too low); the book's runner passes its own, taken before it wrote any page, to its
    kernels: its writes to the book do not make their code '-dirty'."""
    import subprocess

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    monkeypatch.delenv(integrity.CODE_VERSION_ENV, raising=False)
    integrity.code_version.cache_clear()
    try:
        describe = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                  text=True, check=True).stdout.strip()
        assert integrity.code_version() == describe
        integrity.code_version.cache_clear()
        monkeypatch.setenv(integrity.CODE_VERSION_ENV, "abc1234")
        assert integrity.code_version() == "abc1234"
    finally:
        integrity.code_version.cache_clear()


@pytest.mark.parametrize("parameters,message", [
    ({"trails": 3}, r"unknown notebook parameter\(s\) \['trails'\]"),
    ({"trials": 0}, r"invalid trials=0: must be a positive integer"),
])
def test_notebook_fails_in_its_first_cells_on_bad_parameters(tmp_path, parameters, message):
    import papermill

    notebook = jupytext.read(ROOT / "notebooks" / "lenet_imp.md")
    with pytest.raises(papermill.PapermillExecutionError, match=message) as error:
        papermill.execute_notebook(notebook, str(tmp_path / "out.ipynb"), parameters=parameters,
                                   kernel_name="python3", progress_bar=False, cwd=str(ROOT))
    assert error.value.exec_count <= 3  # parameters, injected parameters, then the first code cell


def test_export_copies_tables_not_checkpoints(tmp_path):
    import pandas as pd

    from lt_utils.atomic import atomic_write_table
    from lt_utils.book.runner import export_tables
    from lt_utils.lottery.integrity import write_manifest

    cfg = preset("smoke")
    results = tmp_path / "results"
    rows = pd.DataFrame({"variant": ["iterative"], "trial": [0], "replicate": [0], "round": [0], "p_m": [100.0],
                         "iteration": [0], "val_loss": [1.0]})
    atomic_write_table(rows, results / cfg.key / "rounds" / "round_00.csv.gz")
    atomic_write_table(rows, results / cfg.key / "landscape" / "distances.csv.gz")
    atomic_write_table(rows, results / "dual_lenet-abc" / "rst.csv.gz")
    write_manifest(results / cfg.key, 0, {results / cfg.key / "rounds" / "round_00.csv.gz": 1}, {})  # a finished round
    (results / cfg.key / "state").mkdir()
    (results / cfg.key / "state" / "round_00.pt").write_bytes(b"checkpoint")
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"notebook": "x", "runs": [{"config": cfg.to_dict(), "key": cfg.key,
                                                              "exports": ["dual_lenet-abc"]}]}))
    export_tables(record, results, tmp_path / "book")
    exported = sorted(str(p.relative_to(tmp_path / "book")) for p in (tmp_path / "book").rglob("*") if p.is_file())
    assert exported == sorted([f"{cfg.key}.csv.gz", f"{cfg.key}/landscape/distances.csv.gz",
                               "dual_lenet-abc/rst.csv.gz", "MANIFEST.json"])  # the manifest lists the tables
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "book" / f"{cfg.key}.csv.gz"), rows, check_dtype=False)


def test_export_copies_new_chapter_tables_of_an_experiment_read_from_the_book(tmp_path):
    """A chapter re-run on top of a committed IMP table (nothing of it in results/) still exports its
    own new tables."""
    import pandas as pd

    from lt_utils.atomic import atomic_write_table
    from lt_utils.book.runner import export_tables

    cfg = preset("smoke")
    results = tmp_path / "results"
    rows = pd.DataFrame({"variant": ["rst"], "trial": [0]})
    atomic_write_table(rows, results / "dual_lenet-abc" / "unilth.csv.gz")
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"notebook": "x", "runs": [{"config": cfg.to_dict(), "key": cfg.key,
                                                              "exports": ["dual_lenet-abc"]}]}))
    export_tables(record, results, tmp_path / "book")
    exported = sorted(str(p.relative_to(tmp_path / "book")) for p in (tmp_path / "book").rglob("*") if p.is_file())
    assert exported == ["MANIFEST.json", "dual_lenet-abc/unilth.csv.gz"]


def test_a_run_a_page_compares_with_is_recorded_kept_and_exported_with_the_page(tmp_path):
    import pandas as pd

    from lt_utils.atomic import atomic_write_table
    from lt_utils.book.notebook import committed_record
    from lt_utils.book.pages import reproducibility_page
    from lt_utils.book.runner import export_tables
    from lt_utils.lottery.integrity import write_manifest

    results, records = tmp_path / "results", tmp_path / "runs"
    page_cfg, other_cfg = preset("smoke"), preset("smoke", seed=7)
    rows = pd.DataFrame({"variant": ["iterative"], "trial": [0], "replicate": [0], "round": [0], "p_m": [100.0],
                         "iteration": [0], "val_loss": [1.0]})
    for cfg in (page_cfg, other_cfg):
        atomic_write_table(rows, results / cfg.key / "rounds" / "round_00.csv.gz")
        write_manifest(results / cfg.key, 0, {results / cfg.key / "rounds" / "round_00.csv.gz": 1}, {})
    base = {"device": ["cpu"], "wall_seconds": 1.0, "networks_trained": 1, "finished": "x", "torch": ["t"],
            "cuda": None, "python": "3", "last_round": 0}
    mine = base | {"config": page_cfg.to_dict(), "key": page_cfg.key}
    other = base | {"config": other_cfg.to_dict(), "key": other_cfg.key}
    save_run_record("lenet_imp", [mine], str(records), compared=[other])
    save_run_record("lenet_imp", [mine], str(records))  # a page saves its own runs first: the comparison is kept
    record = json.loads((records / "lenet_imp.json").read_text())
    assert [r["key"] for r in record["runs"]] == [page_cfg.key]
    assert [r["key"] for r in record["compared"]] == [other_cfg.key]
    assert committed_record(str(records), "lenet_imp", other_cfg.key)["key"] == other_cfg.key  # a re-render finds it
    assert f"(`{other_cfg.key}`) — compared with this page's run" in reproducibility_page(records)
    export_tables(records / "lenet_imp.json", results, tmp_path / "book")
    assert all((tmp_path / "book" / f"{cfg.key}.csv.gz").exists() for cfg in (page_cfg, other_cfg))
    save_run_record("lenet_imp", [mine], str(records), compared=[])  # given: replaces the comparison
    assert "compared" not in json.loads((records / "lenet_imp.json").read_text())


def test_a_run_that_a_page_stops_showing_keeps_its_record_for_the_comparison_that_follows(tmp_path):
    """A page switched to another run saves its new runs first; the run it showed before, which its
    comparison now only compares with, keeps the provenance it was committed with (its results are
    not on this machine)."""
    from lt_utils.book.notebook import committed_record

    records = tmp_path / "runs"
    before, after = preset("smoke", seed=7), preset("smoke")
    old = {"config": before.to_dict(), "key": before.key, "device": ["cpu"], "wall_seconds": 12.0, "code": ["abc1234"]}
    save_run_record("conv_dropout", [old], str(records))
    save_run_record("conv_dropout", [{"config": after.to_dict(), "key": after.key}], str(records))
    found = committed_record(str(records), "conv_dropout", before.key)
    assert {k: found[k] for k in ("key", "device", "wall_seconds", "code")} == \
        {k: old[k] for k in ("key", "device", "wall_seconds", "code")}
    assert committed_record(str(records), "lenet_imp", before.key) is None  # another page's record: not this one
    assert committed_record(str(records), "conv_dropout", preset("smoke", seed=8).key) is None
