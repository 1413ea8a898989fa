"""A demanding user's mistakes, at every boundary: each is refused before any work, in one line
that names the culprit (the command lines: ``PROG: error: ...`` on stderr, exit status 2)."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest
from conftest import as_owner, refused
from torchvision import datasets

from lt_utils.atomic import atomic_write_json
from lt_utils.bench import command as bench
from lt_utils.book import cli, configure, migrate, runner
from lt_utils.chapters.landscape import landscape_config, run_landscape
from lt_utils.chapters.transform import dual_config, run_dual
from lt_utils.engine import datafiles
from lt_utils.engine.data import load_dataset
from lt_utils.errors import ConfigError, DamagedFileError, DataUnavailableError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import experiment_path, load_table, load_ticket, run_experiment
from lt_utils.lottery.integrity import TABLES_MANIFEST, record_tables
from lt_utils.lottery.options import TRAINED_ON_ENV, RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.stored import StoredTableError, stored_table

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
MNIST_FILES = tuple(datafiles.MNIST_MD5)
TINY = {"iterations": 20, "eval_every": 10, "trials": 1, "rounds": 1, "reinits": 0, "one_shot_rounds": (),
        "random_sparse": False, "train_eval_size": 100}


@pytest.fixture
def project(tmp_path, monkeypatch, no_kernel):
    """A scratch copy of the project's folder (its notebooks linked), as the current folder."""
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    (tmp_path / "book" / "runs").mkdir(parents=True)
    shutil.copytree(BOOK / "results", tmp_path / "book" / "results")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the command lines -----------------------------------------------------------------------

@pytest.mark.parametrize("module,argv,culprit", [
    ("lt_utils.book", ["run", "lenet_imp", "-p", "trails", "3"], "['trails']"),
    ("lt_utils.bench", ["--reference-iterations", "0"], "--reference-iterations=0"),
    ("lt_utils.book.bench", ["--reference-iterations", "0"], "--reference-iterations=0"),  # the deprecated alias
    ("lt_utils.book.migrate", ["--results", "no-such-folder"], "--results='no-such-folder'"),
])
def test_each_command_line_answers_a_mistake_in_one_line_without_a_traceback(module, argv, culprit):
    done = subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"python -m {module}: error: ") and culprit in done.stderr


@pytest.mark.parametrize("parameters,message", [
    (["trials", "two"], "invalid trials='two': must be an integer or None"),
    (["device", "gpu"], "invalid device='gpu': must be 'auto', 'cpu'"),
    (["data_dir", "5"], "invalid data_dir=5: must be a folder"),
    (["results_dir", "README.md"], "README.md': must be a folder; "),
    (["iterations", "30", "-p", "iterations", "20"], "invalid -p iterations: given 2 times (30, 20)"),
    (["smoke", "True", "-p", "iterations", "100"], "invalid smoke=True with iterations=100"),
    (["smoke", "no"], "invalid smoke='no': must be True or False"),
    (["trials", "1000000000"], "lenet (trials=1000000000, reinits=3) does not fit in memory"),
])
def test_book_run_refuses_bad_parameters_before_any_kernel(monkeypatch, no_kernel, capsys, parameters, message):
    monkeypatch.chdir(ROOT)
    assert message in refused(cli.main, ["run", "lenet_imp", "-p", *parameters], capsys)


def test_run_all_checks_every_notebook_before_running_one(monkeypatch, no_kernel, capsys):
    monkeypatch.chdir(ROOT)
    line = refused(cli.main, ["run", "all", "-p", "smoke", "True", "-p", "levels", "5"], capsys)
    assert "['levels']" in line  # lenet_imp has no levels: nothing ran


def test_chapter_settings_beside_smoke_are_refused(monkeypatch, no_kernel, capsys):
    monkeypatch.chdir(ROOT)
    line = refused(cli.main, ["run", "imp_landscape", "-p", "smoke", "True", "-p", "levels", "5"], capsys)
    assert "invalid smoke=True with levels=5" in line


def test_rerender_of_a_page_never_run_says_how_to_run_it(project, capsys):
    line = refused(cli.main, ["rerender", "conv_dropout"], capsys)
    assert "conv_dropout has never been run" in line and "python -m lt_utils.book run conv_dropout" in line


