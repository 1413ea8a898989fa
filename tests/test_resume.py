"""Resume points: a run packed after a round goes on elsewhere with exactly the numbers it would have had."""

import pandas as pd
import pytest
import torch

from lt_utils.book import progress_note, run_record
from lt_utils.book.cli import main
from lt_utils.book.pages import scale_summary
from lt_utils.errors import ConfigError, DamagedFileError
from lt_utils.lottery.experiments import experiment_path, run_experiment, save_resume_point, save_resume_points
from lt_utils.lottery.integrity import manifest_path, record_tables
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.resume import pack_masks, resume_point_path, unpack_masks
from lt_utils.lottery.stored import StoredTableError, stored_table

TINY = {"iterations": 200, "trials": 2, "rounds": 3, "reinits": 1, "train_eval_size": 500, "one_shot_rounds": (),
        "random_sparse": False}


def _interrupted_after(folder, round_, rounds):
    """Make ``folder`` look like a run stopped after ``round_``: later rounds' manifests go."""
    for r in range(round_ + 1, rounds + 1):
        manifest_path(folder, r).unlink()
        (folder / "rounds" / f"round_{r:02d}.csv.gz").unlink()


def test_masks_pack_to_bits_and_back():
    gen = torch.Generator().manual_seed(0)
    masks = {"a": torch.rand(2, 3, 5, generator=gen) > 0.5, "b": torch.rand(2, 7, generator=gen) > 0.3}
    restored = unpack_masks(pack_masks(masks))
    assert all(torch.equal(restored[k], masks[k]) and restored[k].dtype == torch.bool for k in masks)


