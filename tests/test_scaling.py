"""Projections on many devices follow from each figure's chain structure."""

import pytest

from lt_utils.bench.projection import projected_hours, speedup_bound
from lt_utils.book.pages import structure_table
from lt_utils.book.registry import paper_scale_configs
from lt_utils.lottery.experiments import planned_stacks
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.plan import chain_runs, tasks
from lt_utils.lottery.presets import PRESETS, preset


def test_vgg19_figure_is_the_issues_1155_runs_in_chains_of_20():
    settings = [preset(name) for name in ("vgg19_lr01", "vgg19_lr01_warmup", "vgg19_lr001")]
    assert [chain_runs(cfg) for cfg in settings] == [(20, 5 + 19 * 5 * 4)] * 3
    rates = {"vgg19": 1000.0}
    one_run = settings[0].train.iterations / 1000.0 / 3600
    assert projected_hours(settings, rates, 1) == pytest.approx(1155 * one_run)
    assert projected_hours(settings, rates, 8) == pytest.approx(1155 / 8 * one_run)
    assert projected_hours(settings, rates, 64) == pytest.approx(20 * one_run)  # the chain bounds it


def test_a_single_stacked_chain_does_not_gain_from_more_devices():
    assert speedup_bound([preset("lenet")], 64) == pytest.approx(1.0)
    conv = paper_scale_configs()["Conv-2/4/6 (Figures 5, 6)"]
    assert 1 < speedup_bound(conv, 8) <= len(conv)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_tasks_a_run_plans_are_the_tasks_the_projection_counts(name):
    cfg = preset(name)
    stacks = planned_stacks(cfg, RunOptions(device="cpu"), range(cfg.rounds + 1))
    assert len(stacks) == tasks(cfg, "cpu")
    assert sum(stacks) == chain_runs(cfg, "cpu")[1] == chain_runs(cfg)[1]


def test_conv_rounds_of_single_network_stacks_run_side_by_side_on_cpus():
    conv2 = preset("conv2")  # on the CPU a Conv net trains one network per stack: a round is 20 tasks
    assert chain_runs(conv2, "cpu") == (conv2.rounds + 1, chain_runs(conv2)[1])
    assert chain_runs(conv2) == (chain_runs(conv2)[1],) * 2  # on a GPU the round is one stack
    assert tasks(conv2, "cpu") == chain_runs(conv2)[1] and tasks(conv2) == conv2.rounds + 1


def test_structure_table_has_a_row_per_figure():
    table = structure_table(paper_scale_configs())
    assert table.count("\n") == 2 + len(paper_scale_configs())
    assert "| VGG-19 (Figure 7) | 3 | 1,155 | 1,155 | 20 |" in table
