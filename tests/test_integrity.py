"""Damaged, interrupted and stray stored files: named, never read as results, recomputed."""

import gzip
import json
import stat
from pathlib import Path

import pandas as pd
import pytest

import lt_utils.lottery.experiments as experiments
from lt_utils.book.runner import export_tables
from lt_utils.errors import DamagedFileError, DamagedResultWarning
from lt_utils.lottery.experiments import experiment_path, finished_rounds, load_ticket, load_trained, run_experiment
from lt_utils.lottery.integrity import TABLES_MANIFEST, manifest_path, table_problems
from lt_utils.lottery.presets import preset

BOOK = Path(__file__).resolve().parents[1] / "book"
TINY = {"iterations": 20, "eval_every": 10, "trials": 1, "rounds": 2, "reinits": 0, "one_shot_rounds": (),
        "random_sparse": False, "train_eval_size": 100}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    """One finished tiny run, kept pristine: tests damage copies of it."""
    results = tmp_path_factory.mktemp("pristine")
    cfg = preset("smoke", **TINY)
    table = run_experiment(cfg, results_dir=str(results), data_dir=str(data_dir), progress=False).table
    return cfg, results, table


def _copy(finished, tmp_path):
    import shutil

    cfg, results, table = finished
    shutil.copytree(results, tmp_path, dirs_exist_ok=True)
    return cfg, experiment_path(cfg, tmp_path), table


def _rerun(cfg, results, data_dir, monkeypatch=None, trained=None):
    if monkeypatch is not None:
        original = experiments._Runner._train

        def spy(self, r, nets):
            trained.append(r)
            return original(self, r, nets)

        monkeypatch.setattr(experiments._Runner, "_train", spy)
    return run_experiment(cfg, results_dir=str(results), data_dir=str(data_dir), progress=False).table


def test_each_round_has_a_manifest_with_hashes_and_rows(finished):
    cfg, results, table = finished
    import json

    manifest = json.loads(manifest_path(experiment_path(cfg, results), 1).read_text())
    assert set(manifest["files"]) == {"state/round_01.pt", "tickets/round_01.pt", "rounds/round_01.json",
                                      "rounds/round_01.csv.gz"}
    assert manifest["files"]["rounds/round_01.csv.gz"]["rows"] == len(table[table["round"] == 1])
    assert len(manifest["files"]["state/round_01.pt"]["sha256"]) == 64
    assert manifest["identity"]["precision"] == "fp32" and manifest["code"]