def test_a_run_resumed_from_a_resume_point_matches_an_uninterrupted_one(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    whole = run_experiment(cfg, results_dir=str(tmp_path / "whole"), **options).table

    first = tmp_path / "first"
    run_experiment(cfg, results_dir=str(first), **options)
    folder = experiment_path(cfg, first)
    _interrupted_after(folder, 1, cfg.rounds)
    point = save_resume_point(folder, tmp_path / "stored")
    assert point == resume_point_path(tmp_path / "stored", folder.name)
    assert point.stat().st_size < 200_000  # tables, records and bit-packed masks: no weights

    elsewhere = tmp_path / "elsewhere"  # a fresh checkout: nothing but the committed resume point
    resumed = run_experiment(cfg, results_dir=str(elsewhere), stored_dir=str(tmp_path / "stored"), **options).table
    pd.testing.assert_frame_equal(resumed, whole)
    restored = experiment_path(cfg, elsewhere)
    assert not (restored / "state" / "round_01.pt").exists()  # rounds 0-1 came from the point, 2-3 trained here
    assert (restored / "state" / "round_03.pt").exists()


def test_a_resumed_run_can_be_packed_again_before_it_trains(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    run_experiment(cfg, results_dir=str(tmp_path / "a"), **options)
    folder = experiment_path(cfg, tmp_path / "a")
    _interrupted_after(folder, 0, cfg.rounds)
    first_point = save_resume_point(folder, tmp_path / "stored").read_bytes()
    assert save_resume_points(tmp_path / "a", tmp_path / "again") == [resume_point_path(tmp_path / "again",
                                                                                         folder.name)]
    assert resume_point_path(tmp_path / "again", folder.name).read_bytes() == first_point


def test_nothing_to_resume_and_damaged_points_are_refused_by_name(tmp_path, data_dir):
    cfg = preset("smoke", **(TINY | {"rounds": 1}))
    options = {"data_dir": str(data_dir), "progress": False}
    run_experiment(cfg, results_dir=str(tmp_path / "a"), **options)
    folder = experiment_path(cfg, tmp_path / "a")
    with pytest.raises(ConfigError, match=r"nothing to resume: all 2 rounds finished"):
        save_resume_point(folder, tmp_path / "stored")
    assert save_resume_points(tmp_path / "a", tmp_path / "stored") == []
    _interrupted_after(folder, 0, cfg.rounds)
    point = save_resume_point(folder, tmp_path / "stored")
    point.write_bytes(point.read_bytes()[: point.stat().st_size // 2])
    with pytest.raises(DamagedFileError, match=str(point)):
        run_experiment(cfg, results_dir=str(tmp_path / "b"), stored_dir=str(tmp_path / "stored"), **options)


def test_configurations_that_need_round_zeros_weights_are_not_packed(tmp_path, data_dir):
    cfg = preset("smoke", **(TINY | {"rounds": 1, "one_shot_rounds": (1,)}))
    run_experiment(cfg, results_dir=str(tmp_path), data_dir=str(data_dir), progress=False)
    folder = experiment_path(cfg, tmp_path)
    _interrupted_after(folder, 0, cfg.rounds)
    with pytest.raises(ConfigError, match=r"cannot be packed into a resume point: .*one_shot_rounds=\[1\]"):
        save_resume_point(folder, tmp_path / "stored")


def test_the_pack_command_packs_unfinished_runs_and_refuses_a_missing_folder(tmp_path, data_dir, capsys):
    cfg = preset("smoke", **(TINY | {"rounds": 1}))
    run_experiment(cfg, results_dir=str(tmp_path / "a"), data_dir=str(data_dir), progress=False)
    folder = experiment_path(cfg, tmp_path / "a")
    _interrupted_after(folder, 0, cfg.rounds)
    main(["pack", "--results-dir", str(tmp_path / "a"), "--stored-dir", str(tmp_path / "stored")])
    assert str(resume_point_path(tmp_path / "stored", folder.name)) in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["pack", "--results-dir", str(tmp_path / "nowhere"), "--stored-dir", str(tmp_path / "stored")])
    assert exit_.value.code == 2
    assert "nowhere" in capsys.readouterr().err


def test_a_run_in_parts_stops_at_until_round_and_goes_on_to_the_same_numbers(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    whole = run_experiment(cfg, results_dir=str(tmp_path / "whole"), **options).table
    part = run_experiment(cfg, results_dir=str(tmp_path / "parts"), until_round=1, **options).table
    assert sorted(part["round"].unique()) == [0, 1]
    assert not (experiment_path(cfg, tmp_path / "parts") / "state" / "round_02.pt").exists()
    shown = run_experiment(cfg, results_dir=str(tmp_path / "parts"), until_round=0, **options).table
    assert sorted(shown["round"].unique()) == [0, 1]  # a lower until_round trains nothing and hides nothing
    rest = run_experiment(cfg, results_dir=str(tmp_path / "parts"), **options).table
    pd.testing.assert_frame_equal(rest, whole)


def test_a_committed_partial_table_is_read_up_to_its_round_and_left_to_the_resume_point_beyond(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    table = run_experiment(cfg, results_dir=str(tmp_path / "a"), until_round=1, **options).table
    folder = experiment_path(cfg, tmp_path / "a")
    stored = tmp_path / "stored"
    stored.mkdir()
    table.to_csv(stored / f"{folder.name}.csv.gz", index=False)
    record_tables(stored)
    assert sorted(stored_table(cfg, stored, folder.name, through=1)["round"].unique()) == [0, 1]
    assert sorted(stored_table(cfg, stored, folder.name, through=0)["round"].unique()) == [0, 1]  # all it holds
    with pytest.raises(StoredTableError, match=r"holds rounds 0–1 of 3, and no resume point"):
        stored_table(cfg, stored, folder.name)
    save_resume_point(folder, stored)
    assert stored_table(cfg, stored, folder.name) is None  # the run goes on from its resume point
    table[table["round"] == 0].to_csv(stored / f"{folder.name}.csv.gz", index=False)  # a point ahead of the table
    record_tables(stored)
    assert stored_table(cfg, stored, folder.name) is None
    run_experiment(cfg, results_dir=str(tmp_path / "a"), until_round=2, **options).table.to_csv(
        stored / f"{folder.name}.csv.gz", index=False)  # the table went on, its resume point did not
    record_tables(stored)
    with pytest.raises(StoredTableError, match=r"goes on from round 2, but .* holds rounds 0–2: the resume point is "
                                               r"out of date"):
        stored_table(cfg, stored, folder.name)


def test_the_next_part_in_the_same_checkout_goes_on_from_its_own_rounds_without_a_resume_point(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    whole = run_experiment(cfg, results_dir=str(tmp_path / "whole"), **options).table
    first = run_experiment(cfg, results_dir=str(tmp_path / "parts"), until_round=1, **options).table
    stored = tmp_path / "stored"
    stored.mkdir()
    first.to_csv(stored / f"{experiment_path(cfg, tmp_path / 'parts').name}.csv.gz", index=False)  # as a page exports
    record_tables(stored)
    rest = run_experiment(cfg, results_dir=str(tmp_path / "parts"), stored_dir=str(stored), **options).table
    pd.testing.assert_frame_equal(rest, whole)


def test_the_progress_note_says_how_far_a_run_in_parts_has_gone():
    whole = {"config": {"name": "conv2", "rounds": 14}, "last_round": 14}
    part = {"config": {"name": "conv2_dropout", "rounds": 14}, "last_round": 3}
    assert progress_note([whole]) == ""
    assert progress_note([whole, part]) == \
        "conv2_dropout: rounds 0–3 of 14 trained so far (a later run trains the rest)"
    assert progress_note([part | {"last_round": None}]) == ""  # not known: no claim of progress


def test_the_scoreboard_says_how_far_a_run_in_parts_has_gone():
    cfg = preset("conv2", rounds=14, dataset="cifar10_jpeg")
    assert scale_summary(cfg, preset("conv2"), 3).endswith("data: CIFAR-10, JPEG copy (quality 75), "
                                                           "rounds 0–3 of 14 trained so far")
    assert "so far" not in scale_summary(cfg, preset("conv2"), 14)
    assert scale_summary(cfg, preset("conv2"), 0).endswith(", round 0 of 14 trained so far")


def test_the_run_record_of_a_page_in_parts_covers_the_rounds_it_shows(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    run_experiment(cfg, results_dir=str(tmp_path), until_round=1, **options)
    record = run_record(cfg, RunOptions(results_dir=str(tmp_path), until_round=1, **options))
    assert record["last_round"] == 1 and record["networks_trained"] == 2 + 4  # 2 trials; then with 2 reinits
    assert progress_note([record]).startswith("smoke: rounds 0–1 of 3 trained so far")
    again = run_record(cfg, RunOptions(results_dir=str(tmp_path), until_round=0, **options))
    assert again["last_round"] == 1  # every finished round


def test_a_resume_point_ahead_of_the_local_rounds_is_taken_and_one_behind_is_not(tmp_path, data_dir):
    cfg = preset("smoke", **TINY)
    options = {"data_dir": str(data_dir), "progress": False}
    whole = run_experiment(cfg, results_dir=str(tmp_path / "whole"), **options).table
    run_experiment(cfg, results_dir=str(tmp_path / "ahead"), until_round=1, **options)
    save_resume_point(experiment_path(cfg, tmp_path / "ahead"), tmp_path / "stored")
    run_experiment(cfg, results_dir=str(tmp_path / "here"), until_round=0, **options)  # this checkout: round 0
    here = experiment_path(cfg, tmp_path / "here")
    table = run_experiment(cfg, results_dir=str(tmp_path / "here"), stored_dir=str(tmp_path / "stored"),
                           **options).table
    pd.testing.assert_frame_equal(table, whole)
    assert (here / "state" / "round_00.pt").exists() and not (here / "state" / "round_01.pt").exists()
    behind = run_experiment(cfg, results_dir=str(tmp_path / "here"), stored_dir=str(tmp_path / "stored"),
                            **options).table  # finished here: the point, now behind, changes nothing
    pd.testing.assert_frame_equal(behind, whole)


# --- a resume point is checked whole before anything is restored from it ---------------------

@pytest.fixture(scope="module")
def packed(tmp_path_factory, data_dir):
    """A run of TINY packed after round 1 (into stored/resume, recorded in stored's manifest)."""
    base = tmp_path_factory.mktemp("packed")
    cfg = preset("smoke", **TINY)
    run_experiment(cfg, results_dir=str(base / "a"), until_round=1, data_dir=str(data_dir), progress=False)
    point = save_resume_point(experiment_path(cfg, base / "a"), base / "stored")
    return cfg, base / "stored", point


def _edited(packed, tmp_path, edit, relist=True):
    """A copy of the packed point's folder with ``edit`` applied to the point (then re-recorded in the
    manifest, as a careless collaborator would, unless ``relist`` is False)."""
    import shutil

    cfg, stored, point = packed
    shutil.copytree(stored, tmp_path / "stored")
    copy = tmp_path / "stored" / point.relative_to(stored)
    contents = torch.load(copy, weights_only=True)
    edit(contents)
    torch.save(contents, copy)
    if relist:
        record_tables(tmp_path / "stored", [copy])
    return cfg, tmp_path / "stored", copy


def _refused_and_nothing_restored(cfg, stored, tmp_path, data_dir, message):
    from lt_utils.lottery.resume import ResumePointError

    with pytest.raises(ResumePointError, match=message):
        run_experiment(cfg, results_dir=str(tmp_path / "here"), stored_dir=str(stored), data_dir=str(data_dir),
                       progress=False)
    folder = experiment_path(cfg, tmp_path / "here")
    assert not list(folder.rglob("round_*")) and not (folder / "config.json").exists()


def _table_bytes(table: pd.DataFrame) -> torch.Tensor:
    import gzip

    return torch.frombuffer(bytearray(gzip.compress(table.to_csv(index=False).encode())), dtype=torch.uint8)


def _lower_round_zero(contents):
    import io

    table = pd.read_csv(io.BytesIO(contents["rounds"][0]["csv.gz"].numpy().tobytes()), compression="gzip")
    contents["rounds"][0]["csv.gz"] = _table_bytes(table.assign(test_acc=table["test_acc"] - 0.05))


def test_a_point_edited_inside_is_refused_by_its_checksum(packed, tmp_path, data_dir):
    cfg, stored, point = _edited(packed, tmp_path, _lower_round_zero, relist=False)
    _refused_and_nothing_restored(cfg, stored, tmp_path, data_dir, rf"{point} does not match its manifest")


def test_a_point_not_in_the_manifest_is_refused(packed, tmp_path, data_dir):
    import json

    from lt_utils.lottery.integrity import TABLES_MANIFEST

    cfg, stored, point = _edited(packed, tmp_path, lambda c: None)
    manifest = json.loads((stored / TABLES_MANIFEST).read_text())
    del manifest["files"][f"resume/{point.name}"]
    (stored / TABLES_MANIFEST).write_text(json.dumps(manifest))
    _refused_and_nothing_restored(cfg, stored, tmp_path, data_dir, r"is not listed in .*MANIFEST.json")


def test_a_point_edited_and_relisted_is_refused_against_the_committed_table(packed, tmp_path, data_dir):
    cfg, stored, point = _edited(packed, tmp_path, lambda c: None)
    tables = [pd.read_csv(__import__("io").BytesIO(c["csv.gz"].numpy().tobytes()), compression="gzip")
              for _, c in sorted(torch.load(point, weights_only=True)["rounds"].items())]
    pd.concat(tables).to_csv(stored / f"{point.stem}.csv.gz", index=False)  # the book's table of rounds 0-1
    contents = torch.load(point, weights_only=True)
    _lower_round_zero(contents)
    torch.save(contents, point)
    record_tables(stored)
    record_tables(stored, [point])
    _refused_and_nothing_restored(cfg, stored, tmp_path, data_dir,
                                  r"round 0's table differs from the committed table")


def _set_all_bits(contents):
    name = next(iter(contents["masks"]))
    shape, bits = contents["masks"][name]
    contents["masks"][name] = (shape, torch.full_like(bits, 255))


def _drop_a_layer(contents):
    del contents["masks"][next(iter(contents["masks"]))]


def _transpose(contents):
    name = next(iter(contents["masks"]))
    shape, bits = contents["masks"][name]
    contents["masks"][name] = ([shape[0], shape[2], shape[1]], bits)


def _garble_table(contents):
    contents["rounds"][1]["csv.gz"] = torch.frombuffer(bytearray(b"not a gzip file at all"), dtype=torch.uint8)


def _masks_as_floats(contents):
    name = next(iter(contents["masks"]))
    shape, bits = contents["masks"][name]
    contents["masks"][name] = (shape, bits.float())


def _drop_a_network(contents):
    import io

    table = pd.read_csv(io.BytesIO(contents["rounds"][1]["csv.gz"].numpy().tobytes()), compression="gzip")
    contents["rounds"][1]["csv.gz"] = _table_bytes(table[table["trial"] == 0])


@pytest.mark.parametrize("edit,message", [
    (_set_all_bits, r"the masks of .* keep \[\d+, \d+\] weights per trial, but round 2 keeps \d+"),
    (_drop_a_layer, r"its masks are of layers .*, the model lenet prunes"),
    (_transpose, r"the mask of .* has shape \[2, \d+, \d+\], not \[2, \d+, \d+\]"),
    (_masks_as_floats, r"the mask of .* is not \d+ bits packed as \d+ bytes"),
    (_garble_table, r"round 1's table or record cannot be read \(BadGzipFile"),
    (_drop_a_network, r"round 1's record says 4 networks, its table holds 2"),
    (lambda c: c.update(next_round=7), r"next_round=7 must be a round >= 1 after its finished rounds \[0, 1\]"),
    (lambda c: c["config"].update(trials=3),
     r"it is the resume point of another configuration than smoke.s .*trials: 3 vs 2"),
], ids=["all_bits_set", "layer_removed", "transposed", "float_mask", "garbage_table", "network_removed",
        "next_round", "config"])
def test_a_damaged_point_is_refused_by_name_with_what_is_wrong(packed, tmp_path, data_dir, edit, message):
    cfg, stored, point = _edited(packed, tmp_path, edit)
    _refused_and_nothing_restored(cfg, stored, tmp_path, data_dir, rf"resume point {point} cannot be used: {message}")


def test_a_point_of_another_configuration_names_the_fields_that_differ(packed, tmp_path):
    from lt_utils.lottery.resume import ResumePointError, restore_resume_point

    cfg, _, point = packed
    other = cfg.with_overrides(lr=0.5, seed=1)
    with pytest.raises(ResumePointError, match=r"\(the point's vs this run's: seed: 0 vs 1; train.lr: .* vs 0.5\)"):
        restore_resume_point(point, tmp_path / point.stem, other, {"precision": "fp32", "device": "cpu",
                                                                  "max_stack": None})
    assert not (tmp_path / point.stem).exists()


def test_a_packed_point_is_recorded_in_the_manifest_beside_it(packed):
    from lt_utils.lottery.integrity import table_problems

    _, stored, point = packed
    assert table_problems(stored, [point]) == []
