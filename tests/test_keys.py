"""The results key: stable, covering every option that changes the numbers."""

import dataclasses
import json

from lt_utils.atomic import atomic_write_json, atomic_write_table
from lt_utils.book.migrate import migrate_book, migrate_results
from lt_utils.engine.hparams import TrainConfig
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import experiment_path
from lt_utils.lottery.integrity import record_tables, table_problems
from lt_utils.lottery.keys import legacy_key, non_default, stable_key
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import PRESETS, preset

PINNED = {
    "lenet": "lenet-03a5f91777", "conv2": "conv2-1f7a22f310", "conv4": "conv4-3ea6a8258c",
    "conv6": "conv6-214efca6bb", "conv2_dropout": "conv2_dropout-c205ccc8b3",
    "conv4_dropout": "conv4_dropout-3c03978677", "conv6_dropout": "conv6_dropout-15a02c5330",
    "vgg19_lr01": "vgg19_lr01-61a759384c", "vgg19_lr01_warmup": "vgg19_lr01_warmup-92afba058f",
    "vgg19_lr001": "vgg19_lr001-c83c6f856b", "resnet20_lr01": "resnet20_lr01-1e5fbbaab2",
    "resnet20_lr003_warmup": "resnet20_lr003_warmup-eb3afa1825", "resnet20_lr001": "resnet20_lr001-548652f9dc",
    "smoke": "smoke-8359f0b3ba",
}


def test_preset_keys_are_pinned():
    assert {name: preset(name).key for name in PRESETS} == PINNED


def test_key_hashes_only_values_that_differ_from_defaults():
    cfg = preset("smoke")
    assert "optimizer" not in non_default(cfg)["train"] and non_default(cfg)["train"]["iterations"] == 300

    @dataclasses.dataclass(frozen=True)
    class Extended(TrainConfig):  # a field added later, at its default, leaves the key alone
        new_option: float = 0.5

    extended = dataclasses.replace(cfg, train=Extended(**dataclasses.asdict(cfg.train)))
    assert non_default(extended) == non_default(cfg)
    assert stable_key(cfg.name, extended) == cfg.key


def test_patience_and_test_eval_are_in_the_key_only_when_set():
    cfg = preset("smoke")
    assert preset("smoke", patience=None, test_eval="every").key == cfg.key
    keys = {cfg.key, preset("smoke", patience=200).key, preset("smoke", patience=100).key,
            preset("smoke", test_eval="where_read").key, preset("smoke", patience=200, test_eval="where_read").key}
    assert len(keys) == 5


def test_precision_device_and_dropout_stacking_are_in_the_key():
    cfg = preset("smoke")
    keys = {experiment_path(cfg, "r", RunOptions(device="cpu", precision=p)).name for p in ("fp32", "bf16")}
    assert len(keys) == 2
    assert experiment_path(cfg, "r", RunOptions(device="cpu")).name == cfg.key
    # rounding-only options share the key
    assert experiment_path(cfg, "r", RunOptions(device="cpu", step="compile", eval_batch=7)).name == cfg.key
    # max_stack changes dropout draws, so it is in the key of a dropout model only
    assert experiment_path(cfg, "r", RunOptions(device="cpu", max_stack=1)).name == cfg.key
    conv = preset("conv2_dropout")
    assert experiment_path(conv, "r", RunOptions(device="cpu", max_stack=1)).name != conv.key


