"""The machine's own peak, measured in the benchmark's run, and the arithmetic of each model, so
that the engine's rate can be stated as a share of what the device can do.

Two peaks: a large fp32 matrix product (the best a dense kernel reaches) and the Conv-2 network's
64-to-64 3x3 convolution alone on a training batch (the layer that dominates the Conv nets).
Floating-point operations are counted by ``torch.utils.flop_counter`` (matrix products and
convolutions, two per multiply-add), for one network's training step and one image's evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lt_utils.bench.timing import timed
from lt_utils.engine.cpu import missing_bf16_note, native_bf16
from lt_utils.engine.models import build_model


def _best_seconds(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    """The fastest of ``repeats`` timed calls of ``run`` (after one untimed call)."""
    run()
    return min(timed(run, device) for _ in range(repeats))


def matmul_gflops(device: torch.device, size: int = 2_048, repeats: int = 5,
                  dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of a ``size x size`` matrix product at ``dtype`` (the best of ``repeats``)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    return 2 * size**3 / _best_seconds(lambda: a @ b, repeats, device) / 1e9


def conv_gflops(device: torch.device, batch: int = 60, repeats: int = 5) -> float:
    """GFLOP/s of Conv-2's second convolution (64 to 64 channels, 3x3, 32x32 images) alone, forward,
    fp32, on a batch in channels_last (oneDNN's native layout on the CPU; the best of ``repeats``)."""
    x = torch.randn(batch, 64, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(64, 64, 3, 3, device=device), torch.zeros(64, device=device)
    flops = 2 * batch * 64 * 32 * 32 * 64 * 9
    return flops / _best_seconds(lambda: F.conv2d(x, w, b, padding=1), repeats, device) / 1e9


def machine_peak(device: torch.device) -> dict[str, Any]:
    """The device's own peak, measured now, and whether it computes bf16 natively (and if not, why)."""
    peak = {"matmul_fp32_gflop_per_s": round(matmul_gflops(device), 1),
            "conv2_conv_fp32_gflop_per_s": round(conv_gflops(device), 1), "bf16_native": native_bf16(device)}
    if device.type == "cpu" and not peak["bf16_native"]:
        peak["bf16_note"] = missing_bf16_note()
    return peak


def model_flops(name: str, dropout: float, input_shape: tuple[int, ...], batch: int) -> tuple[int, int]:
    """FLOPs of one network of model ``name``: a training step on ``batch`` images (forward and
    backward) and the evaluation of one image (forward)."""
    model = build_model(name, dropout, seed=0)
    x, y = torch.randn(batch, *input_shape), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as train:
        F.cross_entropy(model(x), y).backward()
    model.eval()
    with FlopCounterMode(display=False) as evaluate, torch.no_grad():
        model(x[:1])
    return train.get_total_flops(), evaluate.get_total_flops()
