from dataclasses import replace

import pandas as pd
import pytest
import torch
from torch.func import functional_call

from lt_utils.engine.data import Dataset, Split, load_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states, select
from lt_utils.engine.training import METRICS, train_stack
from lt_utils.lottery.results import curves_to_table, early_stopping

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


def _in_float64(data: Dataset) -> Dataset:
    return replace(data, **{name: Split(getattr(data, name).x.double(), getattr(data, name).y)
                            for name in ("train", "val", "test", "train_eval")})


def test_batched_training_equals_separate_training(mnist):
    # In float64, so that the check is exact: in fp32, Adam turns the different rounding of a stacked and
    # a single matrix product into visible drift on weights whose gradients are nearly zero (one of
    # 235,200 weights off by 6e-5 after 200 iterations on one CPU), which is rounding, not coupling.
    model, params, buffers, masks = _pruned_lenet(3)
    params, data, seeds = {k: v.double() for k, v in params.items()}, _in_float64(mnist), [7, 8, 9]
    together = train_stack(model, params, buffers, masks, data, SHORT, seeds)
    for i in range(3):
        alone = train_stack(model, select(params, [i]), select(buffers, [i]) if buffers else {},
                            select(masks, [i]), data, SHORT, [seeds[i]])
        torch.testing.assert_close(together.curves[i], alone.curves[0], rtol=1e-9, atol=1e-12)
        for name in params:
            torch.testing.assert_close(together.params[name][i], alone.params[name][0], rtol=1e-9, atol=1e-12)


def test_conv_networks_trained_alone_equal_the_stack():
    # The CPU's choice for the Conv nets (one network per stack: no vmap, channels_last images) against
    # the stacked path (vmap's grouped convolutions), on a tiny set. In fp32 (float64 convolutions take
    # a slow path), so the weights are compared by how far training moved them: rounding apart, equal.
    data = load_dataset("synthetic_cifar10", None, "cpu", train_eval_size=20, synthetic_size=120)
    model, params, buffers = init_states("conv2", [3, 4])
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 2)
    params = {k: v * masks[k] if k in masks else v for k, v in params.items()}
    cfg, seeds = TrainConfig(lr=2e-3, iterations=4, eval_every=2, batch_size=10, train_eval_size=20), [7, 8]
    together = train_stack(model, params, buffers, masks, data, cfg, seeds)
    for i in range(2):
        alone = train_stack(model, select(params, [i]), {}, select(masks, [i]), data, cfg, [seeds[i]])
        torch.testing.assert_close(together.curves[i], alone.curves[0], rtol=1e-4, atol=1e-5)
        for name, start in params.items():
            moved = (together.params[name][i] - start[i]).norm()
            assert moved > 0 and (together.params[name][i] - alone.params[name][0]).norm() < 1e-4 * moved


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


