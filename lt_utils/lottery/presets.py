"""Named configurations: one per figure of the paper (as PAPER.md states it), plus ``smoke``;
and ``smoke_config``, CI's tiny version of any of them."""

from __future__ import annotations

import warnings
from typing import Any

from lt_utils.engine.data import stand_in
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.errors import ConfigError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.validation import check_bool


def _lenet() -> ExperimentConfig:
    # Figures 1, 3, 4: fc 20%, output 10%; 18 rounds reach P_m 1.9% (below 2%).
    return ExperimentConfig(
        name="lenet", model="lenet", dataset="mnist",
        train=TrainConfig(optimizer="adam", lr=1.2e-3, iterations=50_000, batch_size=60),
        prune=PruneConfig(strategy="layerwise", fc_rate=0.2, output_rate=0.1),
        trials=5, rounds=18, reinits=3, one_shot_rounds=tuple(range(1, 19)), random_sparse=True)


def _conv(depth: int, dropout: bool) -> ExperimentConfig:
    # Figures 5 (no dropout) and 6 (dropout 0.5, three times the iterations, other rates).
    iterations = {2: 20_000, 4: 25_000, 6: 30_000}[depth]
    lr = {2: 2e-4, 4: 3e-4, 6: 3e-4}[depth]
    if dropout:
        iterations, lr = 3 * iterations, {2: 3e-4, 4: 2e-4, 6: 2e-4}[depth]
    conv_rate = 0.15 if depth == 6 else 0.1
    return ExperimentConfig(
        name=f"conv{depth}{'_dropout' if dropout else ''}", model=f"conv{depth}", dataset="cifar10",
        dropout=0.5 if dropout else 0.0,
        train=TrainConfig(optimizer="adam", lr=lr, iterations=iterations, batch_size=60),
        prune=PruneConfig(strategy="layerwise", conv_rate=conv_rate, fc_rate=0.2, output_rate=0.1),
        trials=5, rounds={2: 20, 4: 20, 6: 18}[depth], reinits=3, random_sparse=False)


def _vgg19(lr: float, warmup: int) -> ExperimentConfig:
    # Figure 7: 160 epochs of 45K examples at batch 64 = 112,480 iterations; drops at epochs 80 and 120.
    epoch = 112_480 // 160  # 703 iterations
    suffix = f"lr{lr:g}".replace(".", "") + ("_warmup" if warmup else "")
    return ExperimentConfig(
        name=f"vgg19_{suffix}", model="vgg19", dataset="cifar10",
        train=TrainConfig(optimizer="sgd", lr=lr, momentum=0.9, weight_decay=1e-4, iterations=112_480,
                          batch_size=64, lr_drops=(80 * epoch, 120 * epoch), warmup_iterations=warmup,
                          augment=True),
        prune=PruneConfig(strategy="global", global_rate=0.2, global_kinds=("conv",)),
        trials=5, rounds=19, reinits=3, random_sparse=False)


def _resnet20(lr: float, warmup: int) -> ExperimentConfig:
    suffix = f"lr{lr:g}".replace(".", "") + ("_warmup" if warmup else "")
    return ExperimentConfig(
        name=f"resnet20_{suffix}", model="resnet20", dataset="cifar10",
        train=TrainConfig(optimizer="sgd", lr=lr, momentum=0.9, weight_decay=1e-4, iterations=30_000,
                          batch_size=128, lr_drops=(20_000, 25_000), warmup_iterations=warmup, augment=True),
        prune=PruneConfig(strategy="global", global_rate=0.2, global_kinds=("conv",)),
        trials=5, rounds=20, reinits=3, random_sparse=False)


SMOKE_OVERRIDES: dict[str, Any] = {"iterations": 300, "train_eval_size": 1000, "trials": 2, "rounds": 2, "reinits": 1,
                                   "reinit_rounds": ()}
"""CI's tiny schedule on a real data set small enough to load in CI (MNIST)."""

STAND_IN_SMOKE_OVERRIDES: dict[str, Any] = {
    "iterations": 20, "eval_every": 10, "batch_size": 8, "trials": 1, "rounds": 1, "reinits": 1,
    "train_eval_size": 100, "one_shot_rounds": (), "warmup_iterations": 0, "lr_drops": (10,), "reinit_rounds": (),
}
"""CI's tiny schedule on a data set's synthetic stand-in (CIFAR-10's)."""


