"""What this machine's CPU computes natively: whether bf16 is worth asking for on it.

bf16 autocast on a CPU is fast only where the CPU has bf16 instructions (``avx512_bf16`` or
Intel's AMX tiles, ``amx_bf16``). Without them oneDNN emulates bf16, and a bf16 matmul ran at
1 GFLOP/s against 66 in fp32 on such a CPU (issue #22). The flags are read from
``/proc/cpuinfo`` (Linux); where it cannot be read, the CPU is taken to lack them.

A user asking for ``precision="bf16"`` on the CPU of such a machine gets a
``SlowBf16Warning`` naming the missing feature, not an error: the run computes the same
numbers either way (only slowly), and a bf16 test or an accuracy check of bf16 must still run
on any CPU. What picks a precision by itself (the benchmark's bf16 forms) asks
``native_bf16`` first and leaves bf16 out where it is False.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import torch

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (any one suffices) that mean bf16 matrix products run natively."""


class SlowBf16Warning(RuntimeWarning):
    """bf16 asked for on a CPU that emulates it (slower than fp32); the message names the missing flags."""


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA device that supports it, or a CPU with one
    of ``BF16_FLAGS``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(cpu_flags() & set(BF16_FLAGS))


def missing_bf16_note() -> str:
    """Why bf16 is slow on this CPU, naming the features it lacks."""
    return (f"this CPU has none of the bf16 features {' or '.join(BF16_FLAGS)} (read from /proc/cpuinfo), "
            "so bf16 is emulated and runs many times slower than fp32")


def warn_if_slow_bf16(precision: str, device: torch.device) -> None:
    """A ``SlowBf16Warning`` when ``precision`` is ``"bf16"`` on a CPU without native bf16
    (Python's warning filters show it once per calling line); nothing otherwise."""
    if precision == "bf16" and device.type == "cpu" and not native_bf16(device):
        warnings.warn(f"precision='bf16' on the CPU: {missing_bf16_note()}; use precision='fp32' (the paper's) "
                      "for speed as well", SlowBf16Warning, stacklevel=3)
