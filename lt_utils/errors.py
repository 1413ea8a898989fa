"""Errors that name the bad value and the valid choices, and how a command line reports them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class ConfigError(ValueError):
    """An invalid configuration value, with the field, the value and what is allowed."""


class DataUnavailableError(FileNotFoundError):
    """A data set is missing and could not be downloaded; the message says what to put where."""


class DamagedFileError(ValueError):
    """A stored or downloaded file that is truncated, altered or unreadable; the message names it."""


class DamagedResultWarning(UserWarning):
    """A stored round failed verification and is recomputed; the message names the file."""


class FolderBusyError(RuntimeError):
    """Another process holds the results folder's lock; the message names its PID."""


USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataUnavailableError, DamagedFileError, FolderBusyError)
"""A user's mistake, not a bug: a command line reports these in one line (:func:`user_errors`)."""


def user_error_named(name: str) -> type[Exception] | None:
    """The user-error class called ``name`` (one of ``USER_ERRORS`` or a subclass), or None: how an
    error raised in a notebook's kernel, known there only by its name, is recognized."""
    classes = list(USER_ERRORS)
    while classes:
        cls = classes.pop()
        if cls.__name__ == name:
            return cls
        classes += cls.__subclasses__()
    return None


@contextmanager
def user_errors(prog: str) -> Iterator[None]:
    """Report a user's mistake (``USER_ERRORS``) as argparse reports a bad argument: one line
    ``PROG: error: MESSAGE`` on stderr and exit status 2. Any other exception is a bug and keeps
    its traceback."""
    try:
        yield
    except USER_ERRORS as error:
        message = " ".join(str(error).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