def smoke_overrides(cfg: ExperimentConfig) -> dict[str, Any]:
    """The settings that :func:`smoke_config` replaces in ``cfg``, and their tiny values."""
    stand_in_name = stand_in(cfg.dataset)
    if stand_in_name is None:
        return dict(SMOKE_OVERRIDES)
    overrides = dict(STAND_IN_SMOKE_OVERRIDES, dataset=stand_in_name)
    if not cfg.train.lr_drops:
        overrides.pop("lr_drops")
    if cfg.train.warmup_iterations:
        overrides["warmup_iterations"] = 5
    return overrides


def smoke_replaced(cfg: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """The round lists of ``cfg`` that :func:`smoke_config` replaces: ``{name: (cfg's, smoke's)}``."""
    smoke = cfg.with_overrides(**smoke_overrides(cfg))
    return {name: (getattr(cfg, name), getattr(smoke, name)) for name in ("reinit_rounds",)
            if getattr(cfg, name) != getattr(smoke, name)}


def smoke_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """CI's tiny version of ``cfg``, named ``<name>_smoke``: never a result.

    A data set with a synthetic stand-in (``lt_utils.engine.data.DATASETS``) is replaced by it, on
    ``STAND_IN_SMOKE_OVERRIDES``; any other keeps its real data, on ``SMOKE_OVERRIDES``. Its
    reinitializations train at every round of its tiny schedule: rounds ``cfg`` chose for them
    (``reinit_rounds``) are replaced, and a warning names them."""
    replaced = smoke_replaced(cfg)
    if replaced:
        said = ", ".join(f"{name}={was!r} by {now!r}" for name, (was, now) in replaced.items())
        warnings.warn(f"the smoke version of {cfg.name} replaces {said} (every round of its tiny schedule of "
                      f"{smoke_overrides(cfg)['rounds']} round(s))", UserWarning, stacklevel=2)
    return cfg.with_overrides(name=f"{cfg.name}_smoke", **smoke_overrides(cfg))


def refuse_with_smoke(smoke: Any, given: dict[str, Any]) -> bool:
    """``smoke`` as a bool; with it, any setting of ``given`` (those a smoke version replaces) that
    is set (not None) is refused: smoke would silently replace it."""
    check_bool("smoke", smoke)
    clash = {name: value for name, value in given.items() if value is not None}
    if smoke and clash:
        settings = ", ".join(f"{name}={value!r}" for name, value in sorted(clash.items()))
        raise ConfigError(f"invalid smoke=True with {settings}: smoke sets {sorted(clash)} itself (CI's tiny "
                          "schedule); give either smoke or these settings")
    return smoke


def _smoke() -> ExperimentConfig:
    # The "smoke" preset: Lenet's smoke configuration under the name its stored key was made with.
    return smoke_config(_lenet()).with_overrides(name="smoke")


PRESETS = {
    "lenet": _lenet,
    **{f"conv{d}": (lambda d=d: _conv(d, False)) for d in (2, 4, 6)},
    **{f"conv{d}_dropout": (lambda d=d: _conv(d, True)) for d in (2, 4, 6)},
    "vgg19_lr01": lambda: _vgg19(0.1, 0),
    "vgg19_lr01_warmup": lambda: _vgg19(0.1, 10_000),
    "vgg19_lr001": lambda: _vgg19(0.01, 0),
    "resnet20_lr01": lambda: _resnet20(0.1, 0),
    "resnet20_lr003_warmup": lambda: _resnet20(0.03, 20_000),
    "resnet20_lr001": lambda: _resnet20(0.01, 0),
    "smoke": _smoke,
}


def preset(name: str, /, **overrides: Any) -> ExperimentConfig:
    """The named preset, with ``overrides`` (see ``ExperimentConfig.with_overrides``); its name stays."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if "name" in overrides:
        raise ConfigError(f"invalid name={overrides['name']!r} for preset({name!r}): a preset keeps its name "
                          f"{name!r}; rename it with preset({name!r}).with_overrides(name=...)")
    return PRESETS[name]().with_overrides(**overrides)
