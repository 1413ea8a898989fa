"""Resume points: what a long run needs to go on in another checkout, small enough to commit.

A results folder keeps every round's weights (a Conv-2 network's are 17 MB). To go on from
round ``k`` elsewhere, a run needs far less: the finished rounds' tables and run records, and
the masks of round ``k + 1``. Its initial weights and every later seed come again from the
configuration. A resume point holds just that, the masks packed as bits (0.5 MB for Conv-2), in
one file named by the run's key.

Restored into an empty results folder (``restore_resume_point``), the run trains round
``k + 1`` on exactly the masks it would have used, so its numbers are those of an uninterrupted
run. The restored rounds have their tables and records but no weights. A run whose later rounds
need round 0's trained weights (one-shot pruning, late rewinding) cannot be packed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lt_utils.atomic import atomic_save_torch, atomic_write_bytes, atomic_write_json
from lt_utils.engine.pruning import Masks
from lt_utils.errors import ConfigError, DamagedFileError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.integrity import load_checked, write_manifest

FORMAT = 1
"""The layout of a resume point's file; a different one is refused by name."""
PARTS = ("csv.gz", "json")
"""What a resume point keeps of each finished round: its table and its run record."""
RESUME_FOLDER = "resume"
"""Where resume points live inside a ``stored_dir`` (the book's: ``book/results/resume``)."""


def resume_point_path(stored_dir: str | Path, key: str) -> Path:
    """The resume point of the run ``key`` in ``stored_dir``."""
    return Path(stored_dir) / RESUME_FOLDER / f"{key}.pt"


def next_masks_path(folder: Path, round_: int) -> Path:
    """Where a restored run keeps the masks its round ``round_`` trains with."""
    return folder / "state" / f"masks_{round_:02d}.pt"


def check_packable(cfg: ExperimentConfig) -> None:
    """Refuse a configuration whose later rounds need round 0's trained weights."""
    if cfg.rewind_iteration > 0 or cfg.one_shot_rounds:
        raise ConfigError(f"{cfg.name} cannot be packed into a resume point: its later rounds need round 0's "
                          f"trained weights (rewind_iteration={cfg.rewind_iteration}, "
                          f"one_shot_rounds={list(cfg.one_shot_rounds)}); keep its results folder instead")


def _bytes_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def pack_masks(masks: Masks) -> dict[str, tuple[list[int], torch.Tensor]]:
    """Boolean masks as bits: ``{name: (shape, uint8 tensor)}``."""
    return {name: (list(mask.shape), torch.from_numpy(np.packbits(mask.cpu().numpy().astype(bool).ravel())))
            for name, mask in masks.items()}


def unpack_masks(packed: dict[str, tuple[list[int], torch.Tensor]], device: str | torch.device = "cpu") -> Masks:
    """The boolean masks that ``pack_masks`` packed."""
    masks = {}
    for name, (shape, bits) in packed.items():
        flat = np.unpackbits(bits.numpy(), count=int(np.prod(shape))).astype(bool)
        masks[name] = torch.from_numpy(flat.reshape(shape)).to(device)
    return masks


def write_resume_point(folder: Path, cfg: ExperimentConfig, done: list[int], next_masks: Masks, out: Path) -> None:
    """Pack the finished rounds ``done`` of the results ``folder`` and the next round's masks into ``out``."""
    check_packable(cfg)
    rounds = {r: {part: _bytes_tensor((folder / "rounds" / f"round_{r:02d}.{part}").read_bytes())
                  for part in PARTS} for r in done}
    atomic_save_torch({"format": FORMAT, "key": folder.name, "config": cfg.to_dict(), "rounds": rounds,
                       "next_round": done[-1] + 1, "masks": pack_masks(next_masks)}, out)


def read_resume_point(path: Path) -> dict[str, Any]:
    """A resume point's contents; a damaged or foreign file is refused by name."""
    point = load_checked(path, lambda p: torch.load(p, weights_only=True))
    if not isinstance(point, dict) or point.get("format") != FORMAT:
        raise DamagedFileError(f"{path} is not a resume point of format {FORMAT}")
    return point


def restore_resume_point(path: Path, folder: Path, cfg: ExperimentConfig, identity: dict[str, Any],
                         start: int = 0) -> int:
    """Write the resume point ``path`` into the results ``folder`` of ``cfg``: its finished rounds
    from ``start`` on (tables, records, manifests; the folder's own rounds before ``start`` are
    kept) and the next round's masks. Returns the next round."""
    point = read_resume_point(path)
    if point["key"] != folder.name or ExperimentConfig.from_dict(point["config"]) != cfg:
        raise DamagedFileError(f"{path} is the resume point of {point['key']}, not of {folder.name}")
    next_round = point["next_round"]
    atomic_write_json(cfg.to_dict(), folder / "config.json")
    masks_file = next_masks_path(folder, next_round)
    atomic_save_torch(point["masks"], masks_file)
    for r, parts in sorted(point["rounds"].items()):
        if r < start:
            continue
        files: dict[Path, int | None] = {}
        for part in PARTS:
            file = folder / "rounds" / f"round_{r:02d}.{part}"
            atomic_write_bytes(file, parts[part].numpy().tobytes())
            files[file] = len(pd.read_csv(file)) if part == "csv.gz" else None
        if r == next_round - 1:
            files[masks_file] = None  # checked with the last restored round
        write_manifest(folder, r, files, identity)
    return next_round


def restored_masks(folder: Path, round_: int, device: str | torch.device) -> Masks | None:
    """The masks of round ``round_`` that a restored resume point left in ``folder``, if any."""
    path = next_masks_path(folder, round_)
    if not path.exists():
        return None
    return unpack_masks(load_checked(path, lambda p: torch.load(p, weights_only=True)), device)
