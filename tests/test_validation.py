"""Bad input, through the API and the notebooks: refused before any work, naming the field."""

import math
from pathlib import Path

import pytest

from lt_utils.book.cli import parse_value
from lt_utils.book.notebook import conv_presets
from lt_utils.book.params import _defaults, check_notebook_parameters
from lt_utils.book.registry import NOTEBOOKS
from lt_utils.book.runner import SMOKE_PARAMETERS, declared_parameters, execute
from lt_utils.chapters.landscape import LandscapeConfig
from lt_utils.chapters.transform import DualConfig, TransformConfig
from lt_utils.engine.hparams import PruneConfig
from lt_utils.errors import ConfigError
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset

ROOT = Path(__file__).resolve().parents[1]
INF, NAN = math.inf, math.nan

API_CASES = [  # (field named in the message, how to make it)
    ("fc_rate", lambda: preset("lenet", fc_rate="0.3")),
    ("momentum", lambda: preset("vgg19_lr01", momentum="0.9")),
    ("rounds", lambda: preset("lenet", rounds="3")),
    ("trials", lambda: preset("lenet", trials=True)),
    ("trials", lambda: preset("lenet", trials=2.0)),
    ("lr", lambda: preset("lenet", lr=INF)),
    ("lr", lambda: preset("lenet", lr=NAN)),
    ("lr", lambda: preset("lenet", lr="0.1")),
    ("lr", lambda: preset("lenet", lr=0)),
    ("dropout", lambda: preset("lenet", dropout=0.5)),
    ("dropout", lambda: preset("conv2", dropout=1.0)),
    ("train_eval_size", lambda: preset("lenet", train_eval_size=10**9)),
    ("batch_size", lambda: preset("lenet", batch_size=10**6)),
    ("batch_size", lambda: preset("lenet", batch_size=True)),
    ("warmup_iterations", lambda: preset("vgg19_lr01_warmup", iterations=5_000)),
    ("warmup_iterations", lambda: preset("lenet", warmup_iterations=-1)),
    ("lr_drops", lambda: preset("vgg19_lr01", lr_drops="55")),
    ("lr_drops", lambda: preset("vgg19_lr01", lr_drops=(0,))),
    ("lr_drops", lambda: preset("vgg19_lr01", lr_drops=(100, 100))),
    ("lr_drops", lambda: preset("vgg19_lr01", lr_drops=(200, 100))),
    ("lr_drops", lambda: preset("lenet", lr_drops=(50_000,))),
    ("one_shot_rounds", lambda: preset("lenet", one_shot_rounds="12")),
    ("one_shot_rounds", lambda: preset("lenet", one_shot_rounds=(1.5,))),
    ("iterations", lambda: preset("lenet", iterations=1.5)),
    ("iterations", lambda: preset("lenet", iterations="1000")),
    ("seed", lambda: preset("lenet", seed=-1)),
    ("seed", lambda: preset("lenet", seed="0")),
    ("reinits", lambda: preset("lenet", reinits=-1)),
    ("optimizer", lambda: preset("lenet", optimizer=3)),
    ("weight_decay", lambda: preset("lenet", weight_decay=-1e-4)),
    ("weight_decay", lambda: preset("lenet", weight_decay=INF)),
    ("lr_drop_factor", lambda: preset("lenet", lr_drop_factor=0)),
    ("eval_every", lambda: preset("lenet", eval_every=0)),
    ("augment", lambda: preset("vgg19_lr01", augment="yes")),
    ("random_sparse", lambda: preset("lenet", random_sparse=1)),
    ("rewind_iteration", lambda: preset("lenet", rewind_iteration=10**9)),
    ("global_kinds", lambda: preset("vgg19_lr01", global_kinds="conv")),
    ("strategy", lambda: PruneConfig(strategy=None)),
    ("conv_rate", lambda: preset("conv2", conv_rate=1.0)),
    ("output_rate", lambda: preset("lenet", output_rate=-0.1)),
    ("device", lambda: RunOptions(device="mps")),
    ("device", lambda: RunOptions(device="meta")),
    ("device", lambda: RunOptions(device="cuda:99")),
    ("device", lambda: RunOptions(device=0)),
    ("eval_batch", lambda: RunOptions(eval_batch=0)),
    ("max_stack", lambda: RunOptions(max_stack=-1)),
    ("max_stack", lambda: RunOptions(max_stack=2.5)),
    ("step", lambda: RunOptions(step=3)),
    ("precision", lambda: RunOptions(precision="fp16")),
    ("progress", lambda: RunOptions(progress="no")),
    ("results_dir", lambda: RunOptions(results_dir=None)),
    ("data_dir", lambda: RunOptions(data_dir=3)),
    ("wait", lambda: RunOptions(wait="no")),
    ("penalty_step", lambda: TransformConfig(penalty_step="1e-4")),
    ("hold_iterations", lambda: TransformConfig(hold_iterations=-1)),
    ("momentum", lambda: TransformConfig(momentum=INF)),
    ("target_rounds", lambda: DualConfig(preset("smoke"), target_rounds="1,2")),
    ("target_rounds", lambda: DualConfig(preset("smoke"), target_rounds=(3,))),
    ("methods", lambda: DualConfig(preset("smoke"), target_rounds=(1, 2), methods="rst")),
    ("hessian_k", lambda: LandscapeConfig(preset("smoke"), hessian_k=True)),
    ("interpolation_points", lambda: LandscapeConfig(preset("smoke"), interpolation_points=1)),
]


