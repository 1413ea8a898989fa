"""One process per results folder: an advisory ``fcntl.flock`` lock, released by the kernel
when its holder exits (a killed process never leaves a lock that blocks)."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lt_utils.errors import FolderBusyError

LOCK_NAME = ".lock"
NO_WAIT_ENV = "LT_NO_WAIT"  # set to 1: a busy folder fails at once (``book run --no-wait``)


def should_wait(wait: bool | None) -> bool:
    """``wait`` as given; ``None``: wait unless ``$LT_NO_WAIT`` is set to a true value."""
    if wait is not None:
        return wait
    return os.environ.get(NO_WAIT_ENV, "").lower() not in ("1", "true", "yes")


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def folder_lock(folder: Path, wait: bool | None = None) -> Iterator[None]:
    """Hold ``folder``'s lock. A busy folder is waited for (saying which PID holds it) or, with
    ``wait=False``, refused with :class:`FolderBusyError`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not should_wait(wait):
                raise FolderBusyError(f"{folder} is in use by process {holder}; wait for it to finish, or run "
                                      "without --no-wait to wait for it") from None
            print(f"waiting for process {holder}, which holds {folder}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
