"""The book's figure pages, one entry each: the one place that says what a page is.

An entry holds a page's notebook, title, the presets a run at the paper's scale uses, how its
parameters become configurations (``configure``: the notebook's configuration cell and the check
before a kernel starts both call it, through :func:`configure_page`), the parameters its smoke
version replaces, and the drawing of the paper's figure that stands in while it is not run. The
command line's notebooks, the front page's scoreboard, the pages of figures not run yet and the
parameter checks all read this table. A new page is one entry here, its notebook and its line
in ``_toc.yml``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from matplotlib.figure import Figure

from lt_utils.book import plots
from lt_utils.book import reference as ref
from lt_utils.book.notebook import (
    PageSetup,
    check_parameters,
    configure,
    conv_presets,
    parse_choices,
    parse_rounds,
)
from lt_utils.chapters.landscape import landscape_config
from lt_utils.chapters.transform import METHODS, dual_config
from lt_utils.engine.data import copies_of
from lt_utils.engine.models import models_where
from lt_utils.errors import ConfigError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset, refuse_with_smoke
from lt_utils.validation import check_choice

RUN_OPTION_PARAMETERS = tuple(f.name for f in fields(RunOptions))
"""The names of the ``RunOptions`` fields: a notebook parameter of one of these names is that run option
(a new option is a field of ``RunOptions``, and a line in the parameters cell of the pages that offer it)."""


Configure = Callable[[Mapping[str, Any], bool], tuple[dict[str, ExperimentConfig], dict[str, str], Any]]
"""A page's parameters and smoke flag -> its configurations, their labels and its chapter configuration."""


@dataclass(frozen=True)
class Page:
    """A page of the book that a notebook draws (see the module docstring)."""

    notebook: str
    title: str
    configure: Configure
    presets: tuple[str, ...] = ()
    smoke_replaces: tuple[str, ...] = ()
    paper_figure: Callable[[Any], Figure] | None = None

    def paper_scale(self) -> list[ExperimentConfig]:
        """The configurations of a run at the paper's scale."""
        return [preset(name) for name in self.presets]


def _lenet(p: Mapping[str, Any], smoke: bool) -> tuple[dict[str, ExperimentConfig], dict[str, str], Any]:
    cfg = configure(p["preset"], smoke, trials=p["trials"], rounds=p["rounds"], iterations=p["iterations"],
                    reinits=p["reinits"], lr=p["lr"], fc_rate=p["fc_rate"], train_eval_size=p["train_eval_size"],
                    seed=p["seed"], patience=p["patience"], prune_at=p["prune_at"], test_eval=p["test_eval"])
    return {p["preset"]: cfg}, {}, None


_SCHEDULE = ("trials", "rounds", "iterations", "reinits", "seed", "dataset", "patience", "test_eval")


def _conv(p: Mapping[str, Any], smoke: bool) -> tuple[dict[str, ExperimentConfig], dict[str, str], Any]:
    check_choice("dataset", p["dataset"], copies_of("cifar10"))
    overrides = {k: p[k] for k in (*_SCHEDULE, "lr", "prune_at")}
    overrides["reinit_rounds"] = parse_rounds("reinit_rounds", p["reinit_rounds"])
    refuse_with_smoke(smoke, {"dropout_rounds": p["dropout_rounds"]} if p["dropout_rounds"] is not None else {})
    configs = {}
    for name in conv_presets(p["models"], p["dropout"]):
        mine = dict(overrides)
        if name.endswith("_dropout") and p["dropout_rounds"] is not None:  # Figure 6's runs: their own rounds
            mine["rounds"] = p["dropout_rounds"]
            if mine["reinit_rounds"] is not None:  # those it reaches (none: the preset's, every round it has)
                mine["reinit_rounds"] = tuple(r for r in mine["reinit_rounds"] if r <= p["dropout_rounds"]) or None
        configs[name] = configure(name, smoke, **mine)
    return configs, {}, None


def _vgg(p: Mapping[str, Any], smoke: bool) -> tuple[dict[str, ExperimentConfig], dict[str, str], Any]:
    check_choice("dataset", p["dataset"], copies_of("cifar10"))
    chosen = parse_choices("settings", p["settings"], ref.VGG19_SETTINGS)
    overrides = {k: p[k] for k in _SCHEDULE}
    return {name: configure(name, smoke, **overrides) for name, _ in chosen}, dict(chosen), None


def _chapter_model(p: Mapping[str, Any]) -> str:
    return parse_choices("model", p["model"], {m: m for m in models_where(chapters=True)})[0]


