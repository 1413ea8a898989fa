"""The evaluation batch fits a memory budget where a stack would not, and leaves small models alone."""

import torch

import lt_utils.engine.training as training
from lt_utils.engine.data import load_dataset
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.memory import EVAL_MEMORY_BUDGET, activation_bytes, eval_batch_for, largest_activation
from lt_utils.engine.models import Lenet, build_model
from lt_utils.engine.pruning import dense_masks
from lt_utils.engine.stack import init_states
from lt_utils.lottery.options import RunOptions

CPU = torch.device("cpu")
CIFAR, MNIST = (3, 32, 32), (1, 28, 28)


def test_largest_activation_is_read_off_a_meta_forward():
    assert largest_activation(build_model("conv2"), CIFAR) == 64 * 32 * 32  # the first convolutions' output
    assert largest_activation(build_model("lenet"), MNIST) == 784  # the input: wider than any hidden layer
    assert largest_activation(Lenet(hidden=(1_000,)), MNIST) == 1_000  # a model outside the registry


def test_twenty_conv2_networks_get_a_batch_within_the_budget():
    conv2, cap = build_model("conv2"), RunOptions().eval_batch
    assert activation_bytes(conv2, 20, cap, CIFAR) > 8 * 2**30  # the round that was killed for memory
    batch = eval_batch_for(conv2, 20, CIFAR, cap, CPU)
    assert 100 < batch < cap
    assert activation_bytes(conv2, 20, batch, CIFAR) <= EVAL_MEMORY_BUDGET["cpu"] < 8 * 2**30
    assert activation_bytes(conv2, 20, batch + 1, CIFAR) > EVAL_MEMORY_BUDGET["cpu"]  # the largest that fits
    assert eval_batch_for(conv2, 20, CIFAR, 50, CPU) == 50  # the user's cap still rules below it


def test_small_models_and_single_networks_keep_the_cap():
    cap = RunOptions().eval_batch
    # Lenet's round (30 networks) evaluates at 2,000 as before: its committed numbers are unchanged
    assert eval_batch_for(build_model("lenet"), 30, MNIST, cap, CPU) == cap == 2_000
    for name in ("conv2", "conv6", "vgg19"):  # one network at a time, as the CPU trains them
        assert eval_batch_for(build_model(name), 1, CIFAR, cap, CPU) == cap


def test_train_stack_evaluates_at_the_budgeted_batch(monkeypatch):
    data = load_dataset("synthetic_cifar10", None, CPU, train_eval_size=20, synthetic_size=60)
    model, params, buffers = init_states("conv2", [0, 1])
    monkeypatch.setitem(EVAL_MEMORY_BUDGET, "cpu", activation_bytes(model, 2, 7, CIFAR))
    seen, evaluate = [], training.evaluate_stack
    monkeypatch.setattr(training, "evaluate_stack", lambda *args: seen.append(args[-1]) or evaluate(*args))
    training.train_stack(model, params, buffers, dense_masks(params, model.layer_kinds), data,
                         TrainConfig(iterations=1, batch_size=10, train_eval_size=20), [0, 1], eval_batch=2_000)
    assert seen and set(seen) == {7}
