"""The evaluation batch: the user's cap (``RunOptions.eval_batch``), lowered where a stack's
activations would not fit the device's memory budget.

Evaluating ``N`` networks on a shared batch of ``B`` images holds a few activation tensors of
``N x B x`` (the model's largest activation per image) at once: the layer's input and output,
and the copies that grouped convolutions and oneDNN's layouts make. Twenty Conv-2 networks at
``B = 2,000`` need about 10 GB for one such tensor, and were killed for memory on a 24 GiB
machine (issue #22). So the batch is the largest that keeps ``activation_bytes`` within
``EVAL_MEMORY_BUDGET``, and never above the cap. The batch changes only how evaluation sums
are split (rounding), never which examples are evaluated: it is not part of a result's key.
Small models stay at the cap (Lenet: 30 networks at 2,000 images are estimated at 750 MB).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from lt_utils.engine.models import MODELS, PrunableModel

EVAL_MEMORY_BUDGET: dict[str, int] = {"cpu": 3 * 2**30, "cuda": 8 * 2**30}
"""Bytes of evaluation activations allowed per device type. The CPU's keeps a round of the paper's
size (20 Conv-2/4/6 networks, or VGG-19 one at a time) under 8 GiB in all, the data included."""

LIVE_COPIES = 4
"""Activation tensors of the largest size counted as alive at once in an evaluation: a bound on
the peak resident memory measured on the CPU, which was 2.1 to 3.2 times one such tensor
(Conv-2 and Conv-6 one at a time and twenty stacked, VGG-19 alone)."""

_largest: dict[tuple, int] = {}


def largest_activation(model: PrunableModel, input_shape: Sequence[int]) -> int:
    """Elements per image of the largest tensor that any layer of ``model`` outputs (or its input),
    found by a forward pass on the meta device (no memory, no arithmetic); cached per registered model."""
    key = (model.spec, tuple(input_shape))
    if key in _largest:
        return _largest[key]
    if model.spec[0] in MODELS:
        with torch.device("meta"):
            meta = MODELS[model.spec[0]].build(model.spec[1])
    else:
        meta = copy.deepcopy(model).to("meta")
    sizes = [torch.Size(input_shape).numel()]
    leaves = [m for m in meta.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel())) for m in leaves]
    with torch.no_grad():
        meta.eval()(torch.empty(1, *input_shape, device="meta"))
    for hook in hooks:
        hook.remove()
    if model.spec[0] in MODELS:
        _largest[key] = max(sizes)
    return max(sizes)


def activation_bytes(model: PrunableModel, networks: int, batch: int, input_shape: Sequence[int]) -> int:
    """Estimated peak bytes of evaluating ``networks`` networks of ``model`` on ``batch`` images (fp32)."""
    return LIVE_COPIES * 4 * networks * batch * largest_activation(model, input_shape)


def eval_batch_for(model: PrunableModel, networks: int, input_shape: Sequence[int], cap: int,
                   device: torch.device) -> int:
    """The evaluation batch: ``cap``, or the largest batch whose ``activation_bytes`` fit the
    device type's ``EVAL_MEMORY_BUDGET`` (at least 1)."""
    budget = EVAL_MEMORY_BUDGET.get(device.type)
    if budget is None:
        return cap
    return max(1, min(cap, budget // activation_bytes(model, networks, 1, input_shape)))
