"""Memory that a stack of networks needs, estimated before anything is allocated, and refused
when the device cannot hold it.

The estimate counts fp32 copies of the weights (every parameter, biases and batch-norm scales
included): for each network trained at once, its weights, gradients, mask and the optimizer's
two moments (Adam's; SGD keeps one, so this is an upper bound for it); and for each trial, the
copies kept across rounds (its initial or rewind weights, its trained weights and its mask).
Activations, evaluation batches and the data set are not counted: the estimate is a lower
bound of the whole run's memory, which is enough to refuse a configuration that cannot fit.
"""

from __future__ import annotations

import os
from functools import cache

import torch

from lt_utils.engine.models import build_model
from lt_utils.errors import ConfigError

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
