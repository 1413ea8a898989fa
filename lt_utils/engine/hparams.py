"""The hyperparameters of training and pruning one network, validated on construction.

An experiment (:class:`lt_utils.lottery.config.ExperimentConfig`) holds one of each; the engine
reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass

from lt_utils.validation import (
    check_bool,
    check_choice,
    check_choice_tuple,
    check_float,
    check_int,
    check_int_tuple,
    require,
)

OPTIMIZERS = ("adam", "sgd")
STRATEGIES = ("layerwise", "global")
LAYER_KINDS = ("conv", "fc", "output", "shortcut")
TEST_EVALS = ("every", "where_read")
"""When the test set is evaluated: at every evaluation (the paper's curves), or only where the
book reads it (the early-stopping iteration and the end of training)."""


def check_rate(field_name: str, value: float, allow_zero: bool = False) -> None:
    check_float(field_name, value, 0, 1, low_open=not allow_zero, high_open=True)


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
    patience: int | None = None  # stop a network whose val loss has not improved for this many iterations (None: never)
    test_eval: str = "every"  # one of TEST_EVALS: "every" evaluation, or "where_read" (early stop and end only)

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("lr", self.lr, 0, low_open=True)
        for name in ("iterations", "batch_size", "eval_every", "train_eval_size"):
            check_int(name, getattr(self, name), 1)
        check_float("momentum", self.momentum, 0, 1, high_open=True)
        check_float("weight_decay", self.weight_decay, 0)
        check_float("lr_drop_factor", self.lr_drop_factor, 0, 1, low_open=True)
        check_int("warmup_iterations", self.warmup_iterations, 0)
        require(self.warmup_iterations <= self.iterations, "warmup_iterations", self.warmup_iterations,
                f"at most iterations={self.iterations} (warmup longer than training)")
        object.__setattr__(self, "lr_drops", check_int_tuple("lr_drops", self.lr_drops, 1))
        require(list(self.lr_drops) == sorted(set(self.lr_drops)), "lr_drops", self.lr_drops,
                "increasing iterations, each once")
        check_bool("augment", self.augment)
        if self.patience is not None:
            check_int("patience", self.patience, 1)
            require(self.patience % self.eval_every == 0, "patience", self.patience,
                    f"a multiple of eval_every={self.eval_every} (networks are evaluated, and so stopped, only "
                    f"every {self.eval_every} iterations)")
            require(self.patience < self.iterations, "patience", self.patience,
                    f"shorter than iterations={self.iterations} (a longer patience never stops a network), or None")
        check_choice("test_eval", self.test_eval, TEST_EVALS)

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
        check_choice("strategy", self.strategy, STRATEGIES)
        check_rate("conv_rate", self.conv_rate, allow_zero=True)
        check_rate("fc_rate", self.fc_rate)
        if self.output_rate is not None:
            check_rate("output_rate", self.output_rate, allow_zero=True)
        check_rate("global_rate", self.global_rate)
        object.__setattr__(self, "global_kinds", check_choice_tuple("global_kinds", self.global_kinds, LAYER_KINDS))

    def rate_for(self, kind: str) -> float:
        """Layer-wise rate for one kind of layer (0 for kinds that are not pruned)."""
        output = self.fc_rate / 2 if self.output_rate is None else self.output_rate
        return {"conv": self.conv_rate, "fc": self.fc_rate, "output": output}.get(kind, 0.0)