def test_result_files_are_readable_by_the_group(finished):
    cfg, results, _ = finished
    for path in experiment_path(cfg, results).rglob("*"):
        if path.is_file() and path.name != ".lock":
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.mark.parametrize("damage", ["truncate_table", "drop_rows", "garbage_in_state", "delete_ticket"])
def test_damaged_round_is_named_and_recomputed_from_there(finished, tmp_path, data_dir, monkeypatch, damage):
    cfg, folder, table = _copy(finished, tmp_path)
    if damage == "truncate_table":
        bad = folder / "rounds" / "round_01.csv.gz"
        bad.write_bytes(bad.read_bytes()[:40])
    elif damage == "drop_rows":
        bad = folder / "rounds" / "round_01.csv.gz"
        rows = pd.read_csv(bad)
        bad.write_bytes(gzip.compress(rows.iloc[:-2].to_csv(index=False).encode()))
    elif damage == "garbage_in_state":
        bad = folder / "state" / "round_01.pt"
        data = bytearray(bad.read_bytes())
        data[len(data) // 2: len(data) // 2 + 4096] = bytes(range(256)) * 16
        bad.write_bytes(bytes(data))
    else:
        bad = folder / "tickets" / "round_01.pt"
        bad.unlink()
    trained = []
    with pytest.warns(DamagedResultWarning, match=str(bad.name)):
        again = _rerun(cfg, tmp_path, data_dir, monkeypatch, trained)
    assert trained == [1, 2]  # the damaged round and every later one, nothing before
    pd.testing.assert_frame_equal(again, table)


def test_damaged_table_is_never_read_as_a_result(finished, tmp_path):
    cfg, folder, table = _copy(finished, tmp_path)
    bad = folder / "rounds" / "round_02.csv.gz"
    rows = pd.read_csv(bad)
    bad.write_bytes(gzip.compress(rows.iloc[:-1].to_csv(index=False).encode()))
    with pytest.warns(DamagedResultWarning, match="round_02.csv.gz"):
        assert finished_rounds(cfg, tmp_path) == [0, 1]
    with pytest.warns(DamagedResultWarning):
        loaded = experiments.load_table(cfg, tmp_path)
    assert set(loaded["round"]) == {0, 1}


def test_loaders_name_a_damaged_checkpoint(finished, tmp_path):
    cfg, folder, _ = _copy(finished, tmp_path)
    ticket = folder / "tickets" / "round_02.pt"
    ticket.write_bytes(ticket.read_bytes()[:100])
    with pytest.raises(DamagedFileError, match="tickets/round_02.pt"):
        load_ticket(cfg, tmp_path, 2)
    load_ticket(cfg, tmp_path, 1)  # the others still load
    state = folder / "state" / "round_01.pt"
    state.write_bytes(state.read_bytes() + b"x")
    with pytest.raises(DamagedFileError, match="state/round_01.pt"):
        load_trained(cfg, tmp_path, 1)


def test_garbled_config_is_named_and_rewritten(finished, tmp_path, data_dir, monkeypatch):
    cfg, folder, table = _copy(finished, tmp_path)
    (folder / "config.json").write_text('{"name": "smo')
    trained = []
    with pytest.warns(DamagedResultWarning, match="config.json"):
        again = _rerun(cfg, tmp_path, data_dir, monkeypatch, trained)
    assert trained == []
    pd.testing.assert_frame_equal(again, table)


def test_stray_temporary_files_are_removed(finished, tmp_path, data_dir):
    cfg, folder, _ = _copy(finished, tmp_path)
    stray = [folder / "state" / ".round_02.pt.abc123.tmp", folder / "rounds" / ".round_01.csv.gz.x.tmp"]
    for path in stray:
        path.write_bytes(b"half a file")
    _rerun(cfg, tmp_path, data_dir)
    assert not any(path.exists() for path in stray)


def test_round_recorded_with_other_options_is_not_returned(finished, tmp_path, data_dir, monkeypatch):
    cfg, folder, _ = _copy(finished, tmp_path)
    bf16 = experiments.RunOptions(results_dir=str(tmp_path), precision="bf16", progress=False)
    assert experiment_path(cfg, tmp_path, bf16) != folder
    assert finished_rounds(cfg, tmp_path, bf16) == []
    # a folder copied under another identity's key is refused round by round
    folder.rename(experiment_path(cfg, tmp_path, bf16))
    with pytest.warns(DamagedResultWarning, match="recorded with"):
        assert finished_rounds(cfg, tmp_path, bf16) == []


def test_every_committed_table_matches_the_manifest():
    """The book's tables (book/results) are exactly those its manifest lists, unchanged."""
    assert table_problems(BOOK / "results") == []


def test_exported_tables_are_recorded_in_the_manifest(finished, tmp_path):
    cfg, results, table = finished
    record = tmp_path / "runs" / "x.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"notebook": "x", "runs": [{"config": cfg.to_dict(), "key": cfg.key}]}))
    export_tables(record, results, tmp_path / "results")
    manifest = json.loads((tmp_path / "results" / TABLES_MANIFEST).read_text())
    assert manifest["files"][f"{cfg.key}.csv.gz"]["rows"] == len(table)
    assert table_problems(tmp_path / "results") == []


def _lenet_table_name() -> str:
    return json.loads((BOOK / "runs" / "lenet_imp.json").read_text())["runs"][0]["key"] + ".csv.gz"


@pytest.mark.parametrize("rows", [1, "3819", None], ids=["one_row", "text", "none_is_not_checked"])
def test_a_committed_manifest_claiming_another_row_count_is_refused_by_name(tmp_path, rows):
    import shutil

    from lt_utils.lottery.config import ExperimentConfig
    from lt_utils.lottery.stored import StoredTableError, stored_table

    stored = tmp_path / "results"
    shutil.copytree(BOOK / "results", stored)
    name = _lenet_table_name()
    manifest = json.loads((stored / TABLES_MANIFEST).read_text())
    true_rows = manifest["files"][name]["rows"]
    manifest["files"][name]["rows"] = rows
    (stored / TABLES_MANIFEST).write_text(json.dumps(manifest))
    cfg = ExperimentConfig.from_dict(json.loads((BOOK / "runs" / "lenet_imp.json").read_text())["runs"][0]["config"])
    if rows is None:  # a non-table entry (a checkpoint) records no rows: nothing to count
        assert table_problems(stored) == []
        return
    assert table_problems(stored) == [f"{stored / name} has {true_rows} rows, but its manifest records "
                                      f"rows={rows!r} (the manifest was changed)"]
    with pytest.raises(StoredTableError, match=rf"{name} has {true_rows} rows, but its manifest records rows="):
        stored_table(cfg, stored)


def test_a_round_manifest_claiming_another_row_count_is_not_a_finished_round(finished, tmp_path):
    cfg, folder, _ = _copy(finished, tmp_path)
    path = manifest_path(folder, 1)
    manifest = json.loads(path.read_text())
    manifest["files"]["rounds/round_01.csv.gz"]["rows"] += 1
    path.write_text(json.dumps(manifest))
    with pytest.warns(DamagedResultWarning, match=r"round_01.csv.gz has \d+ rows, but its manifest records rows="):
        assert finished_rounds(cfg, tmp_path) == [0]


def test_an_export_never_replaces_the_numbers_of_rounds_the_book_holds(tmp_path):
    from lt_utils.book.runner import check_same_rounds
    from lt_utils.lottery.stored import StoredTableError

    def rows(rounds, acc=0.9):
        return pd.DataFrame([{"variant": "iterative", "trial": 0, "replicate": 0, "round": r, "p_m": 100.0 - r,
                              "iteration": it, "val_loss": 0.5, "test_acc": acc} for r in rounds for it in (0, 100)])

    committed = tmp_path / "run.csv.gz"
    rows([0, 1]).to_csv(committed, index=False)
    check_same_rounds(committed, rows([0, 1, 2]))  # more rounds, the same numbers for those the book holds
    check_same_rounds(tmp_path / "absent.csv.gz", rows([0]))  # nothing committed yet
    changed = rows([0, 1, 2])
    changed.loc[changed["round"] == 1, "test_acc"] = 0.8
    with pytest.raises(StoredTableError, match=r"run.csv.gz: round 1 of the book's table differs from this run's"):
        check_same_rounds(committed, changed)
