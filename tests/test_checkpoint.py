"""Checkpoints inside a stack's training: a run stopped mid-round goes on bit for bit."""

import json
from dataclasses import replace

import pandas as pd
import pytest
import torch

import lt_utils.lottery.experiments as experiments
from lt_utils.engine.checkpoint import Checkpoint
from lt_utils.engine.data import Split, load_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states, make_forward
from lt_utils.engine.step import (
    FunctionalStep,
    StepForms,
    _optimizer_state,
    functional_update,
    make_step_forms,
    make_train_step,
)
from lt_utils.engine.training import train_stack
from lt_utils.errors import ConfigError
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset


class Stopped(Exception):
    """Stands for the process being killed."""


class StopAfter(Checkpoint):
    """Saves at every evaluation, then stops the process after its ``saves``-th save."""

    def __init__(self, path, saves: int):
        super().__init__(path, every_seconds=0.0)
        self.left = saves

    def save(self, state):
        super().save(state)
        self.left -= 1
        if self.left == 0:
            raise Stopped


def _same(a, b) -> None:
    """Two train_stack results equal bit for bit (NaN where unmeasured in both)."""
    assert a.eval_iterations == b.eval_iterations and a.stopped == b.stopped
    assert torch.equal(a.curves.isnan(), b.curves.isnan())
    assert torch.equal(a.curves.nan_to_num(), b.curves.nan_to_num())
    assert torch.equal(a.final_train.nan_to_num(), b.final_train.nan_to_num())
    for name in a.params:
        assert torch.equal(a.params[name], b.params[name]), name
    for name in a.buffers:
        assert torch.equal(a.buffers[name], b.buffers[name]), name
    assert (a.snapshot is None) == (b.snapshot is None)
    if a.snapshot is not None:
        for x, y in zip(a.snapshot, b.snapshot, strict=True):
            assert all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture(scope="module")
def small_mnist(mnist):
    parts = {"train": 6_000, "val": 1_000, "test": 1_000, "train_eval": 500}
    return replace(mnist, **{name: Split(getattr(mnist, name).x[:size], getattr(mnist, name).y[:size])
                             for name, size in parts.items()})


# patience stops two networks while the two marked full_schedule train on; the test set is read where read;
# 600 iterations of 60 cross an epoch of 6,000 examples (100 steps)
LENET = TrainConfig(iterations=600, eval_every=100, lr=1e-2, patience=200, test_eval="where_read")
FULL = [True, False, True, False]


def _lenet(data, checkpoint=None):
    model, params, buffers = init_states("lenet", [10, 11, 12, 13])
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 1)
    torch.manual_seed(5)
    return train_stack(model, params, buffers, masks, data, LENET, [1, 2, 3, 4], full_schedule=FULL,
                       snapshot_at=200, step="eager", checkpoint=checkpoint)


@pytest.fixture(scope="module")
def lenet_whole(small_mnist):
    return _lenet(small_mnist)


@pytest.mark.parametrize("saves", [1, 3, 5, 6])  # stopped at 100, 300 (one network stopped), 500, the end
def test_a_stack_stopped_mid_training_goes_on_bit_for_bit(small_mnist, lenet_whole, tmp_path, saves):
    path = tmp_path / "stack.pt"
    assert any(at is not None for at in lenet_whole.stopped) and not all(lenet_whole.stopped)
    with pytest.raises(Stopped):
        _lenet(small_mnist, StopAfter(path, saves))
    assert torch.load(path, weights_only=True)["iteration"] == 100 * saves
    _same(_lenet(small_mnist, Checkpoint(path, every_seconds=0.0)), lenet_whole)


def test_dropout_and_augmentation_streams_go_on_too(tmp_path):
    data = load_dataset("synthetic_cifar10", None, "cpu", train_eval_size=20, synthetic_size=120)
    cfg = TrainConfig(iterations=30, eval_every=2, batch_size=10, train_eval_size=20, augment=True)  # 12 steps/epoch

    def train(checkpoint=None):
        model, params, buffers = init_states("conv2", [3], dropout=0.5)
        torch.manual_seed(9)  # the stack's dropout seed, as train_job sets it
        return train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), data, cfg, [7],
                           step="eager", checkpoint=checkpoint)

    whole = train()
    with pytest.raises(Stopped):
        train(StopAfter(tmp_path / "stack.pt", 7))  # at iteration 14, in the second epoch
    _same(train(Checkpoint(tmp_path / "stack.pt", every_seconds=0.0)), whole)


def test_a_checkpoint_of_other_work_is_ignored(small_mnist, lenet_whole, tmp_path):
    path = tmp_path / "stack.pt"
    model, params, buffers = init_states("lenet", [99])
    with pytest.raises(Stopped):
        train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), small_mnist, LENET, [1],
                    checkpoint=StopAfter(path, 1))
    with pytest.warns(RuntimeWarning, match="saved by other work"):
        _same(_lenet(small_mnist, Checkpoint(path, every_seconds=0.0)), lenet_whole)
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning, match="damaged checkpoint"):
        _same(_lenet(small_mnist, Checkpoint(path, every_seconds=0.0)), lenet_whole)


def test_optimizer_state_has_the_same_keys_in_every_form(small_mnist):
    model, params, buffers = init_states("lenet", [0])
    masks = dense_masks(params, model.layer_kinds)
    for optimizer in ("adam", "sgd"):
        cfg = TrainConfig(optimizer=optimizer, lr=1e-2)
        forms = make_step_forms("eager", model, dict(params), buffers, masks, cfg)
        assert forms.optimizer_state() is None  # no step yet
        forms.step(small_mnist.train.x[None, :60], small_mnist.train.y[None, :60], cfg.lr, 0.0)
        functional = set(_optimizer_state(params, cfg))
        eager = set(forms.optimizer_state())
        assert eager == (functional if optimizer == "adam" else functional - {"step"})


