"""The paper's networks, a registry of them, and the kind of each prunable weight.

Every model exposes ``layer_kinds``: the name of each weight tensor (conv or linear, never
biases or batch-norm parameters) mapped to its kind: ``"conv"``, ``"fc"``, ``"output"`` or
``"shortcut"``. Pruning rates are chosen per kind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch import nn

from lt_utils.errors import ConfigError


class PrunableModel(nn.Module):
    """A model that names the kind of each of its weight tensors."""

    layer_kinds: dict[str, str]
    spec: tuple[str, float] = ("", 0.0)  # (registry name, dropout), set by build_model

    def _register_kinds(self) -> None:
        kinds = {}
        for name, module in self.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                kinds[f"{name}.weight"] = getattr(module, "kind", "conv" if isinstance(module, nn.Conv2d) else "fc")
        self.layer_kinds = kinds


def _linear(n_in: int, n_out: int, kind: str) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    layer.kind = kind
    return layer


def glorot_gaussian_(model: nn.Module) -> None:
    """Gaussian Glorot weights and zero biases (Lenet and the Conv nets)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)


def kaiming_normal_(model: nn.Module) -> None:
    """VGG-19 and the ResNet as open_lth initializes them: He-normal weights, PyTorch's default
    biases (left as constructed), batch-norm scale drawn from U[0, 1) and zero shift."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.0, 1.0)
            nn.init.zeros_(module.bias)


class Lenet(PrunableModel):
    """Lenet-300-100: fully connected 784-300-100-10 with ReLU."""

    def __init__(self, hidden: tuple[int, ...] = (300, 100), num_classes: int = 10, input_size: int = 784):
        super().__init__()
        sizes = (input_size, *hidden)
        self.hidden = nn.ModuleList(_linear(a, b, "fc") for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.output = _linear(sizes[-1], num_classes, "output")
        glorot_gaussian_(self)
        self._register_kinds()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.output(x)


class ConvNet(PrunableModel):
    """Conv-2/4/6: pairs of 3x3 convolutions, each pair followed by a 2x2 max pool, then FC 256-256-10.

    Where a pool follows a convolution, the pool comes before the ReLU (max and ReLU commute
    exactly, forward and backward), and each ReLU is applied in place: the paper's numbers, bit
    for bit, with a quarter of the ReLU work and no fresh buffer per activation (evaluation ran
    about 1.2x faster on the CPU so).
    """

    def __init__(self, widths: tuple[int, ...], dropout: float = 0.0, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        convs, channels = [], 3
        for width in widths:
            convs.append(nn.Conv2d(channels, width, 3, padding=1))
            channels = width
        self.convs = nn.ModuleList(convs)
        flat = channels * (image_size // 2 ** (len(widths) // 2)) ** 2
        self.fc = nn.ModuleList([_linear(flat, 256, "fc"), _linear(256, 256, "fc")])
        self.output = _linear(256, num_classes, "output")
        self.dropout = dropout
        glorot_gaussian_(self)
        self._register_kinds()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            x = F.relu_(F.max_pool2d(x, 2) if i % 2 == 1 else x)
        x = x.flatten(1)
        for layer in self.fc:
            x = F.dropout(F.relu(layer(x)), self.dropout, self.training)
        return self.output(x)


_VGG19_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)


class VGG19(PrunableModel):
    """VGG-19 for CIFAR-10: 16 conv layers with batch norm, 2x2 average pool, one FC layer."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG19_WIDTHS:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.BatchNorm2d(item), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.output = _linear(512, num_classes, "output")
        kaiming_normal_(self)
        self._register_kinds()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(self.features(x), 2)
        return self.output(x.flatten(1))


