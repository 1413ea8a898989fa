"""Memory, estimated before anything is allocated.

Two estimates, one per question:

- **Does a run fit?** (``check_memory``) fp32 copies of the weights (every parameter, biases and
  batch-norm scales included): for each network trained at once, its weights, gradients, mask and
  the optimizer's two moments (Adam's; SGD keeps one, so this is an upper bound for it); and for
  each trial, the copies kept across rounds (its initial or rewind weights, its trained weights and
  its mask). Activations and the data set are not counted: a lower bound of the whole run's
  memory, enough to refuse a configuration that cannot fit.
- **Which evaluation batch?** (``eval_batch_for``) the user's cap (``RunOptions.eval_batch``),
  lowered where a stack's activations would not fit the device's budget. Evaluating ``N``
  networks on a shared batch of ``B`` images holds a few activation tensors of ``N x B x`` (the
  model's largest activation per image) at once. Twenty Conv-2 networks at ``B = 2,000`` need
  about 10 GB for one such tensor, and were killed for memory on a 24 GiB machine (issue #22). So
  the batch is the largest that keeps ``activation_bytes`` within ``EVAL_MEMORY_BUDGET``,
  and never above the cap. The batch changes only how evaluation sums are split (rounding), never
  which examples are evaluated: it is not part of a result's key. Small models stay at the cap
  (Lenet: 30 networks at 2,000 images are estimated at 750 MB).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from functools import cache

import torch

from lt_utils.engine.models import MODELS, PrunableModel, build_model
from lt_utils.errors import ConfigError

EVAL_BATCH_CAP = 2_000
"""The largest evaluation batch by default (``eval_batch_for`` lowers it to fit memory)."""
BYTES_PER_VALUE = 4  # fp32
COPIES_PER_NETWORK = 5  # weights, gradients, mask, two optimizer moments
COPIES_PER_TRIAL = 3  # kept across rounds: initial (or rewind) weights, trained weights, mask


@cache
def parameter_count(model: str) -> int:
    """Parameters of one network of ``model`` (built on the meta device: nothing is allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(model).parameters())


def estimated_bytes(model: str, networks_at_once: int, trials: int) -> int:
    """The weights and optimizer state of ``networks_at_once`` networks in training and of the
    copies kept for ``trials`` trials (see the module's docstring)."""
    copies = networks_at_once * COPIES_PER_NETWORK + trials * COPIES_PER_TRIAL
    return copies * parameter_count(model) * BYTES_PER_VALUE


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: CUDA's free memory, or the CPU's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(model: str, networks_at_once: int, trials: int, device: torch.device, what: str) -> None:
    """Refuse ``what`` (a configuration, named in the error) when its estimate exceeds ``device``'s free memory."""
    need, limit = estimated_bytes(model, networks_at_once, trials), available_bytes(device)
    if need > limit:
        gib = 2**30
        raise ConfigError(
            f"{what} does not fit in memory: its weights and optimizer state need about {need / gib:,.1f} GiB "
            f"({networks_at_once:,} networks at once x {COPIES_PER_NETWORK} copies + {trials:,} trials x "
            f"{COPIES_PER_TRIAL} kept copies, of {parameter_count(model):,} parameters x {BYTES_PER_VALUE} bytes), "
            f"more than the {limit / gib:,.1f} GiB free on {device.type}; use fewer trials or reinits, or a "
            "smaller max_stack")

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
