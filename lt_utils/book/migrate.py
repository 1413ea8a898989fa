"""Rename stored results from the old key (a hash of every field) to the current one.

    python -m lt_utils.book.migrate [--results results] [--book book]

Results folders under ``--results`` are found by their ``config.json``; a legacy round (no
manifest) whose files all load is adopted: its manifest is written. Under ``--book``, every run
record (``runs/*.json``) gets its new ``key`` (and ``exports``), and the committed tables under
``results/`` are renamed to match. The old key is derived from the stored configuration, so a
folder whose name is not its old key is left alone; one whose ``config.json`` cannot be read is
named and left alone, and the command then fails. The committed tables' manifest
(``book/results/MANIFEST.json``) follows the renames, and is written when there is none (tables
committed before manifests). Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lt_utils.atomic import atomic_write_json
from lt_utils.book.notebook import read_run_record
from lt_utils.chapters.transform import DualConfig, TransformConfig
from lt_utils.errors import DamagedFileError, DamagedResultWarning, user_errors
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.integrity import TABLES_MANIFEST, manifest_path, record_tables, write_manifest
from lt_utils.lottery.keys import legacy_key
from lt_utils.validation import check_folder


def _identity(record: dict[str, Any] | None, cfg: ExperimentConfig) -> dict[str, Any]:
    """The run identity a legacy run had: its precision, its device type, max_stack unknown (None)."""
    record = record or {}
    precision = (record.get("precision") or ["fp32"])[0]
    device = record.get("device_type") or ("cuda" if str(record.get("device", "cpu")).startswith("cuda") else "cpu")
    return {"precision": precision, "device": device, "max_stack": None}


def _device_type(names: list[str]) -> str:
    """``"cuda"`` when a recorded device name is a GPU's (``torch.cuda.get_device_name``), else ``"cpu"``."""
    gpu = ("nvidia", "tesla", "geforce", "quadro", "rtx", "amd instinct", "radeon")
    return "cuda" if any(word in name.lower() for name in names for word in gpu) else "cpu"


def _rename(old: Path, new: Path, moves: list[tuple[Path, Path]]) -> None:
    if old.exists() and old != new:
        if new.exists():
            raise FileExistsError(f"cannot migrate {old}: {new} already exists")
        new.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(old), str(new))
        moves.append((old, new))


def adopt_legacy_rounds(folder: Path, cfg: ExperimentConfig, identity: dict[str, Any]) -> list[int]:
    """Write manifests for consecutive legacy rounds whose four files exist and load."""
    adopted = []
    for r in range(cfg.rounds + 1):
        if manifest_path(folder, r).exists():
            continue
        files = [folder / "state" / f"round_{r:02d}.pt", folder / "tickets" / f"round_{r:02d}.pt",
                 folder / "rounds" / f"round_{r:02d}.json", folder / "rounds" / f"round_{r:02d}.csv.gz"]
        try:
            for path in files[:2]:
                torch.load(path, map_location="cpu", weights_only=True)
            json.loads(files[2].read_text())
            rows = len(pd.read_csv(files[3]))
        except Exception:  # missing or damaged: the round is recomputed by the next run
            break
        write_manifest(folder, r, {files[0]: None, files[1]: None, files[2]: None, files[3]: rows}, identity)
        adopted.append(r)
    return adopted


def migrate_results(results_dir: Path) -> list[tuple[Path, Path]]:
    """Rename every experiment folder under ``results_dir`` named by its old key."""
    moves: list[tuple[Path, Path]] = []
    for saved in sorted(results_dir.glob("*/config.json")) if results_dir.exists() else []:
        folder = saved.parent
        try:
            values = json.loads(saved.read_text())
            if "experiment" in values:  # a dual-tickets folder
                _migrate_dual(folder, values, results_dir, moves)
                continue
            cfg = ExperimentConfig.from_dict(values)
        except (ValueError, TypeError, KeyError) as error:
            warnings.warn(f"{folder} is left as it is: {saved} cannot be read ({type(error).__name__}: {error})",
                          DamagedResultWarning, stacklevel=2)
            continue
        if folder.name != legacy_key(cfg.name, cfg):
            continue
        info = folder / "rounds" / "round_00.json"
        record = json.loads(info.read_text()) if info.exists() else {}
        identity = _identity({"precision": [record.get("precision", "fp32")], "device": record.get("device", "cpu")},
                             cfg)
        new = results_dir / cfg.key_for(identity)
        _rename(folder, new, moves)
        adopt_legacy_rounds(new, cfg, identity)
    return moves


