"""A run record says whether the package's own files were those of the commit it names, apart from
whether the book's pages differed (issue 33)."""

import subprocess

from lt_utils.book.notebook import package_note, run_record, save_run_record
from lt_utils.book.pages import reproducibility_page
from lt_utils.lottery import integrity
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset

TINY = {"iterations": 20, "eval_every": 10, "trials": 1, "rounds": 0, "reinits": 0, "one_shot_rounds": (),
        "random_sparse": False, "train_eval_size": 100}


def test_the_package_state_is_the_trees_own(monkeypatch):
    integrity.package_state.cache_clear()
    state = integrity.package_state()
    root = integrity.Path(integrity.__file__).resolve().parents[2]
    status = subprocess.run(["git", "status", "--porcelain", "--", "lt_utils"], cwd=root, capture_output=True,
                            text=True, check=True).stdout
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert state["commit"] == head and state["lt_utils_clean"] == (status.strip() == "")
    assert len(state["lt_utils_sha256"]) == 64


def test_the_digest_changes_with_a_package_file_and_not_with_a_page(tmp_path, monkeypatch):
    package = tmp_path / "lt_utils" / "lottery"
    package.mkdir(parents=True)
    (package / "integrity.py").write_text("# a copy\n")
    (tmp_path / "book").mkdir()
    monkeypatch.setattr(integrity, "__file__", str(package / "integrity.py"))
    integrity.package_state.cache_clear()
    first = integrity.package_state()
    assert first["commit"] is None and first["lt_utils_clean"] is None  # no repository: nothing claimed
    integrity.package_state.cache_clear()
    (tmp_path / "book" / "page.md").write_text("a page")
    assert integrity.package_state() == first
    integrity.package_state.cache_clear()
    (package / "integrity.py").write_text("# changed\n")
    assert integrity.package_state()["lt_utils_sha256"] != first["lt_utils_sha256"]
    integrity.package_state.cache_clear()


def test_a_run_record_states_the_package_files_apart_from_the_pages(tmp_path, data_dir):
    integrity.package_state.cache_clear()
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False, "device": "cpu"}
    run_experiment(cfg, results_dir=str(tmp_path / "results"), **options)
    record = run_record(cfg, RunOptions(results_dir=str(tmp_path / "results"), **options))
    assert record["drawn_by_package"] == integrity.package_state()
    save_run_record("lenet_imp", [record | {"drawn_by_package": {"commit": "abcdef1234567", "lt_utils_clean": True,
                                                                 "lt_utils_sha256": "0123456789abcdef"}}],
                    str(tmp_path / "runs"))
    page = reproducibility_page(tmp_path / "runs")
    assert "| package files when drawn | lt_utils identical to commit abcdef1234 (sha256 0123456789ab) |" in page
    assert package_note({"commit": "abc", "lt_utils_clean": False, "lt_utils_sha256": "f" * 64}).startswith(
        "lt_utils differed from commit abc")
    assert package_note(None) == "not recorded"
