"""Run options that cannot be honoured are refused with the allowed values, in the API and before
any kernel starts; the book's command lines name a damaged record's field (issue 33)."""

import json
import shutil
import warnings
from pathlib import Path

import pytest
from conftest import refused

from lt_utils.book import cli, runner
from lt_utils.book.notebook import parse_rounds
from lt_utils.engine.hparams import TrainConfig
from lt_utils.errors import ConfigError
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions, check_until_round
from lt_utils.lottery.presets import preset, smoke_config

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


@pytest.fixture
def project(tmp_path, monkeypatch, no_kernel):
    """A scratch copy of the project's folder (notebooks linked, the book's runs and tables copied)."""
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    shutil.copytree(BOOK / "runs", tmp_path / "book" / "runs")
    shutil.copytree(BOOK / "results", tmp_path / "book" / "results")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- until_round -----------------------------------------------------------------------------

def test_until_round_past_the_last_round_is_refused_in_the_api(tmp_path):
    cfg = preset("smoke", rounds=2)
    options = RunOptions(until_round=3, results_dir=str(tmp_path), device="cpu")
    with pytest.raises(ConfigError, match=r"invalid until_round=3: must be a round in \[0, 2\] for smoke"):
        check_until_round(cfg, options)
    with pytest.raises(ConfigError, match=r"invalid until_round=3"):
        options.last_round(cfg)
    with pytest.raises(ConfigError, match=r"invalid until_round=3"):
        run_experiment(cfg, options)
    assert not any(tmp_path.rglob("*.csv.gz"))  # nothing trained
    assert RunOptions(until_round=2).last_round(cfg) == 2 and RunOptions().last_round(cfg) == 2


def test_until_round_past_the_last_round_is_refused_before_a_kernel(monkeypatch, no_kernel, capsys):
    monkeypatch.chdir(ROOT)
    line = refused(cli.main, ["run", "conv_dropout", "-p", "rounds", "3", "-p", "until_round", "5"], capsys)
    assert "invalid until_round=5: must be a round in [0, 3] for conv2" in line


# --- patience ---------------------------------------------------------------------------------

