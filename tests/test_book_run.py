"""`book run`: a failed execution never replaces the committed notebook."""

from pathlib import Path

import nbformat
import papermill
import pytest

from lt_utils.book import cli
from lt_utils.book import runner as book

ROOT = Path(__file__).resolve().parents[1]


def _fake_papermill(monkeypatch, fail: bool):
    def execute_notebook(notebook, output, **kwargs):
        nbformat.write(nbformat.v4.new_notebook(metadata={"run": "failed" if fail else "new"}), output)
        if fail:
            raise papermill.PapermillExecutionError(0, 1, "ValueError", "ValueError", "boom", [])

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)


def test_failed_run_keeps_the_committed_notebook_and_the_failure_beside_it(tmp_path, monkeypatch):
    output = tmp_path / "lenet_imp.ipynb"
    output.write_text("committed page")
    _fake_papermill(monkeypatch, fail=True)
    with pytest.raises(papermill.PapermillExecutionError):
        book.execute("lenet_imp", {"preset": "smoke"}, output, ROOT)
    assert output.read_text() == "committed page"
    failed = book.failed_path(output)
    assert failed.name == "lenet_imp.failed.ipynb"
    assert nbformat.read(failed, as_version=4).metadata["run"] == "failed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet_imp.failed.ipynb", "lenet_imp.ipynb"]


def test_successful_run_replaces_the_notebook_and_clears_an_old_failure(tmp_path, monkeypatch):
    output = tmp_path / "lenet_imp.ipynb"
    output.write_text("committed page")
    book.failed_path(output).write_text("old failure")
    _fake_papermill(monkeypatch, fail=False)
    book.execute("lenet_imp", {"preset": "smoke"}, output, ROOT)
    assert nbformat.read(output, as_version=4).metadata["run"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet_imp.ipynb"]


def test_run_command_refuses_bad_parameter_without_touching_the_book(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel was started"))
    monkeypatch.chdir(ROOT)
    before = (ROOT / "book" / "figures").stat().st_mtime_ns
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "lenet_imp", "-p", "trials", "0", "-p", "results_dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "python -m lt_utils.book: error: invalid trials=0: must be a positive integer\n"
    assert (ROOT / "book" / "figures").stat().st_mtime_ns == before
