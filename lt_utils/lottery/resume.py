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

import io
import json
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import torch

from lt_utils.atomic import atomic_save_torch, atomic_write_bytes, atomic_write_json
from lt_utils.engine.pruning import Masks, target_counts
from lt_utils.engine.stack import init_states
from lt_utils.errors import ConfigError, DamagedFileError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.integrity import load_checked, record_tables, table_problems, write_manifest
from lt_utils.lottery.plan import StoredTableError, verify_table
from lt_utils.validation import is_int

FORMAT = 1
"""The layout of a resume point's file; a different one is refused by name."""
PARTS = ("csv.gz", "json")
"""What a resume point keeps of each finished round: its table and its run record."""
KEY_ORDER = ["variant", "trial", "replicate", "iteration"]
"""The order in which a round's rows are compared with the committed table's."""
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
    if out.parent.name == RESUME_FOLDER:  # its checksum, in the manifest of the stored tables beside it
        record_tables(out.parent.parent, [out])


class ResumePointError(DamagedFileError):
    """A resume point that is damaged, altered or of another run; the message names it and what is wrong."""


def _refuse(path: Path, what: str) -> NoReturn:
    raise ResumePointError(f"resume point {path} cannot be used: {what}; nothing was restored from it (pack it "
                           "again with 'python -m lt_utils.book pack' where the run's results are, or remove it)")


def _check_listed(path: Path) -> None:
    """A resume point in a ``stored_dir`` (``<stored_dir>/resume/<key>.pt``) must match that folder's manifest."""
    if path.parent.name != RESUME_FOLDER:
        return
    problems = table_problems(path.parent.parent, [path])
    if problems:
        _refuse(path, "; ".join(problems))


def read_resume_point(path: Path) -> dict[str, Any]:
    """A resume point's contents, checked against its folder's manifest and for its layout; a damaged,
    altered or foreign file is refused by name (:class:`ResumePointError`)."""
    _check_listed(path)
    point = load_checked(path, lambda p: torch.load(p, weights_only=True))
    if not isinstance(point, dict) or point.get("format") != FORMAT:
        raise ResumePointError(f"{path} is not a resume point of format {FORMAT}")
    next_round, rounds = point.get("next_round"), point.get("rounds")
    if not isinstance(point.get("key"), str) or not isinstance(point.get("config"), dict) \
            or not isinstance(point.get("masks"), dict) or not isinstance(rounds, dict):
        _refuse(path, "it lacks its key, config, masks or rounds")
    if not is_int(next_round) or next_round < 1 or sorted(rounds) != list(range(next_round)):
        _refuse(path, f"next_round={next_round!r} must be a round >= 1 after its finished rounds "
                      f"{sorted(rounds, key=str)} (0 to next_round - 1)")
    if path.stem != point["key"]:
        _refuse(path, f"it holds the run {point['key']}, not the {path.stem} its file name says")
    return point


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """The fields where two configurations' dicts differ, as ``"field: a vs b"``."""
    out = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if isinstance(left, dict) and isinstance(right, dict):
            out += config_differences(left, right, f"{prefix}{name}.")
        elif left != right:
            out.append(f"{prefix}{name}: {left!r} vs {right!r}")
    return out


def _check_config(path: Path, point: dict[str, Any], folder: Path, cfg: ExperimentConfig,
                  identity: dict[str, Any]) -> None:
    """The point's configuration is ``cfg``, and the key it is filed under is that configuration's."""
    try:
        stored = ExperimentConfig.from_dict(point["config"])
    except ConfigError as error:
        _refuse(path, f"its config is not valid ({error})")
    if stored != cfg:
        diff = "; ".join(config_differences(stored.to_dict(), cfg.to_dict()))
        _refuse(path, f"it is the resume point of another configuration than {cfg.name}'s (the point's vs this "
                      f"run's: {diff})")
    if point["key"] != folder.name or stored.key_for(identity) != point["key"]:
        _refuse(path, f"it is filed under the key {point['key']}, but its config with the run identity {identity} "
                      f"has the key {stored.key_for(identity)} (this run's folder: {folder.name})")


