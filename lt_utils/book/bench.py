"""Benchmark: the engine against a reference loop written the common way, on the same device.

    python -m lt_utils.book.bench --device cuda --out book/bench/h100.json
    python -m lt_utils.book.bench --models lenet --data-dir ../shared/data   # CPU, MNIST only

The reference trains one network at a time: a ``DataLoader`` over a torchvision-style data set
with per-sample transforms, the mask applied in Python after every step, and a ``.item()`` per
step. The engine trains all the networks of an experiment round together (Lenet: 5 trials,
15 random reinitializations, 5 random sparse and 5 one-shot networks), data resident on the
device, once with each step form (``lt_utils.engine.step``: eager, compiled, CUDA graph), and for the
models named by ``--bf16`` (default VGG-19) with each form in bf16 autocast as well; compile
time is reported apart from the rate. Both evaluate validation and test sets every 100
iterations, as the protocol does. Throughput is in network-iterations per second; the
projection multiplies the fastest fp32 form's rate (the paper's precision) out to each figure's
paper-scale work.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from lt_utils.atomic import atomic_write_json
from lt_utils.engine.data import DATASETS, Dataset, load_dataset, stand_in, stats
from lt_utils.engine.models import MODELS, build_model
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states
from lt_utils.engine.step import resolve_step_mode
from lt_utils.engine.training import train_stack
from lt_utils.errors import ConfigError, user_errors
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.scaling import chain_runs
from lt_utils.validation import check_folder, check_int, require

FIGURES = {name: info.preset for name, info in MODELS.items() if info.preset}
"""Model -> the preset of its figure, read from ``lt_utils.engine.models.MODELS``: what is timed and projected."""


def networks_per_round(cfg: ExperimentConfig) -> int:
    """Networks trained together in one pruning round (round >= 1) of ``cfg``."""
    per_trial = 1 + cfg.reinits + int(cfg.random_sparse) + int(bool(cfg.one_shot_rounds))
    return cfg.trials * per_trial


def figure_network_iterations(cfg: ExperimentConfig) -> int:
    """All network-iterations of the figure: dense round plus every pruning round."""
    return cfg.train.iterations * chain_runs(cfg)[1]


class _Images(torch.utils.data.Dataset):
    """uint8 images served as torchvision's MNIST and CIFAR10 serve them: a PIL image per sample,
    then ToTensor + Normalize."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        image = self.images[i].permute(1, 2, 0).numpy()  # H x W x C; a PIL image, as torchvision's sets do
        image = Image.fromarray(image[:, :, 0], mode="L") if image.shape[2] == 1 else Image.fromarray(image)
        return self.transform(image), int(self.labels[i])


def _to_uint8(split_x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m, s = (torch.tensor(v).view(1, -1, 1, 1) for v in (mean, std))
    return ((split_x.cpu() * s + m) * 255).round().clamp(0, 255).to(torch.uint8)


def reference_throughput(cfg: ExperimentConfig, data: Dataset, iterations: int, device: torch.device) -> float:
    """Iterations per second of the common loop, one network, evaluating every 100 iterations."""
    mean, std = stats(data.name)
    sets = {name: _Images(_to_uint8(split.x, mean, std), split.y.cpu(), mean, std)
            for name, split in (("train", data.train), ("val", data.val), ("test", data.test))}
    loader = DataLoader(sets["train"], batch_size=cfg.train.batch_size, shuffle=True, drop_last=True)
    model = build_model(cfg.model, cfg.dropout, seed=0).to(device)
    masks = {n: (torch.rand_like(p) > 0.5).float() for n, p in model.named_parameters() if n in model.layer_kinds}
    optimizer = (torch.optim.Adam(model.parameters(), lr=cfg.train.lr) if cfg.train.optimizer == "adam" else
                 torch.optim.SGD(model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum,
                                 weight_decay=cfg.train.weight_decay))

    def evaluate(name: str) -> float:
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in DataLoader(sets[name], batch_size=1000):
                correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        model.train()
        return correct / len(sets[name])

    losses, it = [], 0
    start = time.perf_counter()
    while it < iterations:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if name in masks:
                        param.mul_(masks[name])
            losses.append(loss.item())
            it += 1
            if it % cfg.train.eval_every == 0:
                evaluate("val"), evaluate("test")
            if it == iterations:
                break
    return iterations / (time.perf_counter() - start)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_throughput(cfg: ExperimentConfig, data: Dataset, iterations: int, networks: int,
                      device: torch.device, step: str = "eager", precision: str = "fp32") -> tuple[float, float]:
    """Network-iterations per second of ``train_stack`` on ``networks`` pruned networks at once with
    the ``step`` form at ``precision``, and the seconds spent compiling first (0 for ``"eager"``;
    not in the rate)."""
    seeds = list(range(networks))
    model, params, buffers = init_states(cfg.model, seeds, cfg.dropout, device)
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, cfg.prune, 1)
    compile_seconds = 0.0
    if step != "eager":  # compile the step and the evaluation for these shapes before timing
        start = time.perf_counter()
        train_stack(model, params, buffers, masks, data, replace(cfg.train, iterations=cfg.train.eval_every), seeds,
                    step=step, precision=precision)
        _synchronize(device)
        compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    train_stack(model, params, buffers, masks, data, replace(cfg.train, iterations=iterations), seeds, step=step,
                precision=precision)
    _synchronize(device)
    return networks * iterations / (time.perf_counter() - start), compile_seconds


