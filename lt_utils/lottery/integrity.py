"""Manifests that make every stored round verifiable, and checked loading of stored files.

Each round's last write is ``rounds/round_NN.manifest.json``: the sha256, size and (for tables)
row count of every file the round wrote, the run identity and the code version. A round counts
as finished only when its manifest is readable and every file matches it.

The book's committed tables (``book/results``) have one manifest of the same entries,
``MANIFEST.json`` beside them (:func:`record_tables`); a table that does not match it, or that
it does not list, is refused by name (:func:`table_problems`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from lt_utils.atomic import atomic_write_json, file_hash
from lt_utils.errors import DamagedFileError, DamagedResultWarning

T = TypeVar("T")
CODE_VERSION_ENV = "LT_CODE_VERSION"
"""Set by the book's runner to its own code version, taken before it wrote any page: the kernels it
starts inherit it, so its own writes to the book do not mark their code ``-dirty``."""


def manifest_path(folder: Path, r: int) -> Path:
    return folder / "rounds" / f"round_{r:02d}.manifest.json"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the package's repository, else the package version
    (``$LT_CODE_VERSION`` where the book's runner set it)."""
    if os.environ.get(CODE_VERSION_ENV):
        return os.environ[CODE_VERSION_ENV]
    root = Path(__file__).resolve().parents[2]  # the repository: lt_utils/lottery/integrity.py
    if (root / ".git").exists():
        try:
            out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                                 text=True, timeout=10, check=True)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lt-utils")
    except PackageNotFoundError:
        return "unknown"


def _git(root: Path, *args: str) -> str | None:
    """The output of ``git ARGS`` in ``root``; None without git or a repository."""
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def package_state() -> dict[str, Any]:
    """The state of the package's own files, apart from the book's: ``commit`` (``git rev-parse HEAD``,
    None outside a repository), ``lt_utils_sha256`` (a digest of the paths and bytes of the package's
    ``.py`` files, those git tracks where it can tell) and ``lt_utils_clean`` (``git status --porcelain
    lt_utils`` printed nothing: the package is the commit's; None outside a repository)."""
    package = Path(__file__).resolve().parents[1]  # lt_utils/
    root = package.parent
    tracked = _git(root, "ls-files", "-z", "--", package.name) if (root / ".git").exists() else None
    if tracked is not None:
        files = sorted(root / name for name in tracked.split("\0") if name.endswith(".py"))
    else:
        files = sorted(package.rglob("*.py"))
    hasher = hashlib.sha256()
    for path in files:
        if path.exists():
            hasher.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    status = _git(root, "status", "--porcelain", "--", package.name) if tracked is not None else None
    commit = _git(root, "rev-parse", "HEAD") if tracked is not None else None
    return {"commit": commit.strip() if commit else None, "lt_utils_sha256": hasher.hexdigest(),
            "lt_utils_clean": None if status is None else status.strip() == ""}


def manifest_entries(folder: Path, files: dict[Path, int | None]) -> dict[str, dict[str, Any]]:
    """A manifest's record of ``files`` (path -> row count, None for non-tables), by path in ``folder``."""
    return {str(p.relative_to(folder)): {"sha256": file_hash(p), "bytes": p.stat().st_size, "rows": rows}
            for p, rows in files.items()}


@functools.lru_cache(maxsize=1024)
def _table_rows(path: str, sha256: str) -> int | None:
    """The rows of the table ``path`` whose content hashes to ``sha256`` (None: unreadable); cached by content."""
    try:
        return len(pd.read_csv(path))
    except Exception:  # a table that cannot be read has no row count; the caller names it
        return None


def entry_problems(folder: Path, entries: dict[str, Any], deep: bool = True) -> list[str]:
    """Why files recorded in ``entries`` (paths in ``folder``) cannot be used: missing, another size,
    checksum or (tables) row count than recorded; ``deep=False`` skips checkpoints."""
    problems = []
    for name, entry in entries.items():
        path = folder / name
        if not deep and path.suffix == ".pt":
            continue
        if not isinstance(entry, dict):
            problems.append(f"{path}: its manifest entry {entry!r} is damaged (not a record of sha256, bytes, rows)")
            continue
        if not path.exists():
            problems.append(f"{path} is missing")
            continue
        digest = file_hash(path) if path.stat().st_size == entry.get("bytes") else None
        rows = entry.get("rows")
        if digest is None or digest != entry.get("sha256"):
            problems.append(f"{path} does not match its manifest (damaged or changed)")
        elif rows is not None and (not isinstance(rows, int) or _table_rows(str(path), digest) != rows):
            problems.append(f"{path} has {_table_rows(str(path), digest)} rows, but its manifest records "
                            f"rows={rows!r} (the manifest was changed)")
    return problems


def write_manifest(folder: Path, r: int, files: dict[Path, int | None], identity: dict[str, Any]) -> None:
    """Record ``files`` (path -> row count, None for non-tables) of round ``r``; the round's last write."""
    atomic_write_json({"round": r, "files": manifest_entries(folder, files), "identity": identity,
                       "code": code_version()}, manifest_path(folder, r))


def read_manifest(folder: Path, r: int) -> dict[str, Any] | None:
    """The manifest of round ``r``; None when the round never finished. A damaged one warns."""
    path = manifest_path(folder, r)
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            raise ValueError("not a manifest")
        return manifest
    except (ValueError, UnicodeDecodeError) as error:
        warnings.warn(f"damaged manifest {path} ({error}); round {r} will be recomputed", DamagedResultWarning,
                      stacklevel=3)
        return None