class _Recorder:
    """A training step that records what it is given and leaves the weights alone."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, y, lr, coefficient):
        self.calls.append((x.clone(), y.clone(), lr))


def _record_steps(monkeypatch, mnist, cfg, start):
    import lt_utils.engine.step as step

    recorder = _Recorder()
    monkeypatch.setattr(step, "make_train_step", lambda *a, **k: recorder)
    model, params, buffers = init_states("lenet", [0, 1])
    result = train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), mnist, cfg, [5, 6],
                         start_iteration=start, step="eager")
    return recorder.calls, result


@pytest.mark.parametrize("augment", [False, True])
def test_late_start_continues_schedule_and_data_order(monkeypatch, mnist, augment):
    # 1,000 iterations of 60 cross an epoch of 55,000 examples (916 steps), so the order must carry over
    cfg = TrainConfig(optimizer="sgd", lr=0.1, iterations=1_000, eval_every=100, warmup_iterations=300,
                      lr_drops=(600,), augment=augment)
    full, _ = _record_steps(monkeypatch, mnist, cfg, 0)
    late, result = _record_steps(monkeypatch, mnist, cfg, 250)
    assert len(full) == 1_000 and len(late) == 750  # iterations 250 .. 999, not a fresh schedule of 1,000
    assert [lr for _, _, lr in late] == [cfg.lr_at(it) for it in range(250, 1_000)]
    for (x, y, _), (x_full, y_full, _) in zip(late, full[250:], strict=True):
        assert torch.equal(y, y_full) and torch.equal(x, x_full)
    assert result.eval_iterations == [250, 300, 400, 500, 600, 700, 800, 900, 1_000]  # the original axis


def test_final_evaluation_covers_the_whole_training_split(mnist):
    model, params, buffers = init_states("lenet", [0])
    masks = dense_masks(params, model.layer_kinds)
    result = train_stack(model, params, buffers, masks, mnist, TrainConfig(iterations=100), [0])
    assert result.final_train.shape == (1, 2)
    with torch.no_grad():
        logits = functional_call(model.eval(), {k: v[0] for k, v in result.params.items()}, (mnist.train.x,))
    acc = (logits.argmax(1) == mnist.train.y).double().mean()
    loss = torch.nn.functional.cross_entropy(logits, mnist.train.y)
    assert len(mnist.train) == 55_000 and len(mnist.train_eval) == 1_000
    assert float(result.final_train[0, 1]) == pytest.approx(float(acc), abs=1e-6)
    assert float(result.final_train[0, 0]) == pytest.approx(float(loss), rel=1e-4)


def test_early_stopping_reads_whole_training_set_accuracy_and_tolerates_old_tables():
    rows = [{"variant": "iterative", "trial": 0, "replicate": 0, "round": 0, "p_m": 100.0, "iteration": it,
             "val_loss": 1.0 - it / 1000, "val_acc": 0, "test_loss": 0, "test_acc": 0.9, "train_acc": 0.95,
             "train_loss": 0.1} for it in (0, 100, 200)]
    old = pd.DataFrame(rows)
    assert early_stopping(old)["final_train_acc_full"].isna().all()  # stored before it was measured
    new = old.assign(train_acc_full=[float("nan"), float("nan"), 0.97], train_loss_full=[float("nan")] * 2 + [0.2])
    es = early_stopping(new)
    assert es.loc[0, "final_train_acc_full"] == 0.97 and es.loc[0, "final_train_acc"] == 0.95
    assert es.loc[0, "final_train_loss_full"] == 0.2


# Early termination (patience) and test evaluation only where read (test_eval="where_read")

EARLY = TrainConfig(iterations=600, eval_every=100, lr=1e-2)  # a high rate: noisy validation losses
PATIENCE = 200
SEEDS = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def small_mnist(mnist):
    """MNIST cut down so that evaluations are cheap (the runs below compare numbers, not accuracy)."""
    parts = {"train": 12_000, "val": 1_000, "test": 2_000, "train_eval": 500}
    return replace(mnist, **{name: Split(getattr(mnist, name).x[:size], getattr(mnist, name).y[:size])
                             for name, size in parts.items()})


def _train_early(data, cfg, on_eval=None):
    model, params, buffers = init_states("lenet", [10 + i for i in range(len(SEEDS))])
    return train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), data, cfg, SEEDS,
                       step="eager", on_eval=on_eval)


@pytest.fixture(scope="module")
def full_run(small_mnist):
    return _train_early(small_mnist, EARLY)


def _table(result):
    labels = [{"variant": "iterative", "trial": i, "replicate": 0, "round": 0, "p_m": 100.0}
              for i in range(len(SEEDS))]
    return curves_to_table(result.curves, result.eval_iterations, labels, result.final_train)


def test_patience_that_no_network_reaches_changes_nothing(small_mnist, full_run):
    # the watch (minimum, kept weights, stop flags) runs but stops nothing: bit-identical to the default run
    # (a network stops at 500 only if it never improved on iteration 0; the last evaluation stops none)
    watched = _train_early(small_mnist, replace(EARLY, patience=EARLY.iterations - EARLY.eval_every))
    assert torch.equal(watched.curves, full_run.curves) and torch.equal(watched.final_train, full_run.final_train)
    assert all(torch.equal(watched.params[k], full_run.params[k]) for k in full_run.params)
    assert watched.stopped == [None] * len(SEEDS) == full_run.stopped


def test_patience_stops_networks_and_keeps_their_early_stopping_values(small_mnist, full_run):
    seen = []
    early = _train_early(small_mnist, replace(EARLY, patience=PATIENCE),
                         on_eval=lambda it, m, params, b: seen.append((it, {k: v.clone() for k, v in params.items()})))
    assert early.eval_iterations == full_run.eval_iterations  # the table keeps the schedule's evaluations
    stopped = [i for i, at in enumerate(early.stopped) if at is not None]
    running = [i for i, at in enumerate(early.stopped) if at is None]
    assert stopped and running, early.stopped  # this seed set has both: some stop while others train on
    val = full_run.curves[:, :, METRICS.index("val_loss")]
    for i in range(len(SEEDS)):
        at = early.stopped[i]
        last = early.eval_iterations.index(at) if at is not None else len(early.eval_iterations) - 1
        # up to its stop a network's curve is the full run's, bit for bit; after it, nothing was measured
        assert torch.equal(early.curves[i, : last + 1], full_run.curves[i, : last + 1])
        assert early.curves[i, last + 1 :].isnan().all()
        if at is not None:  # it stopped because its minimum so far lay at least `patience` iterations back
            best = int(val[i, : last + 1].argmin())
            assert at - early.eval_iterations[best] >= PATIENCE
            assert early.final_train[i].isnan().all()
            weights_at_stop = next(params for it, params in seen if it == at)
            for name in early.params:  # the stopped network's weights stayed as they were when it stopped
                assert torch.equal(early.params[name][i], weights_at_stop[name][i])
        else:
            assert torch.equal(early.final_train[i], full_run.final_train[i])
    for i in running:
        for name in early.params:  # the others trained on exactly as in the full run
            assert torch.equal(early.params[name][i], full_run.params[name][i])
    # early stopping: the full run's, unless the full run's minimum came after the stop
    full, cut = early_stopping(_table(full_run)), early_stopping(_table(early))
    columns = ["es_iteration", "val_loss", "es_val_acc", "es_test_acc"]
    later = [i for i in range(len(SEEDS)) if early.stopped[i] is not None
             and full.loc[i, "es_iteration"] > early.stopped[i]]
    same = [i for i in range(len(SEEDS)) if i not in later]
    assert same
    pd.testing.assert_frame_equal(cut.loc[same, columns], full.loc[same, columns])
    for i in later:  # the minimum it had when it stopped: the full run's values at that evaluation
        assert cut.loc[i, "es_iteration"] < full.loc[i, "es_iteration"]
    assert cut.loc[stopped, ["final_test_acc", "final_train_acc", "final_train_acc_full"]].isna().all().all()
    assert not _table(early)["diverged"].any()


def test_networks_on_the_full_schedule_train_to_the_end_and_are_measured_there(small_mnist, full_run):
    # prune_at="end": a settled network stops being evaluated, not trained; its end is the full run's
    full = [False, True, True, False]  # network 1 settles at 400 (test above), 3 at 500
    early = _train_early_full(small_mnist, replace(EARLY, patience=PATIENCE), full)
    val = METRICS.index("val_loss")
    for i in range(len(SEEDS)):
        if full[i]:
            assert early.stopped[i] is None
            assert all(torch.equal(early.params[k][i], full_run.params[k][i]) for k in full_run.params)
            assert torch.equal(early.curves[i, -1], full_run.curves[i, -1])  # evaluated again at the end
            assert torch.equal(early.final_train[i], full_run.final_train[i])
            measured = ~early.curves[i, :, val].isnan()
            assert torch.equal(early.curves[i, measured], full_run.curves[i, measured])
    paused = [i for i in range(len(SEEDS)) if full[i] and early.curves[i, 1:-1, val].isnan().any()]
    assert paused, "no full-schedule network settled before the end: the test does not test the pause"
    assert early.stopped[3] == 500 and early.stopped[0] is None  # the others as without full_schedule


def test_evaluations_are_skipped_while_every_network_is_settled(small_mnist, full_run):
    early = _train_early_full(small_mnist, replace(EARLY, patience=100, lr=5e-2), [True] * len(SEEDS))
    assert early.stopped == [None] * len(SEEDS)
    assert all(torch.equal(early.params[k], full_run_high(small_mnist).params[k]) for k in early.params)
    assert early.curves[:, -1].isnan().sum() == 0  # the end is measured for every network


_HIGH: dict = {}


def full_run_high(data):
    if "run" not in _HIGH:
        _HIGH["run"] = _train_early(data, replace(EARLY, lr=5e-2))
    return _HIGH["run"]


def _train_early_full(data, cfg, full):
    model, params, buffers = init_states("lenet", [10 + i for i in range(len(SEEDS))])
    return train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), data, cfg, SEEDS,
                       step="eager", full_schedule=full)


def test_a_stack_ends_when_every_network_has_stopped(small_mnist):
    # twice EARLY's schedule, so that a network still improving at 500 (seen on one CPU) has room to stop
    cfg = replace(EARLY, patience=100, lr=5e-2, iterations=2 * EARLY.iterations)
    result = _train_early(small_mnist, cfg)
    assert all(at is not None for at in result.stopped) and max(result.stopped) < cfg.iterations
    after = [i for i, it in enumerate(result.eval_iterations) if it > max(result.stopped)]
    assert result.curves[:, after].isnan().all() and result.final_train.isnan().all()


def test_test_set_evaluated_only_where_read_gives_the_same_numbers(small_mnist, full_run):
    read = _train_early(small_mnist, replace(EARLY, test_eval="where_read"))
    test = [METRICS.index("test_loss"), METRICS.index("test_acc")]
    others = [j for j in range(len(METRICS)) if j not in test]
    assert torch.equal(read.curves[:, :, others], full_run.curves[:, :, others])  # training is untouched
    assert all(torch.equal(read.params[k], full_run.params[k]) for k in full_run.params)
    full, where = _table(full_run), _table(read)
    assert where["test_acc"].isna().any()  # not evaluated between the early-stopping and last evaluations
    pd.testing.assert_frame_equal(early_stopping(where), early_stopping(full))  # es and final values, bit for bit
    read_rows = where[where["test_acc"].notna()]
    pd.testing.assert_frame_equal(read_rows, full.loc[read_rows.index])