def _check_rounds(path: Path, point: dict[str, Any], cfg: ExperimentConfig, stored_dir: Path | None) -> None:
    """Each finished round's table and record are readable and agree with each other and with ``cfg``
    (and with the committed table of the run, for the rounds that table holds)."""
    committed = stored_dir / f"{point['key']}.csv.gz" if stored_dir is not None else None
    book = pd.read_csv(committed) if committed is not None and committed.exists() else None
    tables = []
    for r, parts in sorted(point["rounds"].items()):
        if not isinstance(parts, dict) or not all(isinstance(parts.get(p), torch.Tensor)
                                                  and parts[p].dtype == torch.uint8 for p in PARTS):
            _refuse(path, f"round {r} lacks its table or record (bytes of {list(PARTS)})")
        try:
            table = pd.read_csv(io.BytesIO(parts["csv.gz"].numpy().tobytes()), compression="gzip")
            record = json.loads(parts["json"].numpy().tobytes())
        except Exception as error:  # a garbled table or record inside the point
            _refuse(path, f"round {r}'s table or record cannot be read ({type(error).__name__}: {error})")
        if "round" not in table or set(table["round"]) != {r}:
            _refuse(path, f"round {r}'s table holds rounds {sorted(set(table.get('round', [])))}, not round {r}")
        networks = table.groupby(["variant", "trial", "replicate"]).ngroups if "variant" in table else 0
        if not isinstance(record, dict) or record.get("networks") != networks:
            said = record.get("networks") if isinstance(record, dict) else record
            _refuse(path, f"round {r}'s record says {said!r} networks, its table holds {networks}")
        tables.append(table)
    try:
        verify_table(cfg, pd.concat(tables, ignore_index=True), Path("its table"), through=point["next_round"] - 1)
    except StoredTableError as error:
        _refuse(path, str(error))
    for r, table in enumerate(tables):
        if book is not None and r in set(book["round"]):
            ours = table.sort_values(KEY_ORDER).reset_index(drop=True)
            theirs = book[book["round"] == r].sort_values(KEY_ORDER).reset_index(drop=True)
            try:
                pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_like=True)
            except AssertionError:
                _refuse(path, f"round {r}'s table differs from the committed table {committed}")


def _check_masks(path: Path, point: dict[str, Any], cfg: ExperimentConfig) -> None:
    """The next round's masks: one per prunable layer of the model, of its shape for each trial, as bits,
    keeping exactly the weights that round keeps (``lt_utils.engine.pruning.target_counts``)."""
    model, params, _ = init_states(cfg.model, [0], cfg.dropout)
    kinds = model.layer_kinds
    packed = point["masks"]
    if set(packed) != set(kinds):
        _refuse(path, f"its masks are of layers {sorted(packed)}, the model {cfg.model} prunes {sorted(kinds)}")
    sizes = {}
    for name in kinds:
        entry = packed[name]
        shape = [cfg.trials, *params[name].shape[1:]]
        if not isinstance(entry, (tuple, list)) or len(entry) != 2 or list(entry[0]) != shape:
            given = list(entry[0]) if isinstance(entry, (tuple, list)) and entry else entry
            _refuse(path, f"the mask of {name} has shape {given}, not {shape} ({cfg.trials} trial(s) of the "
                          f"layer's {list(shape[1:])})")
        bits = entry[1]
        size = int(np.prod(shape))
        if not isinstance(bits, torch.Tensor) or bits.dtype != torch.uint8 or bits.dim() != 1 \
                or bits.numel() != (size + 7) // 8:
            _refuse(path, f"the mask of {name} is not {size} bits packed as {(size + 7) // 8} bytes")
        sizes[name] = size // cfg.trials
    masks = unpack_masks(packed)
    counts = target_counts(sizes, kinds, cfg.prune, point["next_round"])
    alive = {name: mask.reshape(cfg.trials, -1).sum(1) for name, mask in masks.items()}
    pooled = [name for name in kinds if name not in counts]
    for name, want in counts.items():
        got = sum(alive[m] for m in pooled) if name == "*" else alive[name]
        if (got != want).any():
            layer = f"the pooled layers {pooled}" if name == "*" else name
            _refuse(path, f"the masks of {layer} keep {got.tolist()} weights per trial, but round "
                          f"{point['next_round']} keeps {want}")


def check_resume_point(path: Path, point: dict[str, Any], folder: Path, cfg: ExperimentConfig,
                       identity: dict[str, Any]) -> None:
    """Refuse a resume point whose config, tables, records or masks are not those of ``cfg``'s run."""
    stored_dir = path.parent.parent if path.parent.name == RESUME_FOLDER else None
    _check_config(path, point, folder, cfg, identity)
    if point["next_round"] > cfg.rounds:
        _refuse(path, f"next_round={point['next_round']} is past the run's last round {cfg.rounds}")
    _check_rounds(path, point, cfg, stored_dir)
    _check_masks(path, point, cfg)


def restore_resume_point(path: Path, folder: Path, cfg: ExperimentConfig, identity: dict[str, Any],
                         start: int = 0) -> int:
    """Write the resume point ``path`` into the results ``folder`` of ``cfg``: its finished rounds
    from ``start`` on (tables, records, manifests; the folder's own rounds before ``start`` are
    kept) and the next round's masks. Returns the next round. The point is checked whole first
    (:func:`check_resume_point`): one that fails is refused by name, and nothing is written."""
    point = read_resume_point(path)
    check_resume_point(path, point, folder, cfg, identity)
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