def default_steps(device: torch.device) -> list[str]:
    """The step forms worth timing on ``device``: the plain one and the fastest one it supports."""
    return ["eager", "graph" if device.type == "cuda" else "compile"]


def engine_forms(name: str, steps: list[str], bf16_models: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The engine forms timed for model ``name``: ``{label: (step, precision)}``."""
    forms = {step: (step, "fp32") for step in steps}
    if name in bf16_models:
        forms |= {f"{step}, bf16": (step, "bf16") for step in steps}
    return forms


def benchmark(models: list[str], device: torch.device, data_dir: str | None, iterations: int,
              reference_iterations: int, steps: list[str] | None = None,
              bf16_models: Sequence[str] = ("vgg19",)) -> dict[str, Any]:
    """Measure every model with each step form in ``steps`` (and in bf16 for ``bf16_models``);
    return the JSON-ready report."""
    steps = steps or default_steps(device)
    cpu = f"CPU ({platform.processor() or platform.machine()})"
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "iterations": iterations,
        "reference_iterations": reference_iterations, "models": {}}
    for name in tqdm(models, desc="benchmark"):
        cfg = preset(FIGURES[name])
        if stand_in(cfg.dataset):  # throughput does not depend on the pixels; CIFAR-10 may be absent
            cfg = cfg.with_overrides(dataset=stand_in(cfg.dataset))
        data = load_dataset(cfg.dataset, data_dir, device, cfg.train.train_eval_size,
                            synthetic_size=55_000 if DATASETS[cfg.dataset].synthetic else 1_200)
        stack = 1 if name == "vgg19" else networks_per_round(cfg)
        reference = reference_throughput(cfg, data, reference_iterations, device)
        engines, forms = {}, engine_forms(name, steps, bf16_models)
        for label, (step, precision) in forms.items():
            rate, compile_seconds = engine_throughput(cfg, data, iterations, stack, device, step, precision)
            engines[label] = {"network_iterations_per_s": round(rate, 2), "ratio": round(rate / reference, 2),
                             "compile_seconds": round(compile_seconds, 1)}
        fp32 = [label for label, (_, precision) in forms.items() if precision == "fp32"]
        fastest = max(fp32, key=lambda label: engines[label]["network_iterations_per_s"])
        engine = engines[fastest]["network_iterations_per_s"]
        work = figure_network_iterations(preset(FIGURES[name]))
        report["models"][name] = {
            "figure_preset": FIGURES[name], "data": cfg.dataset, "networks_at_once": stack,
            "reference_iterations_per_s": round(reference, 2), "engine": engines, "fastest_step": fastest,
            "engine_network_iterations_per_s": engine, "ratio": engines[fastest]["ratio"],
            "figure_network_iterations": work, "projected_figure_hours": round(work / engine / 3600, 2),
            "projected_single_run_minutes": round(cfg.train.iterations / (engine / stack) / 60, 2)}
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lt_utils.book.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="lenet,conv2,conv4,conv6,vgg19")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--iterations", type=int, default=300, help="engine iterations timed per model")
    parser.add_argument("--reference-iterations", type=int, default=300, help="reference iterations timed")
    parser.add_argument("--steps", default=None,
                        help="step forms to time, comma-separated (default: eager plus graph on CUDA, compile on CPU)")
    parser.add_argument("--bf16", default="vgg19", help="models also timed in bf16 autocast, comma-separated")
    parser.add_argument("--out", default=None, help="write the report here (JSON)")
    args = parser.parse_args(argv)
    with user_errors(parser.prog):
        command(args)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def command(args: argparse.Namespace) -> None:
    """Check the parsed command line ``args`` (all of it, before any data loads), then benchmark."""
    models, bf16_models = _names(args.models), _names(args.bf16)
    require(bool(models), "--models", args.models, f"a comma-separated list of models from {sorted(FIGURES)}")
    for flag, names in (("--models", models), ("--bf16", bf16_models)):
        bad = [m for m in names if m not in FIGURES]
        if bad:
            raise ConfigError(f"unknown model(s) {bad} for {flag}; choose from {sorted(FIGURES)}")
    check_int("--iterations", args.iterations, 1)
    check_int("--reference-iterations", args.reference_iterations, 1)
    if args.data_dir is not None:
        check_folder("--data-dir", args.data_dir)
    if args.out is not None:
        require(not Path(args.out).is_dir(), "--out", args.out, "a file to write the report to; it is a folder")
        check_folder("--out", Path(args.out).parent, writable=True)
    device = RunOptions(device=args.device).torch_device()
    steps = _names(args.steps) if args.steps is not None else None
    require(steps is None or bool(steps), "--steps", args.steps, "a comma-separated list of step forms")
    for step in steps or []:
        resolve_step_mode(step, device)  # a bad or impossible form fails before any timing
    report = benchmark(models, device, args.data_dir, args.iterations, args.reference_iterations, steps, bf16_models)
    print(json.dumps(report, indent=2))
    if args.out:
        atomic_write_json(report, Path(args.out))


if __name__ == "__main__":
    main()