@pytest.mark.parametrize("field,make", API_CASES, ids=[f"{i}-{f}" for i, (f, _) in enumerate(API_CASES)])
def test_bad_api_input_is_refused_naming_the_field(field, make):
    with pytest.raises(ConfigError, match=rf"invalid {field}=.*must be"):
        make()


NOTEBOOK_CASES = [  # (notebook, parameters, field named)
    ("lenet_imp", {"trials": 0}, "trials"),
    ("lenet_imp", {"trials": "3"}, "trials"),
    ("lenet_imp", {"trials": True}, "trials"),
    ("lenet_imp", {"fc_rate": "abc"}, "fc_rate"),
    ("lenet_imp", {"fc_rate": 1.5}, "fc_rate"),
    ("lenet_imp", {"lr": INF}, "lr"),
    ("lenet_imp", {"device": "mps"}, "device"),
    ("lenet_imp", {"precision": "fp16"}, "precision"),
    ("lenet_imp", {"train_eval_size": 10**9}, "train_eval_size"),
    ("lenet_imp", {"preset": "lenett"}, "preset"),
    ("dual_tickets", {"target_rounds": (3, 7)}, "target_rounds"),
    ("dual_tickets", {"target_rounds": "3,40"}, "target_rounds"),
    ("dual_tickets", {"penalty_every": 0}, "penalty_every"),
    ("dual_tickets", {"methods": "lth"}, "methods"),
    ("conv_dropout", {"models": "conv9"}, "models"),
    ("conv_dropout", {"models": "conv2", "dropout": "conv4"}, "dropout"),
    ("conv_dropout", {"dropout": "some"}, "dropout"),
    ("conv_dropout", {"lr": -1.0}, "lr"),
    ("vgg19_warmup", {"iterations": 0}, "iterations"),
    ("vgg19_warmup", {"rounds": -1}, "rounds"),
    ("conv_dropout", {"reinit_rounds": "3,x"}, "reinit_rounds"),
    ("conv_dropout", {"rounds": 5, "reinit_rounds": "3,7"}, "reinit_rounds"),
    ("vgg19_warmup", {"settings": "lr1"}, "settings"),
    ("conv_dropout", {"patience": 0}, "patience"),
    ("vgg19_warmup", {"test_eval": "sometimes"}, "test_eval"),
    ("lenet_imp", {"test_eval": "never"}, "test_eval"),
    ("imp_landscape", {"hessian_trials": 5}, "hessian_trials"),
    ("imp_landscape", {"levels": "10"}, "levels"),
    ("imp_landscape", {"rate": 1.5}, "rate"),
]


def test_conv_page_trains_dropout_for_the_models_it_names():
    assert conv_presets("conv2,conv4", "none") == ["conv2", "conv4"]
    assert conv_presets("conv2,conv4", "both") == ["conv2", "conv4", "conv2_dropout", "conv4_dropout"]
    assert conv_presets("conv2,conv4", "conv2") == ["conv2", "conv4", "conv2_dropout"]
    assert conv_presets("conv4, conv2", "conv2,conv4") == ["conv4", "conv2", "conv4_dropout", "conv2_dropout"]
    with pytest.raises(ConfigError, match=r"dropout='none,conv2'.*\['conv2'\]"):
        conv_presets("conv2", "none,conv2")


@pytest.mark.parametrize("name,parameters,field", NOTEBOOK_CASES,
                         ids=[f"{n}-{f}-{i}" for i, (n, _, f) in enumerate(NOTEBOOK_CASES)])
def test_bad_notebook_parameter_is_refused_before_a_kernel_starts(tmp_path, name, parameters, field):
    with pytest.raises(ConfigError, match=rf"\b{field}\b"):
        execute(name, parameters, tmp_path / "out.ipynb", ROOT)
    assert list(tmp_path.iterdir()) == []  # no kernel ran: nothing was written


