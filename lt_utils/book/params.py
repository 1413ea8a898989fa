"""Notebook parameters checked in Python before a kernel starts.

Each value is checked against the type its parameters cell declares, then the notebook's
configuration is built in-process with the same classes the notebook uses, so a bad value fails
with the same message the API gives, and no kernel is started for it.
"""

from __future__ import annotations

import ast
from typing import Any

from lt_utils.book import reference as ref
from lt_utils.book.notebook import configure, conv_presets, parse_choices, parse_rounds
from lt_utils.chapters.landscape import landscape_config
from lt_utils.chapters.transform import METHODS, dual_config
from lt_utils.engine.data import copies_of
from lt_utils.engine.models import models_where
from lt_utils.errors import ConfigError
from lt_utils.lottery.experiments import check_fits_memory
from lt_utils.lottery.options import RunOptions, check_until_round
from lt_utils.lottery.presets import refuse_with_smoke
from lt_utils.validation import check_choice, check_folder, is_int, is_real

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


def _options(p: dict[str, Any]) -> RunOptions:
    fields = ("device", "step", "precision", "data_dir", "results_dir", "stored_dir", "executor", "ray_address",
              "until_round")
    options = RunOptions(**{k: p[k] for k in fields if k in p})
    check_folder("results_dir", options.results_dir, writable=True)  # a run writes its rounds there
    return options


SMOKE_REPLACES = {
    "imp_landscape": ("levels", "rewind_iteration", "trials", "iterations", "interpolation_points", "hessian_k",
                      "hessian_examples", "hessian_trials"),
    "dual_tickets": ("trials", "iterations", "penalty_step", "penalty_every", "penalty_max", "hold_iterations",
                     "patience", "stages"),
}
"""The parameters that a chapter's smoke version replaces (``smoke_landscape``, ``smoke_dual``): given
beside ``smoke`` they are refused (their notebooks' defaults are not None, so only the command line
knows they were given). The figures' notebooks leave such settings at None, and
``lt_utils.book.notebook.configure`` refuses them."""


def check_notebook_parameters(name: str, parameters: dict[str, Any], declared: dict[str, Any]) -> None:
    """Refuse, before any kernel starts, the parameters that the notebook ``name`` would refuse."""
    check_types(parameters, declared)
    p = _defaults(declared) | parameters
    options = _options(p)
    smoke = refuse_with_smoke(p.get("smoke", False),
                              {k: v for k, v in parameters.items() if k in SMOKE_REPLACES.get(name, ())})
    configs = []
    if name == "lenet_imp":
        configs.append(configure(p["preset"], smoke, trials=p["trials"], rounds=p["rounds"],
                                 iterations=p["iterations"], reinits=p["reinits"], lr=p["lr"], fc_rate=p["fc_rate"],
                                 train_eval_size=p["train_eval_size"], seed=p["seed"], patience=p["patience"],
                                 test_eval=p["test_eval"], prune_at=p.get("prune_at")))
    elif name in ("conv_dropout", "vgg19_warmup"):
        check_choice("dataset", p["dataset"], copies_of("cifar10"))
        if name == "conv_dropout":
            presets = conv_presets(p["models"], p["dropout"])
            overrides = {k: p[k] for k in ("trials", "rounds", "iterations", "reinits", "lr", "seed", "dataset",
                                           "patience", "test_eval", "prune_at")}
            overrides["reinit_rounds"] = parse_rounds("reinit_rounds", p["reinit_rounds"])
        else:
            presets = [preset for preset, _ in parse_choices("settings", p["settings"], ref.VGG19_SETTINGS)]
            overrides = {k: p[k] for k in ("trials", "rounds", "iterations", "reinits", "seed", "dataset",
                                           "patience", "test_eval")}
        configs += [configure(preset_name, smoke, **overrides) for preset_name in presets]
    elif name == "imp_landscape":

        model = parse_choices("model", p["model"], {m: m for m in models_where(chapters=True)})[0]
        configs.append(landscape_config(
            model, p["levels"], p["rewind_iteration"], p["rate"], trials=p["trials"], iterations=p["iterations"],
            seed=p["seed"], interpolation_points=p["interpolation_points"], hessian_k=p["hessian_k"],
            hessian_examples=p["hessian_examples"], hessian_trials=p["hessian_trials"], smoke=smoke).experiment)
    elif name == "dual_tickets":

        model = parse_choices("model", p["model"], {m: m for m in models_where(chapters=True)})[0]
        rounds = parse_choices("target_rounds", p["target_rounds"], {str(r): r for r in range(1, 31)})
        methods = parse_choices("methods", p["methods"], {m: m for m in METHODS})
        configs.append(dual_config(model, tuple(rounds), tuple(methods), trials=p["trials"],
                                   iterations=p["iterations"], seed=p["seed"], smoke=smoke,
                                   penalty_step=p["penalty_step"], penalty_every=p["penalty_every"],
                                   penalty_max=p["penalty_max"], hold_iterations=p["hold_iterations"],
                                   patience_epochs=p["patience"], stages=p["stages"]).experiment)
    for cfg in configs:
        check_until_round(cfg, options)
        check_fits_memory(cfg, options)
