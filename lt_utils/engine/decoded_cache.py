"""A decoded data split kept on disk, checked before it is used.

The cache file holds the uint8 images, the int64 labels, an id of the files they were decoded
from (a changed source makes it stale) and the sha256 of the tensors' bytes (a damaged cache is
rebuilt, with a warning naming it, never used). It is written atomically to the user's cache
directory, ``$XDG_CACHE_HOME/lt_utils/decoded`` (default ``~/.cache/lt_utils/decoded``), or under
``$LT_CACHE_DIR`` where that is set: never beside the source data unless asked (a shared data
folder stays as it was).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from lt_utils.atomic import atomic_write_bytes
from lt_utils.errors import DamagedResultWarning

VERSION = 1
Decoded = tuple[torch.Tensor, torch.Tensor]


def cache_dir() -> Path:
    """The folder of the decoded caches: ``$LT_CACHE_DIR``, else the user's cache directory's."""
    base = os.environ.get("LT_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "lt_utils"
    return Path(base) / "decoded"


def cache_path(folder: Path, stem: str) -> Path:
    """Where the cache of ``stem`` decoded from ``folder`` lives (one per source folder)."""
    where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return cache_dir() / f"{stem}-{where}.cache.pt"


def digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 of the tensors' bytes (shapes included)."""
    hasher = hashlib.sha256(f"{tuple(images.shape)}{tuple(labels.shape)}".encode())
    hasher.update(images.contiguous().numpy().data)
    hasher.update(labels.contiguous().numpy().data)
    return hasher.hexdigest()


def _read(path: Path, source_id: str) -> Decoded | None:
    """The cached tensors; None when missing, stale, or damaged (with a warning naming the file)."""
    if not path.exists():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored["version"] != VERSION or stored["source"] != source_id:
            return None  # made by other code or from other files: rebuilt
        images, labels = stored["images"], stored["labels"]
        problem = "its checksum does not match its contents" if digest(images, labels) != stored["sha256"] else ""
    except Exception as error:  # truncated, garbled, not a dict: rebuild rather than trust it
        problem = f"it cannot be read ({type(error).__name__}: {error})"
    if problem:
        warnings.warn(f"{path} is damaged: {problem}; decoding the source files again", DamagedResultWarning,
                      stacklevel=3)
        return None
    return images, labels


def _write(path: Path, source_id: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    buffer = io.BytesIO()
    torch.save({"version": VERSION, "source": source_id, "sha256": digest(images, labels),
                "images": images, "labels": labels}, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        warnings.warn(f"cannot write the decoded cache {path} ({error}); the files will be decoded again next time",
                      stacklevel=3)


def load_cached(folder: Path, stem: str, source_id: str, decode: Callable[[], Decoded]) -> Decoded:
    """The split ``stem`` from its cache when that is intact and was made from ``source_id``;
    otherwise ``decode()`` it and store the cache."""
    path = cache_path(folder, stem)
    cached = _read(path, source_id)
    if cached is not None:
        return cached
    images, labels = decode()
    _write(path, source_id, images, labels)
    return images, labels