@pytest.fixture(scope="module")
def declared():
    import jupytext

    return {name: declared_parameters(jupytext.read(ROOT / "notebooks" / f"{name}.md")) for name in NOTEBOOKS}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_default_and_smoke_parameters_pass_the_checks(declared, name):
    check_notebook_parameters(name, {}, declared[name])
    check_notebook_parameters(name, {**SMOKE_PARAMETERS[name], "device": "cpu", "data_dir": "x"}, declared[name])


def test_parameters_are_parsed_as_papermill_parses_them(declared):
    assert [parse_value(v) for v in ("3,7", "3", "0.3", "True", "None", "cpu", "1e-4")] == \
        ["3,7", 3, 0.3, True, None, "cpu", 1e-4]
    check_notebook_parameters("dual_tickets", {"target_rounds": parse_value("3,7")}, declared["dual_tickets"])


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_page_is_configured_from_its_parameters_by_its_registry_entry(declared, name):
    from lt_utils.book.registry import RUN_OPTION_PARAMETERS, configure_page, page

    parameters = _defaults(declared[name]) | {"device": "cpu", "step": "eager", "results_dir": "elsewhere"}
    setup = configure_page(name, parameters, given=set())
    assert setup.configs and all(cfg.trials >= 1 for cfg in setup.configs.values())
    # every parameter named like a RunOptions field is that option: one RunOptions, typed, for the whole page
    offered = set(RUN_OPTION_PARAMETERS) & set(declared[name])
    assert {"device", "step", "results_dir", "data_dir", "stored_dir"} <= offered
    assert (setup.options.device, setup.options.step, setup.options.results_dir) == ("cpu", "eager", "elsewhere")
    smoke = configure_page(name, parameters | {"smoke": True}, given={"smoke"})
    assert smoke.smoke and all(c.train.iterations < cfg.train.iterations
                               for c, cfg in zip(smoke.configs.values(), setup.configs.values(), strict=True))
    for replaced in page(name).smoke_replaces:  # a setting the smoke version replaces is refused beside it
        with pytest.raises(ConfigError, match=f"invalid smoke=True with {replaced}="):
            configure_page(name, parameters | {"smoke": True}, given={"smoke", replaced})


def test_a_notebook_names_its_injected_parameters_through_its_history():
    from lt_utils.book.registry import configure_page

    cell = 'preset: str = "lenet"\nsmoke: bool = False\ntrials = None\n'
    names = ("rounds", "iterations", "reinits", "lr", "fc_rate", "train_eval_size", "seed", "patience", "prune_at",
             "test_eval")
    namespace = {"preset": "lenet", "smoke": False, "trials": 2, **dict.fromkeys(names)}
    history = ["", cell + "".join(f"{n} = None\n" for n in names), "trials = 2\n", "setup = ..."]
    assert configure_page("lenet_imp", namespace | {"In": history}).config.trials == 2
    with pytest.raises(ConfigError, match=r"unknown notebook parameter\(s\) \['trails'\]"):
        configure_page("lenet_imp", namespace | {"In": [*history[:2], "trails = 3\n", "setup = ..."]})
    with pytest.raises(ConfigError, match=r"unknown notebook 'lenet'; choose one of \['lenet_imp'"):
        configure_page("lenet", namespace)


def test_the_dropout_runs_may_have_their_own_rounds(declared):
    from lt_utils.book.registry import configure_page

    parameters = _defaults(declared["conv_dropout"]) | {"models": "conv2", "dropout": "both", "rounds": 14,
                                                        "reinits": 1, "reinit_rounds": "3,7,11,14"}
    both = configure_page("conv_dropout", parameters | {"dropout_rounds": 5}, given=set()).configs
    assert (both["conv2"].rounds, both["conv2"].reinit_rounds) == (14, (3, 7, 11, 14))
    assert (both["conv2_dropout"].rounds, both["conv2_dropout"].reinit_rounds) == (5, (3,))  # the rounds it reaches
    unpruned = configure_page("conv_dropout", parameters | {"dropout_rounds": 0}, given=set()).configs
    assert unpruned["conv2_dropout"].rounds == 0 and unpruned["conv2"].rounds == 14
    same = configure_page("conv_dropout", parameters, given=set()).configs  # None: the page's rounds
    assert same["conv2_dropout"].rounds == 14
    with pytest.raises(ConfigError, match="rounds"):
        configure_page("conv_dropout", parameters | {"dropout_rounds": -1}, given=set())
    with pytest.raises(ConfigError, match="invalid smoke=True with dropout_rounds=0"):
        configure_page("conv_dropout", _defaults(declared["conv_dropout"]) | {"dropout_rounds": 0, "smoke": True},
                       given={"smoke", "dropout_rounds"})