@pytest.mark.parametrize("patience,message", [
    (150, r"invalid patience=150: must be a multiple of eval_every=100"),
    (50, r"invalid patience=50: must be a multiple of eval_every=100"),
    (1_000, r"invalid patience=1000: must be shorter than iterations=1000"),
    (5_000, r"invalid patience=5000: must be shorter than iterations=1000"),
])
def test_patience_that_would_act_as_another_value_or_never_is_refused(patience, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(iterations=1_000, patience=patience)
    with pytest.raises(ConfigError, match=message):
        preset("lenet", iterations=1_000, patience=patience)
    assert TrainConfig(iterations=1_000, patience=900).patience == 900


def test_patience_is_refused_on_the_command_line_before_a_kernel(monkeypatch, no_kernel, capsys):
    monkeypatch.chdir(ROOT)
    line = refused(cli.main, ["run", "lenet_imp", "-p", "patience", "150"], capsys)
    assert "invalid patience=150: must be a multiple of eval_every=100" in line


# --- reinit_rounds ----------------------------------------------------------------------------

@pytest.mark.parametrize("overrides,message", [
    ({"reinit_rounds": (7, 3)}, r"invalid reinit_rounds=\(7, 3\): must be increasing rounds between 1 and "
                                r"rounds=20, each once"),
    ({"reinit_rounds": (3, 3, 7)}, r"invalid reinit_rounds=\(3, 3, 7\): must be increasing rounds"),
    ({"reinit_rounds": (0, 3)}, r"invalid reinit_rounds=\(0, 3\): must be a tuple of integers in \[1, 20\]"),
    ({"reinit_rounds": (21,)}, r"invalid reinit_rounds=\(21,\)"),
    ({"reinit_rounds": (3,), "reinits": 0}, r"invalid reinit_rounds=\(3,\): must be \(\) when reinits=0"),
])
def test_reinit_rounds_are_refused_rather_than_sorted_or_ignored(overrides, message):
    with pytest.raises(ConfigError, match=message):
        preset("conv2", **overrides)
    assert preset("conv2", reinit_rounds=(3, 7, 14)).reinit_rounds == (3, 7, 14)


def test_the_smoke_version_says_which_reinit_rounds_it_replaced():
    with pytest.warns(UserWarning, match=r"the smoke version of conv2 replaces reinit_rounds=\(5,\) by \(\)"):
        cfg = smoke_config(preset("conv2", reinit_rounds=(5,)))
    assert cfg.reinit_rounds == ()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        smoke_config(preset("conv2"))  # nothing of its own replaced: nothing said


def test_reinit_rounds_beside_smoke_are_refused_before_a_kernel(monkeypatch, no_kernel, capsys):
    monkeypatch.chdir(ROOT)
    line = refused(cli.main, ["run", "conv_dropout", "-p", "smoke", "True", "-p", "reinit_rounds", "3"], capsys)
    assert "invalid smoke=True with reinit_rounds=(3,): smoke sets ['reinit_rounds'] itself" in line


def test_a_single_reinit_round_on_the_command_line_is_a_round(monkeypatch, no_kernel):
    monkeypatch.chdir(ROOT)
    params = cli.parse_parameters([("reinit_rounds", "14"), ("rounds", "14"), ("models", "conv2"),
                                   ("dropout", "none")])
    assert params["reinit_rounds"] == 14  # as papermill's -p reads it
    _, checked = runner.checked_notebook("conv_dropout", params, ROOT)
    assert checked["reinit_rounds"] == "14"  # handed to the kernel as the list it declares
    assert parse_rounds("reinit_rounds", 14) == (14,) and parse_rounds("reinit_rounds", "3,7") == (3, 7)
    with pytest.raises(ConfigError, match=r"invalid reinit_rounds=True"):
        parse_rounds("reinit_rounds", True)


# --- presets ----------------------------------------------------------------------------------

def test_a_presets_name_is_not_an_override():
    with pytest.raises(ConfigError, match=r"invalid name='mine' for preset\('lenet'\): a preset keeps its name"):
        preset("lenet", name="mine")
    with pytest.raises(ConfigError, match=r"unknown preset 3"):
        preset(3)
    assert preset("lenet").with_overrides(name="mine").name == "mine"


# --- run records and pack ---------------------------------------------------------------------

def _edit_record(project: Path, name: str, edit) -> None:
    path = project / "book" / "runs" / f"{name}.json"
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))


def test_a_damaged_until_round_in_a_run_record_is_named(project, capsys):
    _edit_record(project, "conv_dropout", lambda r: r["parameters"].update(until_round="zero"))
    line = refused(cli.main, ["rerender", "conv_dropout"], capsys)
    assert "invalid parameters in" in line and "conv_dropout.json: invalid until_round='zero'" in line
    assert "restore it from git" in line


def test_an_edited_config_in_a_run_record_is_named_not_blamed_on_the_device(project, capsys):
    _edit_record(project, "lenet_imp", lambda r: r["runs"][0]["config"]["train"].update(lr=0.5))
    line = refused(cli.main, ["rerender", "lenet_imp"], capsys)
    assert "lenet_imp.json: the config of run lenet-8c126bca3b does not match its key" in line
    assert "was trained with" not in line


def test_pack_with_nothing_unfinished_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    (tmp_path / "results").mkdir()
    cli.main(["pack", "--results-dir", str(tmp_path / "results"), "--stored-dir", str(tmp_path / "stored")])
    assert capsys.readouterr().out.startswith(f"nothing to pack: no run in {tmp_path / 'results'} is unfinished")


def test_pack_passes_over_a_chapters_own_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    chapter = tmp_path / "results" / "dual_lenet-0123456789"  # a chapter's stages: no rounds, its own config
    chapter.mkdir(parents=True)
    (chapter / "config.json").write_text(json.dumps({"experiment": {}, "transform": {}}))
    cli.main(["pack", "--results-dir", str(tmp_path / "results"), "--stored-dir", str(tmp_path / "stored")])
    assert capsys.readouterr().out.startswith("nothing to pack")


def test_pack_into_a_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    (tmp_path / "results").mkdir()
    (tmp_path / "afile").write_text("x")
    line = refused(cli.main, ["pack", "--results-dir", str(tmp_path / "results"),
                              "--stored-dir", str(tmp_path / "afile")], capsys)
    assert "invalid --stored-dir=" in line and "afile is a file" in line
