"""N networks of one architecture as one computation: parameters stacked on a leading axis.

Networks without buffers run through ``torch.func.vmap`` over ``functional_call`` (batched
matmuls and grouped convolutions); networks with batch-norm buffers run one after another
inside the same step, each updating its own slice of the stacked running statistics. A stack of
one network skips ``vmap``: it is the plain ``functional_call`` of the model, whose convolutions
are oneDNN's ungrouped ones (on the CPU, vmap's grouped convolutions and their backward are the
slow part of a stacked Conv net; see ``networks_per_stack`` in :mod:`lt_utils.engine.models`).

A forward runs at one of ``PRECISIONS``: ``"fp32"`` as the paper trained, or ``"bf16"``: under
bf16 autocast. Networks that run one at a time (a stack of one, or batch norm) get their images
in channels_last when they have convolutions and either run in bf16 (the tensor-core path of
cuDNN's convolutions) or on the CPU (oneDNN's native layout: Conv-2's evaluation ran about 1.6x
faster so on a 2-core AVX-512 CPU, its training step a little). The layout changes only rounding.
Parameters, optimizer state and the loss stay in fp32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import functional_call, vmap

from lt_utils.engine.models import PrunableModel, build_model
from lt_utils.errors import ConfigError

State = dict[str, torch.Tensor]
Forward = Callable[[State, State, torch.Tensor], torch.Tensor]
PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> None:
    """A clear error unless ``precision`` is one of ``PRECISIONS``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"invalid precision={precision!r}: choose one of {PRECISIONS}")


def init_states(model_name: str, seeds: list[int], dropout: float = 0.0,
                device: str | torch.device = "cpu") -> tuple[PrunableModel, State, State]:
    """A template model and the stacked parameters and buffers of ``len(seeds)`` fresh networks.

    Initialization draws from a CPU generator per seed, so it is the same on every device.
    """
    models = [build_model(model_name, dropout, seed) for seed in seeds]
    params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).to(device)
              for name, _ in models[0].named_parameters()}
    buffers = {name: torch.stack([dict(m.named_buffers())[name] for m in models]).to(device)
               for name, _ in models[0].named_buffers()}
    return models[0].to(device), params, buffers


def select(state: State, index: list[int] | torch.Tensor) -> State:
    """Networks ``index`` of a stacked state (a copy)."""
    index = torch.as_tensor(index, device=next(iter(state.values())).device)
    return {name: value.index_select(0, index) for name, value in state.items()}


def concat(states: list[State]) -> State:
    """Stack several stacked states into one along the network axis."""
    return {name: torch.cat([s[name] for s in states]) for name in states[0]}


def make_forward(model: PrunableModel, has_buffers: bool, shared_input: bool, precision: str = "fp32") -> Forward:
    """``forward(params, buffers, x) -> logits N x B x classes`` at ``precision``.

    ``x`` is ``N x B x ...`` (each network its own batch) or, with ``shared_input``, ``B x ...``.
    """
    check_precision(precision)
    convolutional = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())

    def single(params: State, buffers: State, x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (params, buffers), (x,))

    def one_at_a_time(params: State, buffers: State, x: torch.Tensor) -> torch.Tensor:
        n = next(iter(params.values())).shape[0]
        if convolutional and x.dim() in (4, 5) and (precision == "bf16" or x.device.type == "cpu"):
            x = _channels_last(x)
        outs = []
        for i in range(n):
            xi = x if shared_input else x[i]
            outs.append(single({k: v[i] for k, v in params.items()}, {k: v[i] for k, v in buffers.items()}, xi))
        return torch.stack(outs)

    stacked = vmap(single, in_dims=(0, 0, None if shared_input else 0), randomness="different")

    def forward(params: State, buffers: State, x: torch.Tensor) -> torch.Tensor:
        one = next(iter(params.values())).shape[0] == 1
        return one_at_a_time(params, buffers, x) if has_buffers or one else stacked(params, buffers, x)

    return _autocast_bf16(forward) if precision == "bf16" else forward


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (``B x C x H x W``, or ``N x`` that) laid out so that each image is channels_last."""
    return x.movedim(-3, -1).contiguous().movedim(-1, -3)


def _autocast_bf16(forward: Forward) -> Forward:
    def autocast_forward(params: State, buffers: State, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return forward(params, buffers, x)

    return autocast_forward
