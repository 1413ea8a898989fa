"""Notebook parameters checked in Python before a kernel starts.

Each value is checked against the type its parameters cell declares, then the notebook's
configuration is built in-process with the same classes the notebook uses, so a bad value fails
with the same message the API gives, and no kernel is started for it.
"""

from __future__ import annotations

import ast
from typing import Any

from lt_utils.book.registry import configure_page
from lt_utils.errors import ConfigError
from lt_utils.lottery.experiments import check_fits_memory
from lt_utils.lottery.options import check_until_round
from lt_utils.validation import check_folder, is_int, is_real

_TYPES = {"int": "an integer", "float": "a finite number", "bool": "True or False", "str": "a string"}


def _declared_type(text: str) -> tuple[str, bool]:
    """``"Optional[int]"`` -> ``("int", True)``; ``"str"`` -> ``("str", False)``."""
    text = text.replace(" ", "")
    if text.startswith("Optional[") and text.endswith("]"):
        return text[len("Optional["):-1], True
    parts = [p for p in text.split("|") if p != "None"]
    return (parts[0] if parts else text), len(parts) < len(text.split("|"))


def check_types(parameters: dict[str, Any], declared: dict[str, Any]) -> None:
    """Each given value has its declared type (a bool is not an int; a float must be finite)."""
    import math

    for name, value in parameters.items():
        if name not in declared:
            continue
        kind, optional = _declared_type(declared[name].get("inferred_type_name", ""))
        if kind not in _TYPES:
            continue
        if value is None:
            ok = optional
        elif kind == "int":
            ok = is_int(value)
        elif kind == "float":
            ok = is_real(value) and math.isfinite(value)
        elif kind == "bool":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            allowed = _TYPES[kind] + (" or None" if optional else "")
            raise ConfigError(f"invalid {name}={value!r}: must be {allowed} (notebook parameter)")


def as_declared(parameters: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with an integer given for a parameter declared ``str`` as its text: the command
    line reads ``-p reinit_rounds 14`` as the integer 14, which is the list ``"14"``."""
    out = dict(parameters)
    for name, value in parameters.items():
        if name in declared and is_int(value) and \
                _declared_type(declared[name].get("inferred_type_name", ""))[0] == "str":
            out[name] = str(value)
    return out


def _defaults(declared: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, info in declared.items():
        try:
            out[name] = ast.literal_eval(info.get("default", "None"))
        except (ValueError, SyntaxError):
            out[name] = None
    return out


def check_notebook_parameters(name: str, parameters: dict[str, Any], declared: dict[str, Any]) -> None:
    """Refuse, before any kernel starts, the parameters that the notebook ``name`` would refuse: the
    page's own configuration (``lt_utils.book.registry.configure_page``), then what a run checks first."""
    check_types(parameters, declared)
    setup = configure_page(name, _defaults(declared) | parameters, given=set(parameters))
    check_folder("results_dir", setup.options.results_dir, writable=True)  # a run writes its rounds there
    for cfg in setup.configs.values():
        check_until_round(cfg, setup.options)
        check_fits_memory(cfg, setup.options)
