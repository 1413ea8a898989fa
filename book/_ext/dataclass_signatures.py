"""Sphinx extension for the API page: show a dataclass field's ``default_factory`` as a call.

autodoc writes such defaults as ``<factory>``, which is not Python, so Sphinx cannot parse the
signature and prints it raw (``~lt_utils.lottery.config.TrainConfig``, tuples split at their commas).
Writing ``TrainConfig()`` instead keeps the signature parseable and says what the default is.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def factory_defaults(app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None,
                     return_annotation: str | None) -> tuple[str | None, str | None] | None:
    if what != "class" or not signature or not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        if f.init and f.default_factory is not dataclasses.MISSING:
            factory = getattr(f.default_factory, "__qualname__", None) or "factory"
            signature = signature.replace("<factory>", f"{factory}()", 1)
    return signature, return_annotation


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-signature", factory_defaults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
