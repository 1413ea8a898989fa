"""Files: atomic writes (a reader sees a file's old content or its new content, never a part), and
the hash of a file's content."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp's 0600 would hide results from the group
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_torch(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_json(obj: Any, path: Path) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


def atomic_write_table(table: pd.DataFrame, path: Path) -> None:
    """CSV (gzip when the name ends in .gz), written atomically."""
    compression = {"method": "gzip", "mtime": 0} if path.suffix == ".gz" else None
    buffer = io.BytesIO()
    table.to_csv(buffer, index=False, compression=compression, float_format="%.6g")
    atomic_write_bytes(path, buffer.getvalue())


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of ``path``'s content (``hashlib``'s ``algorithm``), read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()