def _landscape(p: Mapping[str, Any], smoke: bool) -> tuple[dict[str, ExperimentConfig], dict[str, str], Any]:
    lcfg = landscape_config(_chapter_model(p), p["levels"], p["rewind_iteration"], p["rate"], trials=p["trials"],
                            iterations=p["iterations"], seed=p["seed"],
                            interpolation_points=p["interpolation_points"], hessian_k=p["hessian_k"],
                            hessian_examples=p["hessian_examples"], hessian_trials=p["hessian_trials"], smoke=smoke)
    return {"landscape": lcfg.experiment}, {}, lcfg


def _dual(p: Mapping[str, Any], smoke: bool) -> tuple[dict[str, ExperimentConfig], dict[str, str], Any]:
    rounds = parse_choices("target_rounds", p["target_rounds"], {str(r): r for r in range(1, 31)})
    methods = parse_choices("methods", p["methods"], {m: m for m in METHODS})
    dcfg = dual_config(_chapter_model(p), tuple(rounds), tuple(methods), trials=p["trials"],
                       iterations=p["iterations"], seed=p["seed"], smoke=smoke, penalty_step=p["penalty_step"],
                       penalty_every=p["penalty_every"], penalty_max=p["penalty_max"],
                       hold_iterations=p["hold_iterations"], patience_epochs=p["patience"], stages=p["stages"])
    return {"dual": dcfg.experiment}, {}, dcfg


PAGES = (
    Page("lenet_imp", "Lenet (Figures 1, 3, 4)", _lenet, ("lenet",)),
    Page("conv_dropout", "Conv-2/4/6 (Figures 5, 6)", _conv,
         ("conv2", "conv4", "conv6", "conv2_dropout", "conv4_dropout", "conv6_dropout"),
         paper_figure=plots.paper_conv_figure),
    Page("vgg19_warmup", "VGG-19 (Figure 7)", _vgg, tuple(p for p, _ in ref.VGG19_SETTINGS.values()),
         paper_figure=plots.paper_vgg_figure),
    Page("imp_landscape", "Inside IMP (extension)", _landscape,
         smoke_replaces=("levels", "rewind_iteration", "trials", "iterations", "interpolation_points", "hessian_k",
                         "hessian_examples", "hessian_trials")),
    Page("dual_tickets", "Finding vs. transforming (extension)", _dual,
         smoke_replaces=("trials", "iterations", "penalty_step", "penalty_every", "penalty_max", "hold_iterations",
                         "patience", "stages")),
)
"""Every page a notebook draws, in the book's order. ``smoke_replaces``: the parameters a chapter's smoke
version sets itself, refused beside ``smoke`` (the figures' notebooks leave such settings at None, and
``configure`` refuses them)."""

NOTEBOOKS = tuple(page.notebook for page in PAGES)


def page(notebook: str) -> Page:
    """The entry of ``notebook``, or a clear error naming the pages."""
    for entry in PAGES:
        if entry.notebook == notebook:
            return entry
    raise ConfigError(f"unknown notebook {notebook!r}; choose one of {list(NOTEBOOKS)}")


def run_options(parameters: dict[str, Any]) -> RunOptions:
    """The ``RunOptions`` that a page's parameters name (those of ``RUN_OPTION_PARAMETERS`` it declares)."""
    return RunOptions(**{k: parameters[k] for k in RUN_OPTION_PARAMETERS if k in parameters})


def configure_page(notebook: str, parameters: dict[str, Any], given: set[str] | None = None) -> PageSetup:
    """The configurations and run options that ``parameters`` ask of the page ``notebook``; a bad
    value fails here, naming it. ``given``: the parameters set by the user rather than left at the
    notebook's defaults (refused beside ``smoke`` where the smoke version replaces them). In a
    notebook, pass ``globals()``: its history (``In``) names the parameters papermill injected, and a
    mistyped one is refused (``check_parameters``)."""
    entry = page(notebook)
    if given is None:
        given = check_parameters(parameters.get("In", []))
    smoke = refuse_with_smoke(parameters.get("smoke", False),
                              {k: parameters[k] for k in entry.smoke_replaces if k in given})
    options = run_options(parameters)
    configs, labels, chapter = entry.configure(parameters, smoke)
    return PageSetup(configs, options, smoke, labels, chapter)


def paper_scale_configs() -> dict[str, list[ExperimentConfig]]:
    """Each paper figure page's title and its configurations at the paper's scale."""
    return {entry.title: entry.paper_scale() for entry in PAGES if entry.presets}
