import math

import pytest
import torch
from torch import nn

from lt_utils.engine.models import MODELS, build_model, networks_per_stack


@pytest.mark.parametrize("name", ["vgg19", "resnet20"])
def test_batch_norm_and_bias_init_follow_open_lth(name):
    model = build_model(name, seed=0)
    scales = torch.cat([m.weight.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    shifts = torch.cat([m.bias.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    assert scales.min() >= 0 and scales.max() < 1  # gamma ~ U[0, 1), not 1
    assert scales.mean() == pytest.approx(0.5, abs=0.05)
    assert torch.all(shifts == 0)
    for module in model.modules():  # PyTorch's default biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), not zero
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            bound = 1 / math.sqrt(module.weight[0].numel())
            assert module.bias.abs().max() <= bound and module.bias.abs().sum() > 0


def test_glorot_nets_keep_zero_biases():
    model = build_model("conv2", seed=0)
    assert all(torch.all(m.bias == 0) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_models_built_at_once_in_threads_get_the_weights_of_their_seeds():
    """Initialization reads torch's global generator: threads (the Ray driver's) must not interleave."""
    from concurrent.futures import ThreadPoolExecutor

    seeds = list(range(8))
    alone = [build_model("conv2", seed=s).state_dict() for s in seeds]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda s: build_model("conv2", seed=s).state_dict(), seeds * 3))
    for i, state in enumerate(together):
        assert all(torch.equal(state[k], alone[i % 8][k]) for k in state)


def test_networks_per_stack_is_a_fixed_table_per_device_type():
    assert [networks_per_stack(m, "cpu") for m in ("conv2", "conv4", "conv6")] == [1, 1, 1]  # alone, measured faster
    assert networks_per_stack("lenet", "cpu") is None  # a whole round stacked
    assert networks_per_stack("conv2", "cuda") is None and networks_per_stack("lenet", "cuda") is None
    assert networks_per_stack("vgg19", "cpu") == networks_per_stack("resnet20", "cuda") == 1  # batch norm
    assert all(info.cpu_stack is None or info.cpu_stack >= 1 for info in MODELS.values())


def _textbook_conv_forward(model, x):
    """Conv-2/4/6 as the paper draws them: ReLU after every convolution, then the pool."""
    for i, conv in enumerate(model.convs):
        x = torch.relu(conv(x))
        if i % 2 == 1:
            x = torch.nn.functional.max_pool2d(x, 2)
    x = x.flatten(1)
    for layer in model.fc:
        x = torch.relu(layer(x))
    return model.output(x)


@pytest.mark.parametrize("name", ["conv2", "conv4"])
def test_conv_nets_pool_before_relu_in_place_bit_for_bit(name):
    model = build_model(name, seed=0)
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    outputs, grads = [], []
    for forward in (model, lambda inputs: _textbook_conv_forward(model, inputs)):
        model.zero_grad()
        out = forward(x)
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    assert torch.equal(outputs[0], outputs[1])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))
