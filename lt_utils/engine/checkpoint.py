"""Checkpoints inside a training run: everything ``train_stack``'s loop depends on, saved every few
minutes (at evaluations) and read back so that an interrupted stack goes on bit for bit.

A checkpoint holds the weights, buffers and optimizer state, every random stream (each network's
data generator and the current epoch's batches, and the global stream that draws dropout), the
curves measured so far and the early-stopping bookkeeping, and the step form, time and devices
that trained it. It carries a fingerprint of what the stack starts from (initial weights, buffers,
masks, data seeds, dropout seed, hyperparameters, precision), so a checkpoint of other work is
never resumed: it is ignored, with a warning. ``train_stack`` also saves one at the end of
training, so that a stack finished before a stop is not trained again.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lt_utils.atomic import atomic_save_torch
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.stack import State


@dataclass
class Checkpoint:
    """Save a stack's training state to ``path`` at the first evaluation after every ``every_seconds``
    of training, and resume from it when it is there."""

    path: Path
    every_seconds: float = 300.0
    _last: float = field(default_factory=time.monotonic, init=False, repr=False)

    def due(self) -> bool:
        """Whether ``every_seconds`` have passed since the last save (or the start)."""
        return time.monotonic() - self._last >= self.every_seconds

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically (a reader sees the previous checkpoint or this one)."""
        atomic_save_torch(state, self.path)
        self._last = time.monotonic()

    def load(self, key: str, device: torch.device) -> dict[str, Any] | None:
        """The saved state whose fingerprint is ``key``, on ``device``; None when there is none, or
        when the file is damaged or holds other work (with a warning: training starts over)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=True)
        except Exception as error:  # a damaged file loses minutes, not the run
            warnings.warn(f"ignoring the damaged checkpoint {self.path} ({type(error).__name__}: {error}); "
                          "training this stack from its start", RuntimeWarning, stacklevel=3)
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != key:
            warnings.warn(f"ignoring the checkpoint {self.path}: it was saved by other work (another start, "
                          "masks, seeds or hyperparameters); training this stack from its start",
                          RuntimeWarning, stacklevel=3)
            return None
        return state


def fingerprint(params: State, buffers: State, masks: State, data_seeds: list[int], start_iteration: int,
                cfg: TrainConfig, precision: str) -> str:
    """A hash of everything a stack's training starts from (the dropout seed is the global one)."""
    hasher = hashlib.sha256(json.dumps({"data_seeds": data_seeds, "start": start_iteration, "train": asdict(cfg),
                                        "precision": precision, "dropout_seed": torch.initial_seed()},
                                       sort_keys=True, default=str).encode())
    for prefix, state in (("params", params), ("buffers", buffers), ("masks", masks)):
        for name in sorted(state):
            tensor = state[name].detach().cpu().contiguous()
            hasher.update(f"{prefix}.{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            hasher.update(tensor.numpy().tobytes())
    return hasher.hexdigest()


def random_state(device: torch.device, generators: list[torch.Generator]) -> dict[str, Any]:
    """Every random stream training draws from: the networks' data generators and the global ones."""
    return {"generators": [g.get_state() for g in generators], "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_random_state(saved: dict[str, Any], device: torch.device, generators: list[torch.Generator]) -> None:
    """Put back the streams of :func:`random_state`."""
    for generator, state in zip(generators, saved["generators"], strict=True):
        generator.set_state(state.cpu())
    torch.set_rng_state(saved["cpu"].cpu())
    if saved["cuda"] is not None:
        torch.cuda.set_rng_state(saved["cuda"].cpu(), device)
