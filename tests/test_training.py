import pandas as pd
import pytest
import torch

from lt_utils.config import PruneConfig, TrainConfig
from lt_utils.pruning import dense_masks, prune_to_round
from lt_utils.results import early_stopping
from lt_utils.stack import init_states, select
from lt_utils.training import METRICS, train_stack

SHORT = TrainConfig(iterations=200, eval_every=100)


def _pruned_lenet(n):
    model, params, buffers = init_states("lenet", [10 + i for i in range(n)])
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 4)
    return model, params, buffers, masks


def test_short_lenet_run_learns_mnist(mnist):
    model, params, buffers = init_states("lenet", [0])
    result = train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), mnist,
                         TrainConfig(iterations=300), [0])
    assert result.eval_iterations == [0, 100, 200, 300]
    assert result.curves.shape == (1, 4, len(METRICS))
    test_acc = result.curves[0, -1, METRICS.index("test_acc")]
    assert test_acc > 0.90
    assert result.curves[0, 0, METRICS.index("test_acc")] < 0.5  # evaluated before training too


def test_pruned_weights_stay_exactly_zero(mnist):
    model, params, buffers, masks = _pruned_lenet(2)
    result = train_stack(model, params, buffers, masks, mnist, SHORT, [1, 2])
    for name, mask in masks.items():
        assert torch.all(result.params[name][~mask] == 0)
        assert torch.all(result.params[name][mask] != 0)
        assert not torch.equal(result.params[name][mask], params[name][mask])  # the survivors trained


def test_batched_training_equals_separate_training(mnist):
    model, params, buffers, masks = _pruned_lenet(3)
    seeds = [7, 8, 9]
    together = train_stack(model, params, buffers, masks, mnist, SHORT, seeds)
    for i in range(3):
        alone = train_stack(model, select(params, [i]), select(buffers, [i]) if buffers else {},
                            select(masks, [i]), mnist, SHORT, [seeds[i]])
        torch.testing.assert_close(together.curves[i], alone.curves[0], rtol=1e-4, atol=1e-4)
        for name in params:
            torch.testing.assert_close(together.params[name][i], alone.params[name][0], rtol=1e-4, atol=1e-5)


def test_sgd_schedule_warmup_and_drops():
    cfg = TrainConfig(optimizer="sgd", lr=0.1, iterations=100, lr_drops=(50, 80), warmup_iterations=10)
    assert cfg.lr_at(0) == 0.0  # warmup starts from 0: lr * it / k, as open_lth
    assert cfg.lr_at(5) == pytest.approx(0.05)
    assert cfg.lr_at(9) == pytest.approx(0.09)
    assert cfg.lr_at(10) == pytest.approx(0.1)
    assert cfg.lr_at(49) == pytest.approx(0.1)
    assert cfg.lr_at(50) == pytest.approx(0.01)
    assert cfg.lr_at(80) == pytest.approx(0.001)


def test_early_stopping_picks_minimum_validation_loss():
    rows = []
    for it, val_loss, test_acc in [(0, 2.0, 0.1), (100, 0.5, 0.8), (200, 0.3, 0.9), (300, 0.4, 0.95)]:
        rows.append({"variant": "iterative", "trial": 0, "replicate": 0, "round": 0, "p_m": 100.0,
                     "iteration": it, "val_loss": val_loss, "val_acc": 0, "test_loss": 0, "test_acc": test_acc,
                     "train_acc": test_acc})
    table = pd.DataFrame(rows)
    table = pd.concat([table, table.assign(trial=1, val_loss=table["val_loss"][::-1].to_numpy())])  # repeated index
    es = early_stopping(table).set_index("trial")
    assert len(es) == 2
    assert es.loc[1, "es_iteration"] == 100
    es = es.reset_index()
    assert es.loc[0, "es_iteration"] == 200
    assert es.loc[0, "es_test_acc"] == 0.9
    assert es.loc[0, "final_test_acc"] == 0.95