def test_an_experiment_stopped_mid_round_goes_on_and_clears_its_checkpoints(tmp_path, data_dir, monkeypatch):
    cfg = preset("smoke", iterations=300, trials=2, rounds=1, reinits=1, train_eval_size=500, patience=100)
    run = dict(data_dir=str(data_dir), progress=False, device="cpu")
    whole = run_experiment(cfg, results_dir=str(tmp_path / "whole"), **run).table
    saves = []
    original = Checkpoint.save

    def stop_in_round_one(self, state):
        original(self, state)
        saves.append(self.path.name)
        if self.path.name.startswith("round_01") and len(saves) > 4:
            raise Stopped

    monkeypatch.setattr(Checkpoint, "save", stop_in_round_one)
    options = dict(results_dir=str(tmp_path / "stopped"), checkpoint_minutes=1e-9, **run)
    with pytest.raises(Stopped):
        run_experiment(cfg, **options)
    folder = next((tmp_path / "stopped").iterdir())
    assert [p.name for p in (folder / experiments.PARTIAL).iterdir()] == [saves[-1]]
    before = torch.load(folder / experiments.PARTIAL / saves[-1], weights_only=True)["seconds"]
    monkeypatch.setattr(Checkpoint, "save", original)
    pd.testing.assert_frame_equal(run_experiment(cfg, **options).table, whole)
    assert not list((folder / experiments.PARTIAL).iterdir())
    record = json.loads((folder / "rounds" / "round_01.json").read_text())
    assert record["wall_seconds"] >= before > 0  # the round's time counts its training before the stop


def test_checkpoint_minutes_must_be_positive():
    for bad in (0, -1.0, float("nan"), "5"):
        with pytest.raises(ConfigError, match="checkpoint_minutes"):
            RunOptions(checkpoint_minutes=bad)
    assert RunOptions(checkpoint_minutes=None).checkpoint_minutes is None


@pytest.mark.parametrize("cfg", [TrainConfig(optimizer="adam", lr=1e-3), TrainConfig(optimizer="sgd", lr=0.05)])
@pytest.mark.parametrize(("saved_by", "loaded_by"), [("eager", "eager"), ("functional", "functional"),
                                                     ("eager", "functional"), ("functional", "eager")])
def test_optimizer_state_carries_over_between_steps_of_any_form(cfg, saved_by, loaded_by):
    model, params, buffers = init_states("lenet", [0, 1])
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 2)
    forward = make_forward(model, False, shared_input=False)
    generator = torch.Generator().manual_seed(3)
    batches = [(torch.randn(2, 16, 1, 28, 28, generator=generator), torch.randint(0, 10, (2, 16), generator=generator))
               for _ in range(4)]

    def step_of(form, state):
        if form == "eager":
            return make_train_step("eager", model, state, {}, masks, cfg)
        return FunctionalStep(functional_update(cfg, forward), state, {}, masks, cfg, {})

    whole = {k: v.clone() for k, v in params.items()}
    whole_step = step_of(saved_by, whole)
    for x, y in batches:
        whole_step(x, y, cfg.lr, 0.0)
    first = {k: v.clone() for k, v in params.items()}
    first_step = step_of(saved_by, first)
    for x, y in batches[:2]:
        first_step(x, y, cfg.lr, 0.0)
    saved = {k: v.detach().clone() for k, v in first_step.optimizer_state().items()}
    second = {k: v.detach().clone() for k, v in first.items()}
    second_step = step_of(loaded_by, second)
    second_step.load_optimizer_state(saved)
    for x, y in batches[2:]:
        second_step(x, y, cfg.lr, 0.0)
    for name in params:  # the same form: bit for bit; across forms: the forms' own rounding
        if saved_by == loaded_by:
            assert torch.equal(second[name], whole[name]), name
        else:
            moved = (whole[name] - params[name]).norm()
            assert (second[name] - whole[name]).norm() < 1e-3 * moved, name


def test_a_form_falling_back_after_steps_hands_on_its_optimizer_state(small_mnist):
    # a resumed stack scores for the first time after training steps: a scorer failing then switches
    # forms, and the next form goes on from the optimizer state the steps left, not from the start
    model, params, buffers = init_states("lenet", [0])
    masks = dense_masks(params, model.layer_kinds)
    cfg = TrainConfig(lr=1e-2)
    x, y = small_mnist.train.x[None, :60], small_mnist.train.y[None, :60]

    def broken(*args):
        raise RuntimeError("simulated scorer failure")

    def forms_over(state):
        real = make_step_forms("eager", model, state, buffers, masks, cfg)
        return StepForms(("first", "second"), lambda form: (make_train_step("eager", model, state, buffers, masks,
                                                                            cfg), broken if form == "first"
                                                            else real.score), state, buffers)

    plain = {k: v.clone() for k, v in params.items()}
    plain_step = make_train_step("eager", model, plain, buffers, masks, cfg)
    for _ in range(4):
        plain_step(x, y, cfg.lr, 0.0)
    state = {k: v.clone() for k, v in params.items()}
    forms = forms_over(state)
    forms.prefer("second")
    assert forms.form == "second"  # a checkpoint's form is taken up where it is one of them
    forms = forms_over(state)
    for _ in range(2):
        forms.step(x, y, cfg.lr, 0.0)
    with pytest.warns(RuntimeWarning, match="'first' failed"):
        forms.score(state, buffers, small_mnist.val.x[:10], small_mnist.val.y[:10])
    assert forms.form == "second"
    for _ in range(2):
        forms.step(x, y, cfg.lr, 0.0)
    assert all(torch.equal(state[k], plain[k]) for k in params)
