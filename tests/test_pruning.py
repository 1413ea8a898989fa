import pytest
import torch

from lt_utils.engine.hparams import PruneConfig
from lt_utils.engine.models import build_model, weight_count
from lt_utils.engine.pruning import dense_masks, percent_remaining, prune_to_round, random_masks_like, remaining_percent
from lt_utils.engine.stack import init_states
from lt_utils.errors import ConfigError
from lt_utils.lottery.presets import preset


def _sizes(model_name):
    model = build_model(model_name)
    params = dict(model.named_parameters())
    return {n: params[n].numel() for n in model.layer_kinds}, model.layer_kinds


@pytest.mark.parametrize("name,expected", [("lenet", 266_200), ("conv2", 4_300_000), ("conv4", 2_430_000),
                                           ("vgg19", 20_000_000), ("resnet20", 274_000)])
def test_weight_counts_match_the_paper(name, expected):
    assert weight_count(build_model(name)) == pytest.approx(expected, rel=0.02)


PAPER_SCHEDULE = {  # PAPER.md section 3: P_m (percent) after k rounds
    "lenet": {3: 51.3, 7: 21.1, 9: 13.5, 12: 7.0, 15: 3.6, 18: 1.9},
    "conv2": {11: 8.8, 14: 4.6},
    "conv4": {11: 11.1, 12: 9.2, 15: 5.4},
    "conv6": {7: 26.6, 12: 10.6},
}


@pytest.mark.parametrize("name", sorted(PAPER_SCHEDULE))
def test_pm_schedule_matches_paper(name):
    sizes, kinds = _sizes(name)
    cfg = preset(name).prune
    for k, pm in PAPER_SCHEDULE[name].items():
        assert abs(remaining_percent(sizes, kinds, cfg, k) - pm) < 0.05 + 1e-9, (name, k)


def test_lenet_preset_reaches_below_two_percent():
    sizes, kinds = _sizes("lenet")
    cfg = preset("lenet")
    assert remaining_percent(sizes, kinds, cfg.prune, cfg.rounds) < 2.0


def _lenet_stack(n=2):
    model, params, _ = init_states("lenet", list(range(n)))
    return model, params, dense_masks(params, model.layer_kinds)


def test_layerwise_prunes_exactly_the_smallest_surviving_weights():
    model, params, masks = _lenet_stack()
    cfg = PruneConfig(fc_rate=0.2, output_rate=0.1)
    previous = masks
    for k in range(1, 4):
        new = prune_to_round(params, previous, model.layer_kinds, cfg, k)
        for name, mask in new.items():
            assert not (mask & ~previous[name]).any(), "a pruned weight came back"
            for i in range(2):
                w, alive, kept = params[name][i].abs().flatten(), previous[name][i].flatten(), mask[i].flatten()
                removed = alive & ~kept
                rate = cfg.rate_for(model.layer_kinds[name])
                assert int(removed.sum()) == int(rate * int(alive.sum()) + 0.5)
                assert w[removed].max() <= w[kept].min()
        previous = new


def test_global_pruning_pools_only_the_chosen_kinds():
    model, params, _ = init_states("conv2", [0])
    masks = dense_masks(params, model.layer_kinds)
    cfg = PruneConfig(strategy="global", global_rate=0.2, global_kinds=("conv",))
    new = prune_to_round(params, masks, model.layer_kinds, cfg, 1)
    conv = [n for n, k in model.layer_kinds.items() if k == "conv"]
    pooled_w = torch.cat([params[n].abs().flatten() for n in conv])
    pooled_kept = torch.cat([new[n].flatten() for n in conv])
    assert int((~pooled_kept).sum()) == int(0.2 * pooled_w.numel() + 0.5)
    assert pooled_w[~pooled_kept].max() <= pooled_w[pooled_kept].min()
    assert all(new[n].all() for n, k in model.layer_kinds.items() if k != "conv")


def test_random_masks_keep_per_layer_counts():
    model, params, masks = _lenet_stack()
    pruned = prune_to_round(params, masks, model.layer_kinds, PruneConfig(), 5)
    random = random_masks_like(pruned, torch.Generator().manual_seed(0))
    for name in pruned:
        assert torch.equal(random[name].flatten(1).sum(1), pruned[name].flatten(1).sum(1))
        assert not torch.equal(random[name], pruned[name])
    assert torch.allclose(percent_remaining(random), percent_remaining(pruned))


def test_pruning_refuses_a_target_above_the_alive_count():
    model, params, masks = _lenet_stack()
    cfg = PruneConfig(fc_rate=0.2, output_rate=0.1)
    sparse = prune_to_round(params, masks, model.layer_kinds, cfg, 5)
    with pytest.raises(ConfigError, match=r"'hidden\.0\.weight' to 150528 weights: a network has only 77070 alive"):
        prune_to_round(params, sparse, model.layer_kinds, cfg, 2)  # round 2 wants more than round 5 left
    vgg = build_model("vgg19")
    vgg_params = {k: v.detach().unsqueeze(0) for k, v in vgg.named_parameters()}
    dense = dense_masks(vgg_params, vgg.layer_kinds)
    global_cfg = PruneConfig(strategy="global")
    deep = prune_to_round(vgg_params, dense, vgg.layer_kinds, global_cfg, 3)
    with pytest.raises(ConfigError, match="global pool"):
        prune_to_round(vgg_params, deep, vgg.layer_kinds, global_cfg, 1)