def round_problems(folder: Path, r: int, identity: dict[str, Any] | None, deep: bool = True) -> list[str]:
    """Why round ``r`` cannot be used (empty when it can). ``deep=False`` skips the checkpoints (.pt);
    ``identity=None`` accepts the identity the manifest recorded (the folder's key names it)."""
    manifest = read_manifest(folder, r)
    if manifest is None:
        return [f"{manifest_path(folder, r)} is missing or damaged"]
    problems = []
    recorded = manifest.get("identity")
    if identity is not None and recorded != identity:
        problems.append(f"{manifest_path(folder, r)} was recorded with {recorded}, not the requested {identity}")
    return problems + entry_problems(folder, manifest["files"], deep)


def verified_rounds(folder: Path, rounds: int, identity: dict[str, Any] | None, deep: bool = True,
                    invalidate: bool = False) -> list[int]:
    """Consecutive rounds from 0 that verify. A round that fails is named in a warning; with
    ``invalidate`` its manifest and those of later rounds are removed, so they are recomputed."""
    done = []
    for r in range(rounds + 1):
        problems = round_problems(folder, r, identity, deep)
        if problems:
            table = folder / "rounds" / f"round_{r:02d}.csv.gz"
            if manifest_path(folder, r).exists():
                warnings.warn(f"round {r} of {folder} cannot be used: {'; '.join(problems)}; it and the rounds "
                              "after it are recomputed", DamagedResultWarning, stacklevel=2)
            elif table.exists():
                warnings.warn(f"{table} has no manifest (its round was interrupted, or written before manifests: "
                              f"`python -m lt_utils.book.migrate` adopts those); round {r} and after are recomputed",
                              DamagedResultWarning, stacklevel=2)
            if invalidate:
                for later in range(r, rounds + 1):
                    manifest_path(folder, later).unlink(missing_ok=True)
            break
        done.append(r)
    return done


def verify_file(path: Path, folder: Path) -> None:
    """Raise :class:`DamagedFileError` naming ``path`` unless it matches the manifest that lists it."""
    name = str(path.relative_to(folder))
    for manifest in sorted((folder / "rounds").glob("round_*.manifest.json")):
        try:
            entry = json.loads(manifest.read_text())["files"].get(name)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            continue
        if entry is None:
            continue
        if not path.exists():
            raise DamagedFileError(f"{path} is missing (listed in {manifest})")
        if file_hash(path) != entry["sha256"]:
            raise DamagedFileError(f"{path} is damaged: it does not match its manifest {manifest}")
        return
    raise DamagedFileError(f"{path} belongs to no finished round (no manifest lists it)")


def load_checked(path: Path, load: Callable[[Path], T]) -> T:
    """``load(path)``, with any failure reported as :class:`DamagedFileError` naming the file."""
    try:
        return load(path)
    except FileNotFoundError as error:
        raise DamagedFileError(f"{path} is missing") from error
    except Exception as error:  # truncated, garbled: name the file, keep the cause
        raise DamagedFileError(f"{path} cannot be read ({type(error).__name__}: {error})") from error


def remove_stray_temporaries(folder: Path) -> list[Path]:
    """Delete the leftovers of interrupted atomic writes (``.NAME.XXXX.tmp``); call under the folder's lock."""
    stray = [p for p in folder.rglob(".*.tmp") if p.is_file()] if folder.exists() else []
    for path in stray:
        path.unlink(missing_ok=True)
    return stray


TABLES_MANIFEST = "MANIFEST.json"
"""The manifest of a folder of committed tables (the book's ``book/results``)."""


def _table_entries(folder: Path) -> dict[str, Any] | None:
    """The entries of ``folder``'s tables manifest; None when it is missing or damaged."""
    try:
        entries = json.loads((folder / TABLES_MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entries if isinstance(entries, dict) else None


def record_tables(folder: Path, tables: Iterable[Path] | None = None, forget: Iterable[Path] = ()) -> None:
    """Record ``tables`` (default: every ``*.csv.gz`` under ``folder``) with their row counts (other
    files, such as resume points, with their checksums only) in ``folder``'s manifest, keeping its
    other entries except those of ``forget`` (tables moved away)."""
    tables = sorted(folder.rglob("*.csv.gz")) if tables is None else tables
    entries = _table_entries(folder) or {}
    for path in forget:
        entries.pop(str(path.relative_to(folder)), None)
    entries |= manifest_entries(folder, {path: len(pd.read_csv(path)) if path.name.endswith(".csv.gz") else None
                                         for path in tables})
    atomic_write_json({"files": dict(sorted(entries.items()))}, folder / TABLES_MANIFEST)


def table_problems(folder: Path, tables: Iterable[Path] | None = None) -> list[str]:
    """Why committed tables in ``folder`` cannot be used: ``tables`` (default: every one the manifest
    lists and every ``*.csv.gz`` there) checked against ``folder``'s manifest."""
    manifest = folder / TABLES_MANIFEST
    entries = _table_entries(folder)
    if entries is None:
        return [f"{manifest} is missing or damaged, so the tables in {folder} cannot be verified (write it for "
                "tables committed before manifests with: python -m lt_utils.book.migrate)"]
    if tables is None:  # a resume point removed (its run is whole) is no longer checked
        names = {name for name in entries if not name.endswith(".pt") or (folder / name).exists()} \
            | {str(p.relative_to(folder)) for p in folder.rglob("*.csv.gz")}
    else:
        names = {str(p.relative_to(folder)) for p in tables}
    unlisted = [f"{folder / name} is not listed in {manifest}" for name in sorted(names - set(entries))]
    return unlisted + entry_problems(folder, {name: entries[name] for name in sorted(names & set(entries))})