def _migrate_dual(folder: Path, values: dict[str, Any], results_dir: Path, moves: list[tuple[Path, Path]]) -> None:
    dcfg = DualConfig(ExperimentConfig.from_dict(values["experiment"]), tuple(values["target_rounds"]),
                      tuple(values["methods"]), TransformConfig(**values["transform"]))
    prefix = f"dual_{dcfg.experiment.model}"
    identity = _identity({"precision": [values.get("precision", "fp32")], "device": values.get("device", "cpu")},
                         dcfg.experiment)
    if folder.name == legacy_key(prefix, dcfg):
        _rename(folder, results_dir / dcfg.key_for(identity), moves)


def migrate_book(book_dir: Path, exports: dict[str, str] | None = None) -> list[tuple[Path, Path]]:
    """Update the run records' keys and rename the committed tables and folders under ``book/results``.
    ``exports``: old -> new names of exported folders that are not experiments (dual tickets), as
    :func:`migrate_results` found them; their committed copies are renamed too."""
    moves: list[tuple[Path, Path]] = []
    renamed = dict(exports or {})
    for path in sorted((book_dir / "runs").glob("*.json")):
        data = read_run_record(path)
        changed = False
        for run in data["runs"]:
            cfg = ExperimentConfig.from_dict(run["config"])
            if run["key"] != legacy_key(cfg.name, cfg):
                continue  # already migrated, or not an old key
            identity = run.get("identity") or _identity(
                {"precision": run.get("precision"), "device_type": _device_type(run.get("device", []))}, cfg)
            new_key = cfg.key_for(identity)
            _rename(book_dir / "results" / f"{run['key']}.csv.gz", book_dir / "results" / f"{new_key}.csv.gz", moves)
            _rename(book_dir / "results" / run["key"], book_dir / "results" / new_key, moves)
            run["key"] = new_key
            changed = True
        for run in data["runs"]:
            if "exports" in run:
                run["exports"] = [renamed.get(e, e) for e in run["exports"]]
                changed = True
        if changed:
            atomic_write_json(data, path)
    tables = book_dir / "results"
    if tables.is_dir() and not (tables / TABLES_MANIFEST).exists():
        record_tables(tables)  # committed before manifests: adopted as they are
    elif moves:
        moved = [(old, new) for old, new in moves if new.is_file()]
        moved += [(old / path.relative_to(new), path) for old, new in moves if new.is_dir()
                  for path in new.rglob("*.csv.gz")]
        record_tables(tables, [new for _, new in moved], forget=[old for old, _ in moved])
    return moves


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lt_utils.book.migrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="results folder to migrate (default: results)")
    parser.add_argument("--book", default="book", help="book folder whose records and tables to migrate")
    args = parser.parse_args(argv)
    with user_errors(parser.prog):
        results, book = check_folder("--results", args.results, must_exist=True), \
            check_folder("--book", args.book, must_exist=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DamagedResultWarning)
            moves = migrate_results(results)
        exports = {old.name: new.name for old, new in moves if old.name.startswith("dual_")}
        for old, new in [*moves, *migrate_book(book, exports)]:
            print(f"{old} -> {new}")
        skipped = [str(w.message) for w in caught if issubclass(w.category, DamagedResultWarning)]
        for w in caught:
            if not issubclass(w.category, DamagedResultWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        if skipped:
            raise DamagedFileError(f"{len(skipped)} folder(s) not migrated: {'; '.join(skipped)}")


if __name__ == "__main__":
    main()
