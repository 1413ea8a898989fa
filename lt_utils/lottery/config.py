"""Typed experiment configurations, validated on construction.

An :class:`ExperimentConfig` holds everything that changes a result; how a run is executed
(device, memory limits, progress bars) lives in :class:`lt_utils.lottery.options.RunOptions`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lt_utils.engine.data import DATASETS, model_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig, check_rate
from lt_utils.engine.models import MODELS, models_where
from lt_utils.errors import ConfigError
from lt_utils.lottery.keys import stable_key
from lt_utils.validation import (
    check_bool,
    check_choice,
    check_int,
    check_int_tuple,
    is_int,
    require,
)

PRUNE_AT = ("end", "stop")
"""Which trained weights the next round prunes: those at the ``"end"`` of the schedule (the paper's),
or where early termination (``TrainConfig.patience``) ``"stop"``-ped the network (a shortcut)."""


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
    reinit_rounds: tuple[int, ...] = ()  # the rounds that train the reinits (empty: every round >= 1)
    one_shot_rounds: tuple[int, ...] = ()  # one-shot pruning to the sparsity of these rounds
    random_sparse: bool = False  # random masks at each round's per-layer sparsity (Figure 1)
    rewind_iteration: int = 0  # 0: rewind to initialization; k: to the weights at iteration k
    seed: int = 0
    prune_at: str = "end"  # one of PRUNE_AT: "end" of the schedule (the paper's) or where patience "stop"-ped

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and self.name.replace("_", "").replace("-", "").isalnum(),
                 "name", self.name, "letters, digits, '-' and '_'")
        check_choice("model", self.model, sorted(MODELS))
        check_choice("dataset", self.dataset, tuple(DATASETS))
        require(isinstance(self.train, TrainConfig), "train", self.train, "a TrainConfig")
        require(isinstance(self.prune, PruneConfig), "prune", self.prune, "a PruneConfig")
        expected = MODELS[self.model].dataset
        require(model_dataset(self.dataset) == expected, "dataset", self.dataset,
                f"{expected!r} (or a copy or the synthetic stand-in of it) for model {self.model!r}")
        train_size = DATASETS[self.dataset].train_size
        for name in ("batch_size", "train_eval_size") if train_size is not None else ():
            require(getattr(self.train, name) <= train_size, name, getattr(self.train, name),
                    f"at most the {train_size} training examples of {self.dataset}")
        check_int("trials", self.trials, 1)
        check_int("rounds", self.rounds, 0)
        check_int("reinits", self.reinits, 0)
        check_rate("dropout", self.dropout, allow_zero=True)
        require(self.dropout == 0 or MODELS[self.model].dropout, "dropout", self.dropout,
                f"0 for model {self.model!r}, which has no dropout (dropout models: {models_where(dropout=True)})")
        object.__setattr__(self, "one_shot_rounds", self._pruning_rounds("one_shot_rounds"))
        object.__setattr__(self, "reinit_rounds", self._pruning_rounds("reinit_rounds"))
        require(list(self.reinit_rounds) == sorted(set(self.reinit_rounds)), "reinit_rounds", self.reinit_rounds,
                f"increasing rounds between 1 and rounds={self.rounds}, each once")
        require(not self.reinit_rounds or self.reinits > 0, "reinit_rounds", self.reinit_rounds,
                "() when reinits=0 (there are no reinitializations to train), or give reinits >= 1")
        check_bool("random_sparse", self.random_sparse)
        check_int("rewind_iteration", self.rewind_iteration, 0, self.train.iterations)
        require(self.train.patience is None or self.train.patience >= self.rewind_iteration, "patience",
                self.train.patience, f"at least rewind_iteration={self.rewind_iteration} (no network may stop "
                "before the weights it rewinds to)")
        require(all(drop < self.train.iterations for drop in self.train.lr_drops), "lr_drops", self.train.lr_drops,
                f"iterations below iterations={self.train.iterations} (a drop at or after the end never happens)")
        check_int("seed", self.seed, 0)
        require(self.train.patience is None or not self.train.lr_drops, "patience", self.train.patience,
                f"None with lr_drops={self.train.lr_drops} (a validation loss that falls again after a rate drop "
                "would be cut off by early termination)")
        check_choice("prune_at", self.prune_at, PRUNE_AT)
        require(self.prune_at == "end" or self.train.patience is not None, "prune_at", self.prune_at,
                "'end' without patience (only early termination can stop a network before the end)")

    def _pruning_rounds(self, name: str) -> tuple[int, ...]:
        """The field ``name``, checked: a tuple of rounds between 1 and ``rounds``."""
        value = check_int_tuple(name, getattr(self, name), 1, max(self.rounds, 1))
        require(all(r <= self.rounds for r in value), name, value, f"rounds between 1 and rounds={self.rounds}")
        return value

    def reinits_at(self, round_: int) -> int:
        """The random reinitializations per trial that round ``round_`` trains (none at round 0)."""
        if round_ == 0 or (self.reinit_rounds and round_ not in self.reinit_rounds):
            return 0
        return self.reinits

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExperimentConfig:
        """Build from a (possibly nested) dict, rejecting unknown field names."""
        require(isinstance(values, dict), "config", values, "a dict of ExperimentConfig's fields")
        values = dict(values)
        _reject_unknown(cls, values)
        train = values.get("train")
        if "prune_at" not in values and isinstance(train, dict) and train.get("patience") is not None:
            values["prune_at"] = "stop"  # stored before prune_at existed, when patience always pruned there
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in values]
        if missing:
            raise ConfigError(f"missing field(s) {missing} for ExperimentConfig: it needs {required}")
        if isinstance(values.get("train"), dict):
            _reject_unknown(TrainConfig, values["train"])
            values["train"] = TrainConfig(**values["train"])
        if isinstance(values.get("prune"), dict):
            _reject_unknown(PruneConfig, values["prune"])
            values["prune"] = PruneConfig(**values["prune"])
        return cls(**values)

    @property
    def key(self) -> str:
        """The results folder's name at the default run identity (fp32 on the CPU); see ``key_for``."""
        return self.key_for({})

    def key_for(self, identity: dict[str, Any]) -> str:
        """Stable short hash of the settings that differ from their defaults, plus the run
        identity (``RunOptions.identity``): the results folder's name.

        ``prune_at`` is the exception: with ``patience``, every run stored before the option
        existed pruned where it stopped, under a key without ``prune_at``. So that those keys keep
        their meaning, ``"stop"`` is left out of the key and the paper's ``"end"`` is put in (without
        patience both are the same run, and neither is hashed)."""
        extra = {"prune_at": "end"} if self.train.patience is not None and self.prune_at == "end" else {}
        return stable_key(self.name, self, identity, extra=extra, leave_out=("prune_at",))

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
        if "rounds" in rest and "one_shot_rounds" not in rest and is_int(rest["rounds"]):
            rest["one_shot_rounds"] = tuple(r for r in self.one_shot_rounds if r <= rest["rounds"])
        if "rounds" in rest and "reinit_rounds" not in rest and is_int(rest["rounds"]) and self.reinit_rounds:
            # a shorter run keeps the reinitialization rounds it reaches, else its last one
            rest["reinit_rounds"] = tuple(r for r in self.reinit_rounds if r <= rest["rounds"]) or (rest["rounds"],)
        return dataclasses.replace(self, train=train, prune=prune, **rest)


def _reject_unknown(cls: type, values: dict[str, Any]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)} for {cls.__name__}; valid fields are {sorted(names)}")
