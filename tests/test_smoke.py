"""CI's tiny configurations: one smoke function per configuration type, beside its presets, and
one way for every notebook to ask for it."""

import dataclasses

import pytest

from lt_utils.book.notebook import configure
from lt_utils.book.registry import NOTEBOOKS
from lt_utils.book.runner import SMOKE_PARAMETERS
from lt_utils.chapters.landscape import landscape_config
from lt_utils.chapters.transform import dual_config
from lt_utils.engine.data import DATASETS
from lt_utils.lottery.presets import PRESETS, preset, smoke_config


def test_every_notebook_asks_for_its_smoke_version_the_same_way():
    assert SMOKE_PARAMETERS == {name: {"smoke": True} for name in NOTEBOOKS}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_has_a_tiny_smoke_version(name):
    cfg = smoke_config(preset(name))
    assert cfg.name == f"{preset(name).name}_smoke" and cfg.train.iterations <= 300 and cfg.trials <= 2
    assert cfg.rounds <= 2 and (DATASETS[cfg.dataset].synthetic or cfg.dataset == "mnist")
    assert configure(name, True) == cfg


def test_the_smoke_preset_is_lenets_smoke_version():
    assert preset("smoke") == dataclasses.replace(smoke_config(preset("lenet")), name="smoke")


def test_chapter_configurations_have_tiny_smoke_versions():
    full, tiny = landscape_config("lenet"), landscape_config("lenet", smoke=True)
    assert tiny.experiment.rounds == 2 < full.experiment.rounds and tiny.hessian_k < full.hessian_k
    assert tiny.experiment.name == "landscape_lenet_smoke"
    full, tiny = dual_config("lenet", (3, 7, 12)), dual_config("lenet", (3, 7, 12), smoke=True)
    assert full.experiment.name == "dual_imp_lenet" and full.target_rounds == (3, 7, 12)
    assert tiny.experiment.rounds == 2 and tiny.target_rounds == (2,) and tiny.experiment.trials == 1
    assert tiny.transform.hold_iterations < full.transform.hold_iterations and tiny.methods == full.methods