class _ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            conv = nn.Conv2d(c_in, c_out, 1, stride, bias=False)
            conv.kind = "shortcut"
            self.shortcut = nn.Sequential(conv, nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(PrunableModel):
    """The 20-layer CIFAR ResNet the paper calls Resnet-18: 16, 3x[16,16], 3x[32,32], 3x[64,64]."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, c_in = [], 16
        for c_out, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(_ResidualBlock(c_in, c_out, stride if i == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.output = _linear(64, num_classes, "output")
        kaiming_normal_(self)
        self._register_kinds()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.output(F.adaptive_avg_pool2d(x, 1).flatten(1))


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: how to build it and what the rest of the package needs to know of it."""

    build: Callable[[float], PrunableModel]  # constructor taking the dropout rate (ignored without dropout layers)
    dataset: str  # the data set whose input shape it is built for (``lt_utils.engine.data.DATASETS``)
    preset: str | None = None  # the paper-scale preset of its figure (the benchmark times and projects it)
    dropout: bool = False  # has dropout layers (on its FC layers), so ``ExperimentConfig.dropout`` may be set
    chapters: bool = False  # offered by the extension chapters (``imp_landscape``, ``dual_tickets``)
    cpu_stack: int | None = None  # networks per stack on the CPU (None: a round's all); see networks_per_stack


MODELS: dict[str, ModelInfo] = {
    "lenet": ModelInfo(lambda dropout=0.0: Lenet(), "mnist", preset="lenet", chapters=True),
    "conv2": ModelInfo(lambda dropout=0.0: ConvNet((64, 64), dropout), "cifar10", preset="conv2", dropout=True,
                       chapters=True, cpu_stack=1),
    "conv4": ModelInfo(lambda dropout=0.0: ConvNet((64, 64, 128, 128), dropout), "cifar10", preset="conv4",
                       dropout=True, chapters=True, cpu_stack=1),
    "conv6": ModelInfo(lambda dropout=0.0: ConvNet((64, 64, 128, 128, 256, 256), dropout), "cifar10",
                       preset="conv6", dropout=True, chapters=True, cpu_stack=1),
    "vgg19": ModelInfo(lambda dropout=0.0: VGG19(), "cifar10", preset="vgg19_lr01_warmup"),
    "resnet20": ModelInfo(lambda dropout=0.0: ResNet20(), "cifar10"),
}
"""Every model by name: the one place a new model is registered."""


def models_where(**flags: bool) -> tuple[str, ...]:
    """Names of the models whose ``ModelInfo`` has each of ``flags`` (``models_where(dropout=True)``)."""
    return tuple(name for name, info in MODELS.items() if all(getattr(info, k) == v for k, v in flags.items()))


_GLOBAL_RNG = threading.Lock()
"""Held while a model initializes from torch's global generator (the Ray driver's threads build at once)."""


def build_model(name: str, dropout: float = 0.0, seed: int | None = None) -> PrunableModel:
    """Build a model by registry name, initialized from ``seed`` (CPU generator) when given."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = MODELS[name].build(dropout)
    model.spec = (name, dropout)
    return model


@cache
def has_batch_norm(name: str) -> bool:
    """Whether model ``name`` has batch-norm buffers (such networks train one at a time)."""
    return any(True for _ in build_model(name, seed=0).buffers())


def networks_per_stack(name: str, device_type: str) -> int | None:
    """How many networks of model ``name`` train as one stack on ``device_type`` by default (None:
    all of a round's networks at once); ``RunOptions.max_stack`` overrides it.

    A deterministic choice, measured once per device type and model and written down here, never
    timed at run time, so that results do not depend on a timer. Batch-norm models train one
    network at a time everywhere. On the CPU the choice is ``ModelInfo.cpu_stack``: a Conv net
    trains alone (on a 2-core CPU its training steps ran 1.6 to 2.1 times the per-network rate of a
    stack of four, ``book/bench/cpu-conv.json``: one network's convolutions already keep the cores
    busy, and vmap's grouped convolutions are slower than plain ones);
    Lenet's small matrix products stay stacked (a round of 30 at once ran 6.8 times a common loop's
    rate). On a GPU a round is one stack: it fills the device.
    """
    if has_batch_norm(name):
        return 1
    return MODELS[name].cpu_stack if device_type == "cpu" else None


def weight_count(model: PrunableModel) -> int:
    """Number of prunable-kind weights (conv and linear weight tensors), the paper's 'weights'."""
    params = dict(model.named_parameters())
    return sum(params[name].numel() for name in model.layer_kinds)
