"""Typed experiment configurations, validated on construction.

An :class:`ExperimentConfig` holds everything that changes a result; how a run is executed
(device, memory limits, progress bars) lives in :class:`lt_utils.experiments.RunOptions`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lt_utils.errors import ConfigError
from lt_utils.models import MODEL_DATASETS, MODELS

OPTIMIZERS = ("adam", "sgd")
DATASETS = ("mnist", "cifar10", "synthetic_cifar10")
STRATEGIES = ("layerwise", "global")
LAYER_KINDS = ("conv", "fc", "output", "shortcut")


def _require(ok: bool, field_name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"invalid {field_name}={value!r}: must be {allowed}")


def _rate(field_name: str, value: float, allow_zero: bool = False) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    _require(isinstance(value, (int, float)) and low_ok and value < 1, field_name, value,
             "in [0, 1)" if allow_zero else "in (0, 1)")


@dataclass(frozen=True)
class TrainConfig:
    """How each network is trained."""

    optimizer: str = "adam"  # "adam" or "sgd" (with momentum)
    lr: float = 1.2e-3  # learning rate (the peak rate when warming up)
    iterations: int = 50_000  # training iterations (minibatches) per run
    batch_size: int = 60
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    lr_drops: tuple[int, ...] = ()  # iterations at which the rate is multiplied by lr_drop_factor
    lr_drop_factor: float = 0.1
    warmup_iterations: int = 0  # the rate rises linearly from 0 to lr over this many iterations
    eval_every: int = 100  # evaluate validation, test and training accuracy this often
    augment: bool = False  # random flips and 4-pixel pad-and-crop (CIFAR-10)
    train_eval_size: int = 5_000  # size of the fixed training subset whose accuracy is tracked

    def __post_init__(self) -> None:
        _require(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {OPTIMIZERS}")
        _require(isinstance(self.lr, (int, float)) and self.lr > 0, "lr", self.lr, "a positive number")
        for name in ("iterations", "batch_size", "eval_every", "train_eval_size"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, name, value, "a positive integer")
        _require(0 <= self.momentum < 1, "momentum", self.momentum, "in [0, 1)")
        _require(self.weight_decay >= 0, "weight_decay", self.weight_decay, "non-negative")
        _require(0 < self.lr_drop_factor <= 1, "lr_drop_factor", self.lr_drop_factor, "in (0, 1]")
        _require(isinstance(self.warmup_iterations, int) and self.warmup_iterations >= 0,
                 "warmup_iterations", self.warmup_iterations, "a non-negative integer")
        object.__setattr__(self, "lr_drops", tuple(int(i) for i in self.lr_drops))
        _require(all(0 < i for i in self.lr_drops), "lr_drops", self.lr_drops, "positive iterations")

    def lr_at(self, iteration: int) -> float:
        """Learning rate for the step taken at ``iteration`` (0-based): warmup from 0 (``lr * it / k``
        for ``it < k``, as open_lth), then step drops."""
        rate = self.lr * self.lr_drop_factor ** sum(iteration >= drop for drop in self.lr_drops)
        if iteration < self.warmup_iterations:
            rate *= iteration / self.warmup_iterations
        return rate

    @property
    def eval_iterations(self) -> list[int]:
        """Iterations at which the networks are evaluated: 0, eval_every, ..., and the last one."""
        points = list(range(0, self.iterations + 1, self.eval_every))
        return points if points[-1] == self.iterations else [*points, self.iterations]


@dataclass(frozen=True)
class PruneConfig:
    """How much of each layer is pruned per round, by weight magnitude."""

    strategy: str = "layerwise"  # "layerwise": each layer at its kind's rate; "global": one pool
    conv_rate: float = 0.1  # layerwise: fraction of the surviving conv weights pruned per round
    fc_rate: float = 0.2  # layerwise: fraction of the surviving hidden FC weights pruned per round
    output_rate: float | None = None  # layerwise: output layer; None means half of fc_rate
    global_rate: float = 0.2  # global: fraction of the surviving pooled weights pruned per round
    global_kinds: tuple[str, ...] = ("conv",)  # global: kinds of layer pooled (others not pruned)

    def __post_init__(self) -> None:
        _require(self.strategy in STRATEGIES, "strategy", self.strategy, f"one of {STRATEGIES}")
        _rate("conv_rate", self.conv_rate, allow_zero=True)
        _rate("fc_rate", self.fc_rate)
        if self.output_rate is not None:
            _rate("output_rate", self.output_rate, allow_zero=True)
        _rate("global_rate", self.global_rate)
        object.__setattr__(self, "global_kinds", tuple(self.global_kinds))
        _require(bool(self.global_kinds) and set(self.global_kinds) <= set(LAYER_KINDS), "global_kinds",
                 self.global_kinds, f"a non-empty subset of {LAYER_KINDS}")

    def rate_for(self, kind: str) -> float:
        """Layer-wise rate for one kind of layer (0 for kinds that are not pruned)."""
        output = self.fc_rate / 2 if self.output_rate is None else self.output_rate
        return {"conv": self.conv_rate, "fc": self.fc_rate, "output": output}.get(kind, 0.0)


@dataclass(frozen=True)
class ExperimentConfig:
    """A lottery-ticket experiment: iterative pruning with rewinding, and its controls."""

    name: str
    model: str
    dataset: str
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    dropout: float = 0.0  # dropout rate on the FC layers (Conv nets)
    trials: int = 5  # independent initializations
    rounds: int = 18  # pruning rounds after the dense (round 0) training
    reinits: int = 3  # random-reinitialization controls per trial and round (0: none)
    one_shot_rounds: tuple[int, ...] = ()  # one-shot pruning to the sparsity of these rounds
    random_sparse: bool = False  # random masks at each round's per-layer sparsity (Figure 1)
    rewind_iteration: int = 0  # 0: rewind to initialization; k: to the weights at iteration k
    seed: int = 0

    def __post_init__(self) -> None:
        _require(isinstance(self.name, str) and self.name.replace("_", "").replace("-", "").isalnum(),
                 "name", self.name, "letters, digits, '-' and '_'")
        _require(self.model in MODELS, "model", self.model, f"one of {sorted(MODELS)}")
        _require(self.dataset in DATASETS, "dataset", self.dataset, f"one of {DATASETS}")
        expected = MODEL_DATASETS[self.model]
        _require(self.dataset.removeprefix("synthetic_") == expected, "dataset", self.dataset,
                 f"{expected!r} (or its synthetic stand-in) for model {self.model!r}")
        _require(isinstance(self.trials, int) and self.trials > 0, "trials", self.trials, "a positive integer")
        _require(isinstance(self.rounds, int) and self.rounds >= 0, "rounds", self.rounds, "a non-negative integer")
        _require(isinstance(self.reinits, int) and self.reinits >= 0, "reinits", self.reinits,
                 "a non-negative integer")
        _rate("dropout", self.dropout, allow_zero=True)
        object.__setattr__(self, "one_shot_rounds", tuple(int(r) for r in self.one_shot_rounds))
        _require(all(1 <= r <= self.rounds for r in self.one_shot_rounds), "one_shot_rounds",
                 self.one_shot_rounds, f"rounds between 1 and rounds={self.rounds}")
        _require(isinstance(self.rewind_iteration, int) and 0 <= self.rewind_iteration <= self.train.iterations,
                 "rewind_iteration", self.rewind_iteration, f"an integer in [0, iterations={self.train.iterations}]")
        _require(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed, "a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExperimentConfig:
        """Build from a (possibly nested) dict, rejecting unknown field names."""
        values = dict(values)
        _reject_unknown(cls, values)
        if isinstance(values.get("train"), dict):
            _reject_unknown(TrainConfig, values["train"])
            values["train"] = TrainConfig(**values["train"])
        if isinstance(values.get("prune"), dict):
            _reject_unknown(PruneConfig, values["prune"])
            values["prune"] = PruneConfig(**values["prune"])
        return cls(**values)

    @property
    def key(self) -> str:
        """Stable short hash of the configuration: the results folder's name."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    def with_overrides(self, **overrides: Any) -> ExperimentConfig:
        """A copy with fields replaced; train and prune fields may be named directly.

        ``cfg.with_overrides(trials=2, iterations=1000, fc_rate=0.3)``. ``None`` values are ignored,
        so notebook parameters left at ``None`` keep the preset's value.
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        top = {f.name for f in dataclasses.fields(self)} - {"train", "prune"}
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
        prune_fields = {f.name for f in dataclasses.fields(PruneConfig)}
        unknown = set(overrides) - top - train_fields - prune_fields
        if unknown:
            valid = sorted(top | train_fields | prune_fields)
            raise ConfigError(f"unknown setting(s) {sorted(unknown)}; valid settings are {valid}")
        train = dataclasses.replace(self.train, **{k: v for k, v in overrides.items() if k in train_fields})
        prune = dataclasses.replace(self.prune, **{k: v for k, v in overrides.items() if k in prune_fields})
        rest = {k: v for k, v in overrides.items() if k in top}
        if "rounds" in rest and "one_shot_rounds" not in rest:
            rest["one_shot_rounds"] = tuple(r for r in self.one_shot_rounds if r <= rest["rounds"])
        return dataclasses.replace(self, train=train, prune=prune, **rest)


def _reject_unknown(cls: type, values: dict[str, Any]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)} for {cls.__name__}; valid fields are {sorted(names)}")
