"""The two pruning protocols side by side: the paper's (masks from the end of the schedule) and the
shortcut (masks where early termination stopped), on small real runs."""

import pytest

from lt_utils.book.compare import protocols_side_by_side, shortcut_of
from lt_utils.engine.pruning import mask_overlap
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset

SMALL = {"iterations": 500, "lr": 1e-2, "trials": 1, "rounds": 2, "reinits": 1, "train_eval_size": 500,
         "one_shot_rounds": (), "random_sparse": False, "patience": 100}


def test_mask_overlap_counts_the_surviving_weights_in_common():
    import torch

    a = {"w": torch.tensor([True, True, False, False]), "v": torch.tensor([True, False])}
    b = {"w": torch.tensor([True, False, True, False]), "v": torch.tensor([True, False])}
    assert mask_overlap(a, a) == 1.0 and mask_overlap(a, b) == pytest.approx(2 / 3)


def test_the_shortcut_beside_the_paper_protocol(tmp_path, data_dir):
    cfg = preset("smoke", **SMALL)
    assert shortcut_of(cfg).prune_at == "stop" and shortcut_of(preset("lenet"), 2_000).train.patience == 2_000
    paper = run_experiment(cfg, results_dir=str(tmp_path), data_dir=str(data_dir), progress=False).table
    other, missing, empty = protocols_side_by_side(cfg, paper, RunOptions(results_dir=str(tmp_path)))
    assert missing is None and empty.empty  # the shortcut not run yet: nothing to compare
    run_experiment(other, results_dir=str(tmp_path), data_dir=str(data_dir), progress=False)
    other, shortcut, table = protocols_side_by_side(cfg, paper, RunOptions(results_dir=str(tmp_path)))
    assert table["round"].tolist() == [0, 1, 2] and shortcut is not None
    overlap = table.set_index("round")["masks in common (%)"]
    assert overlap[0] == 100.0  # round 0 is dense under both
    assert overlap[1] < 100.0  # pruning the end-of-schedule weights gives another mask than pruning at the stop
    first = table.iloc[0]  # round 0 trains the same network under both: the same early stop
    assert first["early stop, end of schedule"] == first["early stop, where stopped"]
