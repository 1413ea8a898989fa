import pytest
import torch

from lt_utils.chapters.transform import DualConfig, TransformConfig, plateau_iteration, removal_targets, run_dual
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.pruning import dense_masks, percent_remaining, remaining_percent
from lt_utils.engine.stack import init_states
from lt_utils.engine.training import train_stack
from lt_utils.errors import ConfigError
from lt_utils.lottery.presets import preset


def test_penalty_schedule_grows_by_step_then_holds():
    t = TransformConfig()  # the paper's defaults: +1e-4 every 5 iterations up to 1.0, held 40K
    assert [t.penalty_at(i) for i in (0, 4, 5, 9, 10)] == [0, 0, pytest.approx(1e-4), pytest.approx(1e-4),
                                                          pytest.approx(2e-4)]
    assert t.growth_iterations == 50_000 and t.penalty_at(49_999) < 1.0
    assert t.penalty_at(50_000) == 1.0 and t.penalty_at(80_000) == 1.0
    assert t.transform_iterations == 90_000


def test_plateau_trigger_fires_after_patience_iterations_without_improvement():
    losses = [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.69, 0.9, 0.9, 0.9]
    iterations = list(range(0, 1000, 100))
    assert plateau_iteration(losses, iterations, patience=300) == 500  # 0.75, 0.72, 0.71 after the 0.7 at 200
    assert plateau_iteration(losses, iterations, patience=400) is None  # 0.69 at 600 resets the count
    assert plateau_iteration([3, 2, 1], [0, 1, 2], patience=1) is None


def test_patience_is_counted_in_epochs():
    tcfg = TransformConfig(patience_epochs=2)
    assert TransformConfig().patience_epochs == 3
    steps = 55_000 // 60  # Lenet: 916 steps per epoch
    assert tcfg.patience_iterations(steps) == 1_832
    losses = [1.0, 0.5] + [0.6] * 25  # evaluated every 100 iterations; best at 100
    iterations = list(range(0, 2_700, 100))
    assert plateau_iteration(losses, iterations, tcfg.patience_iterations(steps)) == 2_000  # not 100 + 2 * 100
    assert DualConfig(preset("lenet"), transform=tcfg).key != DualConfig(preset("lenet")).key
    with pytest.raises(ConfigError, match="patience_epochs=0"):
        TransformConfig(patience_epochs=0)


def _penalized_run(mnist, coefficient):
    model, params, buffers = init_states("lenet", [0, 1])
    masks = dense_masks(params, model.layer_kinds)
    gen = torch.Generator().manual_seed(0)
    targets = removal_targets(params, masks, model.layer_kinds, preset("lenet"), 5, False, gen)
    train = TrainConfig(optimizer="sgd", lr=1e-3, momentum=0.9, iterations=60, eval_every=60, train_eval_size=100)
    with_penalty = train_stack(model, params, buffers, masks, mnist, train, [3, 4],
                               penalty=({k: v.float() for k, v in targets.items()}, lambda it: coefficient))
    without = train_stack(model, params, buffers, masks, mnist, train, [3, 4])
    return params, targets, with_penalty.params, without.params


def test_penalty_touches_only_the_chosen_weights_and_shrinks_them(mnist):
    start, targets, penalized, plain = _penalized_run(mnist, 5.0)
    for name, chosen in targets.items():
        assert chosen.any() and (~chosen).any()
        # the others follow the same data and optimizer; their change differs only through the shared loss
        shrink = penalized[name][chosen].abs().mean() / start[name][chosen].abs().mean()
        plain_shrink = plain[name][chosen].abs().mean() / start[name][chosen].abs().mean()
        assert shrink < 0.9 * plain_shrink
    # with a zero coefficient the penalty is inert
    _, _, zero, plain = _penalized_run(mnist, 0.0)
    for name in zero:
        assert torch.equal(zero[name], plain[name])


def test_removal_targets_are_exact_and_by_magnitude():
    model, params, _ = init_states("lenet", [0])
    masks = dense_masks(params, model.layer_kinds)
    cfg = preset("lenet")
    targets = removal_targets(params, masks, model.layer_kinds, cfg, 3, True, torch.Generator())
    kept = {k: masks[k] & ~targets[k] for k in masks}
    sizes = {k: v[0].numel() for k, v in masks.items()}
    assert float(percent_remaining(kept)[0]) == pytest.approx(remaining_percent(sizes, model.layer_kinds,
                                                                                cfg.prune, 3))
    for name in targets:
        assert params[name][targets[name]].abs().max() <= params[name][kept[name]].abs().min()


def test_dual_comparison_end_to_end_sparsity_exact(tmp_path, data_dir):
    cfg = preset("smoke", rounds=2, iterations=100, trials=1, reinits=0, one_shot_rounds=(), train_eval_size=200)
    tcfg = TransformConfig(penalty_step=0.25, penalty_every=5, hold_iterations=20, patience_epochs=1,
                           max_pretrain_iterations=300, stages=2)
    dcfg = DualConfig(cfg, target_rounds=(1, 2), transform=tcfg)
    table = run_dual(dcfg, results_dir=str(tmp_path), data_dir=str(data_dir), device="cpu", progress=False)
    p_m = table.groupby(["variant", "round"])["p_m"].first()
    for method in ("rst", "unilth", "unidlth"):
        for r in (1, 2):
            assert p_m[(method, r)] == pytest.approx(p_m[("iterative", r)], abs=1e-9)
    extra = table.groupby(["variant", "round"])["extra_iterations"].first()
    assert extra[("rst", 2)] == 40 and extra[("iterative", 2)] == 200
    assert extra[("unilth", 2)] > 80  # pre-training plus two penalty phases


def test_bad_transform_values_are_named():
    with pytest.raises(ConfigError, match="penalty_every=0"):
        TransformConfig(penalty_every=0)
    with pytest.raises(ConfigError, match=r"methods=\('lth',\)"):
        DualConfig(preset("smoke"), methods=("lth",))
    with pytest.raises(ConfigError, match=r"target_rounds=\(9,\)"):
        DualConfig(preset("smoke"), target_rounds=(9,))


def test_transformation_phases_carry_the_trained_batch_norm_statistics(tmp_path, monkeypatch):
    import lt_utils.chapters.transform as transform
    from lt_utils.lottery.presets import smoke_config

    calls = []
    original = transform.train_stack

    def spy(model, params, buffers, *args, **kwargs):
        result = original(model, params, buffers, *args, **kwargs)
        calls.append((kwargs.get("progress"), {k: v.clone() for k, v in buffers.items()}, result.buffers))
        return result

    monkeypatch.setattr(transform, "train_stack", spy)
    cfg = smoke_config(preset("resnet20_lr01")).with_overrides(iterations=4, eval_every=2, reinits=0, batch_size=4,
                                                                lr_drops=(), train_eval_size=20)
    tcfg = TransformConfig(penalty_step=0.5, penalty_every=1, hold_iterations=0, patience_epochs=1,
                           max_pretrain_iterations=4, stages=1)
    dcfg = DualConfig(cfg, target_rounds=(1,), methods=("unilth",), transform=tcfg)
    transform._DualRunner(dcfg, transform.RunOptions(results_dir=str(tmp_path), device="cpu", progress=True)).run()
    tags = [tag for tag, _, _ in calls]
    assert tags == ["pretrain", "unilth stage 1", "unilth final training"]
    for (_, _, before), (_, after_in, _) in zip(calls, calls[1:], strict=False):  # from the last phase's statistics
        assert before.keys() == after_in.keys() and before
        for name in before:
            assert torch.equal(after_in[name], before[name])
