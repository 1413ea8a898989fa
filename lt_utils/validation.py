"""One check per kind of value; each error names the field, the value and what is allowed.

Types are checked before values are compared, so ``"0.3"`` or ``True`` given for a number is
refused with a clear message instead of a ``TypeError`` from a comparison.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lt_utils.errors import ConfigError


def fail(field_name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"invalid {field_name}={value!r}: must be {allowed}")


def require(ok: bool, field_name: str, value: Any, allowed: str) -> None:
    if not ok:
        fail(field_name, value, allowed)


def is_int(value: Any) -> bool:
    """An integer, not a bool (``True`` is an int to Python, never to a configuration)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(field_name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (either bound may be open-ended)."""
    if low is not None and high is not None:
        allowed = f"an integer in [{low}, {high}]"
    elif low == 1:
        allowed = "a positive integer"
    elif low == 0:
        allowed = "a non-negative integer"
    elif low is not None:
        allowed = f"an integer >= {low}"
    else:
        allowed = "an integer" if high is None else f"an integer <= {high}"
    require(is_int(value) and (low is None or value >= low) and (high is None or value <= high),
            field_name, value, allowed)
    return int(value)


def check_float(field_name: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within the bounds (``low_open``: ``low`` itself is excluded)."""
    left, right = ("(" if low_open else "["), (")" if high_open else "]")
    if low is not None and high is not None:
        allowed = f"a finite number in {left}{low}, {high}{right}"
    elif low is not None:
        allowed = "a positive finite number" if (low == 0 and low_open) else \
            ("a non-negative finite number" if low == 0 else f"a finite number >= {low}")
    else:
        allowed = "a finite number"
    ok = is_real(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    require(ok, field_name, value, allowed)
    return float(value)


def check_bool(field_name: str, value: Any) -> bool:
    require(isinstance(value, bool), field_name, value, "True or False")
    return value


def check_choice(field_name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    require(isinstance(value, str) and value in choices, field_name, value, f"one of {choices}")
    return value


def check_int_tuple(field_name: str, value: Any, low: int | None = None, high: int | None = None) -> tuple[int, ...]:
    """A tuple (or list) of integers within the bounds; a string such as ``"55"`` is refused."""
    bounds = f" in [{low}, {high}]" if low is not None and high is not None else \
        (f" >= {low}" if low is not None else "")
    allowed = f"a tuple of integers{bounds}"
    require(isinstance(value, (tuple, list)), field_name, value, allowed)
    require(all(is_int(v) and (low is None or v >= low) and (high is None or v <= high) for v in value),
            field_name, value, allowed)
    return tuple(int(v) for v in value)


def check_choice_tuple(field_name: str, value: Any, choices: Iterable[str], non_empty: bool = True) -> tuple[str, ...]:
    choices = tuple(choices)
    allowed = f"a {'non-empty ' if non_empty else ''}tuple of items from {choices}"
    require(isinstance(value, (tuple, list)) and (bool(value) or not non_empty)
            and all(isinstance(v, str) and v in choices for v in value), field_name, value, allowed)
    return tuple(value)


def check_folder(field_name: str, value: Any, must_exist: bool = False, writable: bool = False) -> Path:
    """A folder this process can read: it exists (``must_exist``), or it may be created (the nearest
    folder above it that exists is a folder); ``writable``: files can be created in it (or in that
    folder above it). The error names the folder at fault."""
    require(isinstance(value, (str, os.PathLike)) and str(value) != "", field_name, value, "a folder (a path)")
    path = Path(value)
    value = str(value)  # named as given, without a PosixPath(...) around it
    found = path
    for found in (path, *path.absolute().parents):
        try:
            if found.exists():
                break
        except OSError:  # the folder above it cannot be searched: found below
            continue
    require(found is path or not must_exist, field_name, value, "an existing folder (there is none)")
    require(found.is_dir(), field_name, value, f"a folder; {found} is a file")
    require(os.access(found, os.R_OK | os.X_OK), field_name, value, f"a folder this user can read; {found} is not")
    require(not writable or os.access(found, os.W_OK | os.X_OK), field_name, value,
            f"a folder this user can write to; {found} is not writable")
    return path


def check_device(field_name: str, value: Any) -> str:
    """``"auto"``, ``"cpu"``, or a CUDA device that this machine has."""
    import torch

    allowed = "'auto', 'cpu', 'cuda' or 'cuda:N' (a device torch supports on this machine)"
    require(isinstance(value, str), field_name, value, allowed)
    if value == "auto":
        return value
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        fail(field_name, value, allowed)
    require(device.type in ("cpu", "cuda"), field_name, value, allowed)
    if device.type == "cuda":
        require(torch.cuda.is_available(), field_name, value, "'cpu' or 'auto': CUDA is not available here")
        count = torch.cuda.device_count()
        require(device.index is None or device.index < count, field_name, value,
                f"a CUDA device index below {count}")
    return value
