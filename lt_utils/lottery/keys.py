"""Stable names for stored results: a hash of what differs from the defaults.

As open_lth does, only values that differ from their field's default are hashed, so adding a
field with a default does not rename every stored result. The run identity (the options of
:class:`lt_utils.lottery.options.RunOptions` that change the numbers) is hashed the same way,
against :data:`IDENTITY_DEFAULTS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

IDENTITY_DEFAULTS: dict[str, Any] = {"precision": "fp32", "device": "cpu", "max_stack": None}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def non_default(obj: Any) -> dict[str, Any]:
    """The fields of dataclass ``obj`` that differ from their defaults, nested dataclasses
    reduced the same way (and left out when nothing in them differs)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            inner = non_default(value)
            default_factory = f.default_factory is not dataclasses.MISSING
            if inner or not default_factory or type(value) is not type(f.default_factory()):
                out[f.name] = inner
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            out[f.name] = _plain(value)
            continue
        if _plain(value) != _plain(default):
            out[f.name] = _plain(value)
    return out


def identity_values(identity: dict[str, Any]) -> dict[str, Any]:
    """The run identity's values that differ from :data:`IDENTITY_DEFAULTS`."""
    return {k: v for k, v in identity.items() if IDENTITY_DEFAULTS.get(k, object()) != v}


def stable_key(prefix: str, obj: Any, identity: dict[str, Any] | None = None, *, extra: dict[str, Any] | None = None,
               leave_out: tuple[str, ...] = ()) -> str:
    """``prefix-<10 hex digits>``: the hash of ``obj``'s non-default values (less the top-level fields
    ``leave_out``, plus ``extra``) and the run identity's."""
    values = {k: v for k, v in non_default(obj).items() if k not in leave_out} | (extra or {})
    run = identity_values(identity or {})
    if run:
        values["_run"] = run
    text = json.dumps(values, sort_keys=True)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def legacy_key(prefix: str, obj: Any) -> str:
    """The key before the scheme above: the hash of every field (for migrating stored results)."""
    values = dataclasses.asdict(obj)
    values.pop("prune_at", None)  # added after that scheme was retired
    text = json.dumps(values, sort_keys=True)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
