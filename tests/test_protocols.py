"""The two pruning protocols side by side: the paper's (masks from the end of the schedule) and the
shortcut (masks where early termination stopped), on small real runs."""

import pytest

from lt_utils.book.compare import OVERLAP_COLUMN, protocol_comparison, protocols_side_by_side, shortcut_of
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
    overlap = table.set_index("round")[OVERLAP_COLUMN]
    assert overlap[0] == 100.0  # round 0 is dense under both
    assert overlap[1] < 100.0  # pruning the end-of-schedule weights gives another mask than pruning at the stop
    assert OVERLAP_COLUMN not in protocol_comparison(paper, shortcut)  # no tickets at hand: no empty column
    first = table.iloc[0]  # round 0 trains the same network under both: the same early stop
    assert first["early stop, end of schedule"] == first["early stop, where stopped"]


def test_the_shortcut_may_stand_in_only_where_it_changes_no_verdict_both_runs_judge():
    from lt_utils.book.claims import Claim
    from lt_utils.book.compare import shortcut_decision

    def claims(*verdicts):
        return [Claim(f"k{i}", f"claim {i}", "", 1.0, "pp", v) for i, v in enumerate(verdicts)]

    paper = claims("reproduced", "not reproduced", "not run at this scale", "measured (no verdict)")
    same = claims("reproduced", "not reproduced", "reproduced", "measured (no verdict)")
    assert "changes none of the verdicts of the 2 claims" in shortcut_decision(paper, same)
    unmeasured = claims("reproduced", "not measured in this run", "reproduced", "measured (no verdict)")
    assert "changes none" in shortcut_decision(paper, unmeasured)  # a claim it did not measure judges nothing
    flipped = claims("inconclusive", "not reproduced", "reproduced", "measured (no verdict)")
    assert "changes the verdict of 1 of the 2 claims" in shortcut_decision(paper, flipped)
    assert "may not stand in" in shortcut_decision(paper, flipped)
    none_judged = shortcut_decision([], flipped)  # e.g. the paper protocol's run still in progress
    assert "not yet" in none_judged and "may stand in" not in none_judged


def test_the_comparison_shows_iterations_whole_and_missing_shares_as_not_at_hand():
    import pandas as pd

    from lt_utils.book.compare import styled_comparison

    table = pd.DataFrame({"round": [1], "P_m (%)": [80.06], "early stop, end of schedule": [3700.0],
                          "early stop, where stopped": [12250.0], "test acc. (%), end of schedule": [68.94],
                          OVERLAP_COLUMN: [float("nan")]})
    html = styled_comparison(table).to_html()
    assert ">3,700<" in html and ">12,250<" in html and ">80.1<" in html and ">68.9<" in html
    assert ">not at hand<" in html and "3700.0" not in html