def test_garbled_run_record_is_named(project, capsys):
    (project / "book" / "runs" / "lenet_imp.json").write_bytes(b"\xff\xfe garbage")
    line = refused(cli.main, ["rerender", "lenet_imp"], capsys)
    assert "book/runs/lenet_imp.json cannot be read" in line


def test_a_users_error_inside_the_notebook_is_reported_as_itself(project, monkeypatch, capsys):
    def kernel_fails(*args, **kwargs):
        raise papermill.PapermillExecutionError(0, 1, "", "DataUnavailableError", "mnist lacks ['x'] in /d", [])

    monkeypatch.setattr(papermill, "execute_notebook", kernel_fails)
    line = refused(cli.main, ["run", "lenet_imp", "-p", "results_dir", str(project)], capsys)
    assert "error: lenet_imp: mnist lacks ['x'] in /d" in line


def test_a_bug_keeps_its_traceback(project, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(papermill, "execute_notebook", bug)
    with pytest.raises(ZeroDivisionError):
        cli.main(["run", "lenet_imp", "-p", "results_dir", str(project)])


def test_smoke_refuses_to_delete_a_folder_it_did_not_make(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    (tmp_path / "notes.txt").write_text("mine")
    assert "since it is deleted first" in refused(cli.main, ["smoke", "--out", str(tmp_path)], capsys)
    assert (tmp_path / "notes.txt").exists()


@pytest.mark.parametrize("argv,message", [
    (["--reference-iterations", "0"], "invalid --reference-iterations=0: must be a positive integer"),
    (["--reference-iterations", "-1"], "invalid --reference-iterations=-1: must be a positive integer"),
    (["--iterations", "0"], "invalid --iterations=0"),
    (["--models", ","], "invalid --models=','"),
    (["--models", "resnet50"], "unknown model(s) ['resnet50'] for --models"),
    (["--device", "gpu"], "invalid device='gpu'"),
    (["--out", "book"], "invalid --out='book': must be a file"),
])
def test_bench_refuses_bad_arguments_before_timing(monkeypatch, capsys, argv, message):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(bench, "benchmark", lambda *a, **k: pytest.fail("the benchmark started"))
    assert message in refused(bench.main, argv, capsys)


def test_migrate_refuses_a_missing_folder_or_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert "must be an existing folder" in refused(migrate.main, ["--results", str(tmp_path / "none")], capsys)
    assert "is a file" in refused(migrate.main, ["--results", str(tmp_path / "file")], capsys)


def test_migrate_names_a_garbled_config_and_fails(tmp_path, capsys):
    (tmp_path / "results" / "lenet-old").mkdir(parents=True)
    (tmp_path / "results" / "lenet-old" / "config.json").write_text('{"name": "len')
    (tmp_path / "book").mkdir()
    line = refused(migrate.main, ["--results", str(tmp_path / "results"), "--book", str(tmp_path / "book")], capsys)
    assert "lenet-old/config.json cannot be read" in line


# --- options where they enter ------------------------------------------------------------------

def test_settings_beside_smoke_are_refused():
    with pytest.raises(ConfigError, match=r"invalid smoke=True with iterations=100"):
        configure("lenet", smoke=True, iterations=100)
    with pytest.raises(ConfigError, match=r"invalid smoke='no': must be True or False"):
        configure("lenet", smoke="no")
    assert configure("lenet", smoke=True, seed=3).seed == 3  # smoke leaves the seed alone


def test_run_options_and_keywords_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\['devcie', 'device', 'results_dir'\] given beside a RunOptions"):
        run_experiment(preset("smoke"), RunOptions(results_dir=str(tmp_path)), results_dir=str(tmp_path),
                       device="cpu", devcie="cpu")
    with pytest.raises(ConfigError, match=r"\['device'\] given beside a RunOptions"):
        run_landscape(landscape_config("lenet", smoke=True), RunOptions(results_dir=str(tmp_path)), device="cpu")
    with pytest.raises(ConfigError, match=r"\['device'\] given beside a RunOptions"):
        run_dual(dual_config("lenet", smoke=True), RunOptions(results_dir=str(tmp_path)), device="cpu")


def test_a_name_for_a_configuration_is_refused():
    with pytest.raises(ConfigError, match=r"invalid cfg='lenet': must be an ExperimentConfig"):
        run_experiment("lenet")


def test_folders_are_checked_and_named(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ConfigError, match=r"invalid stored_dir='.*/nope': must be an existing folder"):
        RunOptions(stored_dir=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"invalid results_dir='.*/afile': must be a folder; .*afile is a file"):
        run_experiment(preset("smoke"), results_dir=str(afile), device="cpu")
    with pytest.raises(ConfigError, match=r"invalid data_dir='.*/afile/x': must be a folder; .*afile is a file"):
        RunOptions(data_dir=str(afile / "x"))
    with pytest.raises(ConfigError, match=r"invalid results_dir='.*/nope': must be an existing folder"):
        load_table(preset("smoke"), tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"no results of smoke in results_dir="):
        load_table(preset("smoke"), tmp_path)


def test_a_file_in_place_of_a_results_subfolder_is_named_before_training(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    folder = experiment_path(cfg, tmp_path, RunOptions(device="cpu"))
    folder.mkdir()
    (folder / "rounds").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"results_dir='.*/rounds': must be a folder; .*/rounds is a file"):
        run_experiment(cfg, results_dir=str(tmp_path), data_dir=str(data_dir), device="cpu", progress=False)




def test_unreadable_and_unwritable_results_folders_are_named(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", as_owner)
    locked, readonly = tmp_path / "locked", tmp_path / "readonly"
    locked.mkdir(mode=0o000)
    readonly.mkdir(mode=0o555)
    try:
        with pytest.raises(ConfigError, match=r"invalid results_dir='.*/locked': must be a folder this user can read"):
            RunOptions(results_dir=str(locked))
        with pytest.raises(ConfigError, match=r"invalid results_dir='.*/readonly': must be a folder this user can "
                                              r"write to; .*/readonly is not writable"):
            run_experiment(preset("smoke"), results_dir=str(readonly), device="cpu")
    finally:
        locked.chmod(0o755)


def test_lr_drops_past_the_end_or_twice_are_refused():
    with pytest.raises(ConfigError, match=r"invalid lr_drops=\(50000,\): must be iterations below iterations=50000"):
        preset("lenet", lr_drops=(50_000,))
    with pytest.raises(ConfigError, match=r"invalid lr_drops=\(100, 100\): must be increasing iterations, each once"):
        preset("lenet", lr_drops=(100, 100))


def test_a_configuration_that_cannot_fit_in_memory_is_refused_before_allocation(tmp_path):
    with pytest.raises(ConfigError, match=r"lenet \(trials=1000000000, .*GiB.*more than the .* GiB free on cpu"):
        run_experiment(preset("lenet", trials=10**9), results_dir=str(tmp_path), device="cpu")
    assert not any(tmp_path.iterdir())


def test_loading_a_trial_or_round_that_is_not_there_is_refused(tmp_path):
    cfg = preset("smoke", **TINY)
    with pytest.raises(ConfigError, match=r"invalid trial=5: must be an integer in \[0, 0\]"):
        load_ticket(cfg, tmp_path, 0, trial=5)
    with pytest.raises(ConfigError, match=r"invalid round_=7: must be an integer in \[0, 1\]"):
        load_ticket(cfg, tmp_path, 7)


def test_a_stored_configuration_missing_fields_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"missing field\(s\) \['model', 'dataset'\] for ExperimentConfig"):
        ExperimentConfig.from_dict({"name": "lenet"})
    with pytest.raises(ConfigError, match=r"invalid config=\[1\]"):
        ExperimentConfig.from_dict([1])


# --- data files --------------------------------------------------------------------------------

def _mnist(data_dir: Path, root: Path, change: dict) -> Path:
    """A copy of MNIST in ``root`` (links), with ``change``: name -> new bytes, or None to leave it out."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        source = (data_dir / "MNIST" / "raw" / name).resolve()
        if name not in change:
            (raw / name).symlink_to(source)
        elif change[name] is not None:
            (raw / name).write_bytes(change[name](source.read_bytes()))
    return root


def test_mnist_with_random_image_bytes_under_an_intact_header_is_refused(data_dir, tmp_path):
    def noise(data: bytes) -> bytes:
        return data[:16] + np.random.default_rng(0).integers(0, 256, len(data) - 16, dtype=np.uint8).tobytes()

    root = _mnist(data_dir, tmp_path, {"t10k-images-idx3-ubyte": noise})
    with pytest.raises(DamagedFileError, match=r"t10k-images-idx3-ubyte is damaged: its md5 is not 2646ac64.*"
                                               r"delete it and run again, and torchvision downloads MNIST anew"):
        load_dataset("mnist", root, "cpu", train_eval_size=100)


def test_a_file_is_hashed_once_until_it_changes(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hashed = []
    file_hash = datafiles.file_hash
    monkeypatch.setattr(datafiles, "file_hash",
                        lambda path, algorithm: hashed.append(path.name) or file_hash(path, algorithm))
    root = _mnist(data_dir, tmp_path / "data", {"t10k-labels-idx1-ubyte": lambda data: data})  # a copy of its own
    datafiles.check_mnist(root, False)
    datafiles.check_mnist(root, False)
    assert sorted(hashed) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    labels = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes())  # rewritten: its times change, so it is hashed again
    datafiles.check_mnist(root, False)
    assert sorted(hashed) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"]


def test_a_missing_mnist_file_is_named(data_dir, tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    root = _mnist(data_dir, tmp_path, {"t10k-images-idx3-ubyte": None})
    with pytest.raises(DataUnavailableError, match=r"mnist lacks \['t10k-images-idx3-ubyte'\] in .*MNIST/raw"):
        load_dataset("mnist", root, "cpu", train_eval_size=100)


# --- the book's committed tables ----------------------------------------------------------------

def _lenet_table() -> tuple[ExperimentConfig, str]:
    run = json.loads((BOOK / "runs" / "lenet_imp.json").read_text())["runs"][0]
    return ExperimentConfig.from_dict(run["config"]), f"{run['key']}.csv.gz"


@pytest.mark.parametrize("damage", [
    lambda t: t.assign(test_acc=t["test_acc"] - 0.05),
    lambda t: t.assign(test_acc=t["test_acc"].where(t.index != 7, 7.5)),
    lambda t: pd.concat([t, t], ignore_index=True),
], ids=["lowered", "impossible_value", "rows_twice"])
def test_an_altered_committed_table_is_refused_by_name(tmp_path, damage):
    cfg, name = _lenet_table()
    stored = tmp_path / "results"
    shutil.copytree(BOOK / "results", stored)
    table = damage(pd.read_csv(stored / name))
    (stored / name).write_bytes(gzip.compress(table.to_csv(index=False).encode(), mtime=0))
    with pytest.raises(StoredTableError, match=rf"{name} does not match its manifest"):
        stored_table(cfg, stored)


CUDA = {"precision": "fp32", "device": "cuda", "max_stack": None}


def _as_if_trained_on_a_gpu(project: Path, with_table: bool) -> tuple[dict, str]:
    """The Lenet page's record, rewritten as if its run had been trained on a GPU (and its table
    committed under that key when ``with_table``); returns the record and the GPU key."""
    record = json.loads((BOOK / "runs" / "lenet_imp.json").read_text())
    record.pop("compared", None)
    cfg = ExperimentConfig.from_dict(record["runs"][0]["config"])
    key = cfg.key_for(CUDA)
    if with_table:
        stored = project / "book" / "results"
        shutil.copy(stored / f"{record['runs'][0]['key']}.csv.gz", stored / f"{key}.csv.gz")
        record_tables(stored, [stored / f"{key}.csv.gz"])
    record["runs"][0] |= {"identity": CUDA, "key": key}
    (project / "book" / "runs" / "lenet_imp.json").write_text(json.dumps(record))
    return record, key


def test_rerender_on_the_cpu_of_a_page_trained_on_a_gpu_reads_the_gpu_runs(project, monkeypatch):
    _, key = _as_if_trained_on_a_gpu(project, with_table=True)
    seen = {}

    def run_figure(name, parameters, root, book_dir):
        seen.update(name=name, device=parameters["device"], trained_on=os.environ.get(TRAINED_ON_ENV))
        return book_dir / "figures" / f"{name}.ipynb"

    monkeypatch.delenv(TRAINED_ON_ENV, raising=False)
    monkeypatch.setattr(runner, "run_figure", run_figure)
    runner.rerender("lenet_imp", project, project / "book")
    assert seen == {"name": "lenet_imp", "device": "cpu", "trained_on": "cuda"}  # the kernel looks up GPU keys
    assert TRAINED_ON_ENV not in os.environ  # and nothing after it does


def test_rerender_of_a_gpu_page_without_its_table_is_refused_rather_than_trained_on_the_cpu(project, capsys):
    _, key = _as_if_trained_on_a_gpu(project, with_table=False)
    line = refused(cli.main, ["rerender", "lenet_imp"], capsys)
    assert f"the book holds no table for {key}" in line


def test_rerender_of_a_page_trained_on_two_device_types_is_refused(project, capsys):
    record = json.loads((BOOK / "runs" / "lenet_imp.json").read_text())
    record["runs"][0]["identity"] = CUDA  # its compared runs stay on the CPU
    (project / "book" / "runs" / "lenet_imp.json").write_text(json.dumps(record))
    line = refused(cli.main, ["rerender", "lenet_imp"], capsys)
    assert "trained on ['cpu', 'cuda']" in line


def test_results_trained_on_a_gpu_are_read_on_the_cpu_and_never_trained_there(tmp_path, monkeypatch):
    cfg, name = _lenet_table()
    stored = tmp_path / "stored"
    stored.mkdir()
    key = cfg.key_for(CUDA)
    options = RunOptions(device="cpu", trained_on="cuda", stored_dir=str(stored), results_dir=str(tmp_path / "r"),
                         progress=False)
    assert options.identity(cfg) == CUDA and cfg.key_for(options.identity(cfg)) == key
    with pytest.raises(ConfigError, match=rf"{cfg.name} \(run {key}\) was trained on cuda and is only read on cpu"):
        run_experiment(cfg, options)  # nothing committed: refused, not trained on the CPU
    shutil.copy(BOOK / "results" / name, stored / f"{key}.csv.gz")
    record_tables(stored)
    table = run_experiment(cfg, options).table
    pd.testing.assert_frame_equal(table, pd.read_csv(BOOK / "results" / name))
    monkeypatch.setenv(TRAINED_ON_ENV, "cuda")  # what a re-render's kernel sees
    assert RunOptions(device="cpu").identity(cfg)["device"] == "cuda"
    monkeypatch.setenv(TRAINED_ON_ENV, "tpu")
    with pytest.raises(ConfigError, match=r"trained_on \(or \$LT_TRAINED_ON\)='tpu'"):
        RunOptions(device="cpu").identity(cfg)
    with pytest.raises(ConfigError, match=r"trained_on='gpu'.*'cpu', 'cuda'"):
        RunOptions(trained_on="gpu")


def test_rerender_refuses_an_altered_committed_table(project, capsys):
    cfg, name = _lenet_table()
    shutil.copy(BOOK / "runs" / "lenet_imp.json", project / "book" / "runs" / "lenet_imp.json")
    path = project / "book" / "results" / name
    table = pd.read_csv(path)
    path.write_bytes(gzip.compress(table.assign(test_acc=table["test_acc"] - 0.05).to_csv(index=False).encode()))
    line = refused(cli.main, ["rerender", "lenet_imp"], capsys)
    assert f"cannot re-render lenet_imp from the book's tables: {path} does not match its manifest" in line


def test_a_table_the_manifest_does_not_list_is_refused(tmp_path):
    cfg, name = _lenet_table()
    stored = tmp_path / "results"
    shutil.copytree(BOOK / "results", stored)
    manifest = json.loads((stored / TABLES_MANIFEST).read_text())
    del manifest["files"][name]
    atomic_write_json(manifest, stored / TABLES_MANIFEST)
    with pytest.raises(StoredTableError, match=rf"{name} is not listed in .*{TABLES_MANIFEST}"):
        stored_table(cfg, stored)