def test_the_engines_stacking_choice_is_in_the_key_as_max_stack_would_be():
    # On the CPU the engine trains Conv nets one per stack (networks_per_stack): a dropout model's key
    # says so, and equals the key of asking for max_stack=1, which computes the same draws
    conv = preset("conv2_dropout")
    auto, one = RunOptions(device="cpu"), RunOptions(device="cpu", max_stack=1)
    assert auto.stack_size(conv) == 1 and auto.identity(conv)["max_stack"] == 1
    assert experiment_path(conv, "r", auto).name == experiment_path(conv, "r", one).name != conv.key
    twenty = RunOptions(device="cpu", max_stack=20)
    assert experiment_path(conv, "r", twenty).name != experiment_path(conv, "r", auto).name
    # without dropout the stacking is no part of the key: Lenet's stored results keep their keys
    for name in ("lenet", "conv2"):
        cfg = preset(name)
        assert RunOptions(device="cpu").identity(cfg)["max_stack"] is None
        assert experiment_path(cfg, "r", RunOptions(device="cpu")).name == cfg.key
    assert experiment_path(preset("lenet"), "r", RunOptions(device="cpu")).name == PINNED["lenet"]


def test_migration_renames_results_and_book_records(tmp_path):
    cfg = preset("smoke")
    old = legacy_key(cfg.name, cfg)
    assert old != cfg.key
    results, book = tmp_path / "results", tmp_path / "book"
    folder = results / old
    atomic_write_json(cfg.to_dict(), folder / "config.json")
    atomic_write_json({"precision": "fp32", "device": "cpu"}, folder / "rounds" / "round_00.json")
    import pandas as pd

    rows = pd.DataFrame({"variant": ["iterative"], "round": [0]})
    atomic_write_table(rows, book / "results" / f"{old}.csv.gz")
    atomic_write_table(rows, book / "results" / old / "landscape" / "distances.csv.gz")
    record = {"notebook": "x", "runs": [{"config": cfg.to_dict(), "key": old, "device": ["x86_64"],
                                         "precision": ["fp32"], "exports": ["dual_lenet-zzz"]}]}
    atomic_write_json(record, book / "runs" / "x.json")
    record_tables(book / "results")
    moves = migrate_results(results)
    assert [(a.name, b.name) for a, b in moves] == [(old, cfg.key)]
    migrate_book(book, {"dual_lenet-zzz": "dual_lenet-new"})
    saved = json.loads((book / "runs" / "x.json").read_text())["runs"][0]
    assert saved["key"] == cfg.key and saved["exports"] == ["dual_lenet-new"]
    assert (book / "results" / f"{cfg.key}.csv.gz").exists()
    assert (book / "results" / cfg.key / "landscape" / "distances.csv.gz").exists()
    assert not (book / "results" / f"{old}.csv.gz").exists()
    assert table_problems(book / "results") == []  # the manifest follows the renames
    assert migrate_results(results) == [] and migrate_book(book) == []  # a second run changes nothing


def test_migration_adopts_tables_committed_before_manifests(tmp_path):
    import pandas as pd

    atomic_write_table(pd.DataFrame({"round": [0, 1]}), tmp_path / "results" / "lenet-abc.csv.gz")
    assert table_problems(tmp_path / "results") != []
    migrate_book(tmp_path)
    assert table_problems(tmp_path / "results") == []


def test_round_trip_keeps_the_key():
    for name in PRESETS:
        cfg = preset(name)
        assert ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).key == cfg.key


def test_runs_stored_before_prune_at_keep_their_keys_and_the_papers_protocol_gets_new_ones():
    from pathlib import Path

    record = json.loads((Path(__file__).resolve().parents[1] / "book" / "runs" / "conv_dropout.json").read_text())
    run = next(r for r in record["runs"] + record.get("compared", []) if r["config"].get("prune_at") == "stop")
    stored = {k: v for k, v in run["config"].items() if k != "prune_at"}  # as written before the option
    cfg = ExperimentConfig.from_dict(stored)
    assert cfg.prune_at == "stop" and cfg.key_for(run["identity"]) == run["key"]  # read as what it was
    paper = cfg.with_overrides(prune_at="end")
    assert paper.key_for(run["identity"]) != run["key"]  # the paper's protocol never reads the shortcut's results
    assert paper.key_for(run["identity"]) == record["runs"][0]["key"]  # the page's run: the same, at the paper's
    assert preset("conv2").key == preset("conv2", prune_at="end").key  # without patience: nothing changes
