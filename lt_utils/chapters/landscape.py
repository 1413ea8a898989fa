"""Inside iterative magnitude pruning (Saleem et al.): distances between levels, the loss along
the line between consecutive levels, and the Hessian's top eigenvalues at each level's minimum.

Level L is round L of an IMP experiment with weight rewinding. "Projecting" level L-1's
minimum onto level L's mask means multiplying it by that mask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.func import functional_call, grad, jvp
from tqdm import tqdm

from lt_utils.engine.data import Dataset, Split, load_dataset
from lt_utils.engine.memory import EVAL_BATCH_CAP, eval_batch_for
from lt_utils.engine.models import PrunableModel
from lt_utils.engine.pruning import Masks, dense_masks, percent_remaining, prune_to_round, random_masks_like
from lt_utils.engine.seeding import derive_seed
from lt_utils.engine.stack import State, init_states, make_forward
from lt_utils.engine.step import make_scorer
from lt_utils.engine.training import evaluate_stack, train_stack
from lt_utils.errors import ConfigError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import experiment_path, load_trained, resolve_options, run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import cached_table, curves_to_table
from lt_utils.lottery.stored import stored_copy
from lt_utils.lottery.variants import FINETUNE, ITERATIVE, ONESHOT, RANDOM_SPARSE, RANDOM_SPARSE_REINIT, REINIT
from lt_utils.validation import check_bool, check_float, check_int, require

COMPARED = (ITERATIVE, ONESHOT, FINETUNE, REINIT, RANDOM_SPARSE, RANDOM_SPARSE_REINIT)
"""The variants compared at the last level's sparsity, in the order the chapter shows them."""


@dataclass(frozen=True)
class LandscapeConfig:
    """IMP with weight rewinding (``experiment``: rounds = levels) and the analyses run on it."""

    experiment: ExperimentConfig
    interpolation_points: int = 11  # points on the line between consecutive levels, ends included
    hessian_k: int = 100  # top eigenvalues per level
    hessian_examples: int = 5_000  # training examples in the loss whose Hessian is taken
    hessian_trials: int = 1  # trials whose Hessians are computed (the costliest analysis)

    def __post_init__(self) -> None:
        require(isinstance(self.experiment, ExperimentConfig), "experiment", self.experiment, "an ExperimentConfig")
        for name in ("interpolation_points", "hessian_k", "hessian_examples", "hessian_trials"):
            check_int(name, getattr(self, name), 2 if name == "interpolation_points" else 1)
        if self.hessian_trials > self.experiment.trials:
            raise ConfigError(f"invalid hessian_trials={self.hessian_trials}: at most trials={self.experiment.trials}")


def landscape_experiment(base: ExperimentConfig, levels: int = 10, rewind_iteration: int = 1_000,
                         rate: float = 0.2) -> ExperimentConfig:
    """IMP with weight rewinding over ``levels`` levels, each pruning ``rate`` of the surviving
    hidden and convolutional weights (output layer at half), with the controls the comparison
    needs: one reinitialization, random masks, and one-shot pruning to the last level."""
    check_int("levels", levels, 1)
    check_float("rate", rate, 0, 1, low_open=True, high_open=True)
    return base.with_overrides(name=f"landscape_{base.model}", rounds=levels, rewind_iteration=rewind_iteration,
                               reinits=1, random_sparse=True, one_shot_rounds=(levels,), fc_rate=rate,
                               conv_rate=rate, output_rate=rate / 2)


def landscape_config(model: str, levels: int = 10, rewind_iteration: int = 1_000, rate: float = 0.2, *,
                     trials: int | None = None, iterations: int | None = None, seed: int | None = None,
                     interpolation_points: int = 11, hessian_k: int = 100, hessian_examples: int = 5_000,
                     hessian_trials: int = 1, smoke: bool = False) -> LandscapeConfig:
    """The chapter's configuration: ``landscape_experiment`` on the preset named ``model`` (``None``
    keeps the preset's value), with the analyses' settings; with ``smoke``, ``smoke_landscape`` of it."""
    check_bool("smoke", smoke)
    base = preset(model, trials=trials, iterations=iterations, seed=seed)
    lcfg = LandscapeConfig(landscape_experiment(base, levels, rewind_iteration, rate), interpolation_points,
                           hessian_k, hessian_examples, hessian_trials)
    return smoke_landscape(lcfg) if smoke else lcfg


def smoke_landscape(lcfg: LandscapeConfig) -> LandscapeConfig:
    """CI's tiny version of ``lcfg``: few iterations and levels, a small Hessian; never a result."""
    cfg = lcfg.experiment.with_overrides(name=f"{lcfg.experiment.name}_smoke", iterations=200, eval_every=100,
                                         trials=1, rounds=2, one_shot_rounds=(2,), rewind_iteration=100,
                                         train_eval_size=500)
    return replace(lcfg, experiment=cfg, hessian_k=3, hessian_examples=200, interpolation_points=5, hessian_trials=1)


def project(params: State, masks: Masks) -> State:
    """``params`` with every pruned weight set to zero by ``masks`` (other tensors unchanged)."""
    return {name: value * masks[name] if name in masks else value for name, value in params.items()}


def _flat(params: State, masks: Masks) -> torch.Tensor:
    return torch.cat([params[name].reshape(params[name].shape[0], -1) for name in masks], dim=1)


def level_distances(cfg: ExperimentConfig, results_dir: str | Path, device: str = "cpu",
                    options: RunOptions | None = None) -> pd.DataFrame:
    """Per level and trial: ||theta_L - m_L * theta_{L-1}|| and the distances from the (masked)
    rewind point to each, over the prunable weights."""
    rows, previous = [], load_trained(cfg, results_dir, 0, device, options)
    for level in range(1, cfg.rounds + 1):
        current = load_trained(cfg, results_dir, level, device, options)
        masks = current["masks"]
        minimum, projected = _flat(current["params"], masks), _flat(project(previous["params"], masks), masks)
        rewind = _flat(project(current["rewind"], masks), masks)
        for trial in range(cfg.trials):
            rows.append({"level": level, "trial": trial,
                         "minimum_to_projected_previous": float((minimum[trial] - projected[trial]).norm()),
                         "rewind_to_minimum": float((minimum[trial] - rewind[trial]).norm()),
                         "rewind_to_projected_previous": float((projected[trial] - rewind[trial]).norm())})
        previous = current
    return pd.DataFrame(rows)


def interpolate(model: PrunableModel, start: State, end: State, buffers: State, splits: dict[str, Split],
                points: int, eval_batch: int = EVAL_BATCH_CAP) -> pd.DataFrame:
    """Loss and accuracy along ``(1 - a) start + a end`` for ``points`` values of ``a`` in [0, 1],
    all points evaluated as one stack of networks. ``start`` and ``end`` are single networks."""
    first = next(iter(start.values()))
    alphas = torch.linspace(0, 1, points, device=first.device, dtype=first.dtype)
    stacked = {name: torch.lerp(start[name].unsqueeze(0), end[name].unsqueeze(0),
                                alphas.view(-1, *[1] * start[name].ndim)) for name in start}
    stacked_buffers = {name: value.unsqueeze(0).expand(points, *value.shape) for name, value in buffers.items()}
    score = make_scorer(make_forward(model, bool(buffers), shared_input=True))
    model.eval()
    out = {"alpha": alphas.cpu().numpy()}
    for split_name, split in splits.items():
        batch = eval_batch_for(model, points, split.x.shape[1:], eval_batch, first.device)  # the cap, within memory
        loss, acc = evaluate_stack(score, stacked, stacked_buffers, split, batch)
        out[f"{split_name}_loss"], out[f"{split_name}_acc"] = loss.cpu().numpy(), acc.cpu().numpy()
    return pd.DataFrame(out)


def hessian_top_eigenvalues(model: PrunableModel, params: State, masks: Masks, x: torch.Tensor, y: torch.Tensor,
                            k: int, tol: float = 1e-4, buffers: State | None = None) -> np.ndarray:
    """The ``k`` largest eigenvalues (descending) of the Hessian of the mean cross-entropy on
    ``(x, y)`` with respect to the unpruned parameters (surviving weights and all biases),
    from Hessian-vector products (forward-over-reverse) and Lanczos (``eigsh``). The network
    runs in evaluation mode with ``buffers`` (its batch-norm statistics; None: ``model``'s own)."""
    free = {name: masks[name].flatten() if name in masks else torch.ones(value.numel(), dtype=torch.bool,
                                                                          device=value.device)
            for name, value in params.items()}
    index = {name: torch.nonzero(keep).flatten() for name, keep in free.items()}
    sizes = [len(index[name]) for name in params]
    n = sum(sizes)
    if not 0 < k < n:
        raise ConfigError(f"invalid hessian_k={k}: must be between 1 and {n - 1} (the free parameters less one)")
    base = {name: value.detach() * free[name].view_as(value) for name, value in params.items()}

    def unflatten(theta: torch.Tensor) -> State:
        out = {}
        for (name, value), part in zip(base.items(), theta.split(sizes), strict=True):
            out[name] = value.flatten().index_put((index[name],), part).view_as(value)
        return out

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, (unflatten(theta), buffers or {}), (x,)), y)

    theta0 = torch.cat([base[name].flatten()[index[name]] for name in base])
    gradient = grad(loss)
    model.eval()

    def hvp(v: np.ndarray) -> np.ndarray:
        tangent = torch.as_tensor(np.asarray(v).ravel(), dtype=theta0.dtype, device=theta0.device)
        return jvp(gradient, (theta0,), (tangent,))[1].detach().cpu().double().numpy()

    operator = LinearOperator((n, n), matvec=hvp, dtype=np.float64)
    values = eigsh(operator, k=k, which="LA", tol=tol, return_eigenvectors=False)
    return np.sort(values)[::-1]


def trained_hessian(model: PrunableModel, state: dict[str, Any], trial: int, x: torch.Tensor, y: torch.Tensor,
                    k: int) -> np.ndarray:
    """Top ``k`` Hessian eigenvalues of one trial of a trained round (``load_trained``'s dict),
    with that network's own batch-norm statistics."""
    one = {part: {name: value[trial] for name, value in state[part].items()} for part in ("params", "masks", "buffers")}
    return hessian_top_eigenvalues(model, one["params"], one["masks"], x, y, k, buffers=one["buffers"])


def log_volume_proxy(eigenvalues: np.ndarray, floor: float = 1e-6) -> float:
    """-1/2 sum(log lambda_i) over the top eigenvalues: larger means a wider basin (the volume of
    a quadratic basin scales as prod(lambda_i)^(-1/2); eigenvalues below ``floor`` are clipped)."""
    return float(-0.5 * np.log(np.clip(eigenvalues, floor, None)).sum())


def _comparison(lcfg: LandscapeConfig, options: RunOptions, data: Dataset) -> pd.DataFrame:
    """The two level-L comparisons the IMP experiment does not train: fine-tuning (the dense
    trained network pruned to level L's counts, trained on without rewinding) and random masks
    with a random initialization. Both train for as long as a level does: from the rewind
    iteration k to the end of the schedule."""
    cfg, device = lcfg.experiment, options.torch_device()
    dense = load_trained(cfg, options.results_dir, 0, device, options)
    last = load_trained(cfg, options.results_dir, cfg.rounds, device, options)
    model, fresh, fresh_buffers = init_states(cfg.model, [derive_seed(cfg.seed, "init", RANDOM_SPARSE_REINIT, t)
                                                          for t in range(cfg.trials)], cfg.dropout, device)
    kinds = model.layer_kinds
    finetune_masks = prune_to_round(dense["params"], dense_masks(dense["params"], kinds), kinds, cfg.prune, cfg.rounds)
    gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "mask", RANDOM_SPARSE_REINIT))
    random_masks = random_masks_like(last["masks"], gen)
    params = {k: torch.cat([dense["params"][k], fresh[k]]) for k in fresh}
    buffers = {k: torch.cat([dense["buffers"][k], fresh_buffers[k]]) for k in fresh_buffers}
    masks = {k: torch.cat([finetune_masks[k], random_masks[k]]) for k in kinds}
    seeds = [derive_seed(cfg.seed, "data", variant, t) for variant in (FINETUNE, RANDOM_SPARSE_REINIT)
             for t in range(cfg.trials)]
    result = train_stack(model, params, buffers, masks, data, cfg.train, seeds, start_iteration=cfg.rewind_iteration,
                         eval_batch=options.eval_batch, step=options.step, precision=options.precision,
                         progress="fine-tuning and random sparse (random init)" if options.progress else False)
    p_m = float(percent_remaining(last["masks"])[0])
    labels = [{"variant": variant, "trial": t, "replicate": 0, "round": cfg.rounds, "p_m": p_m}
              for variant in (FINETUNE, RANDOM_SPARSE_REINIT) for t in range(cfg.trials)]
    return curves_to_table(result.curves, result.eval_iterations, labels, result.final_train)


@dataclass
class LandscapeResult:
    """What ``run_landscape`` returns: the experiment's table and one table per analysis."""

    table: pd.DataFrame  # the IMP experiment's tidy table plus the comparison runs
    distances: pd.DataFrame
    interpolation: pd.DataFrame  # level, trial, alpha, losses and accuracies
    hessian: pd.DataFrame  # level, trial, rank, eigenvalue


def run_landscape(lcfg: LandscapeConfig, options: RunOptions | None = None, **option_values: Any) -> LandscapeResult:
    """Run (or resume) the IMP experiment and every analysis; each stage is stored when done."""
    options = resolve_options(options, option_values)
    cfg, device = lcfg.experiment, options.torch_device()
    table = run_experiment(cfg, options).table
    folder = experiment_path(cfg, options.results_dir, options) / "landscape"
    loaded: list[Dataset] = []

    def data_set() -> Dataset:  # loaded on first need: a re-render from stored tables needs none
        if not loaded:
            loaded.append(load_dataset(cfg.dataset, options.data_dir, device, cfg.train.train_eval_size))
        return loaded[0]

    def cached(name: str, compute: Any) -> pd.DataFrame:
        stored = stored_copy(options.stored_dir, f"{folder.parent.name}/landscape/{name}")

        def computed() -> pd.DataFrame:
            options.refuse_training(f"the landscape analysis {name} of {cfg.name} (run {folder.parent.name})")
            return compute()
        return cached_table(folder / name, computed, stored)

    comparison = cached("comparison.csv.gz", lambda: _comparison(lcfg, options, data_set()))
    distances = cached("distances.csv.gz", lambda: level_distances(cfg, options.results_dir, device, options))
    model = init_states(cfg.model, [0], cfg.dropout, device)[0]

    def interpolation() -> pd.DataFrame:
        data = data_set()
        parts, previous = [], load_trained(cfg, options.results_dir, 0, device, options)
        for level in tqdm(range(1, cfg.rounds + 1), desc="interpolation", disable=not options.progress):
            current = load_trained(cfg, options.results_dir, level, device, options)
            start = project(previous["params"], current["masks"])
            for trial in range(cfg.trials):
                one = {k: v[trial] for k, v in start.items()}
                end = {k: v[trial] for k, v in current["params"].items()}
                buffers = {k: v[trial] for k, v in current["buffers"].items()}
                part = interpolate(model, one, end, buffers, {"train": data.train_eval, "test": data.test},
                                   lcfg.interpolation_points, options.eval_batch)
                parts.append(part.assign(level=level, trial=trial))
            previous = current
        return pd.concat(parts, ignore_index=True)

    def hessian() -> pd.DataFrame:
        data = data_set()
        x, y = data.train.x[: lcfg.hessian_examples], data.train.y[: lcfg.hessian_examples]
        rows = []
        for level in tqdm(range(0, cfg.rounds + 1), desc="Hessian", disable=not options.progress):
            state = load_trained(cfg, options.results_dir, level, device, options)
            for trial in range(lcfg.hessian_trials):
                values = trained_hessian(model, state, trial, x, y, lcfg.hessian_k)
                rows += [{"level": level, "trial": trial, "rank": i + 1, "eigenvalue": float(v)}
                         for i, v in enumerate(values)]
        return pd.DataFrame(rows)

    points = lcfg.interpolation_points
    interp = cached(f"interpolation_{points}.csv.gz", interpolation)
    spectra = cached(f"hessian_k{lcfg.hessian_k}_n{lcfg.hessian_examples}_t{lcfg.hessian_trials}.csv.gz", hessian)
    return LandscapeResult(pd.concat([table, comparison], ignore_index=True), distances, interp, spectra)


def barriers(interpolation: pd.DataFrame, column: str = "train_loss") -> pd.DataFrame:
    """Per level and trial: the largest rise of ``column`` above the straight line between the
    two endpoints (0 when the path is no worse than the endpoints)."""
    def one(group: pd.DataFrame) -> float:
        group = group.sort_values("alpha")
        a, values = group["alpha"].to_numpy(), group[column].to_numpy()
        return float(max(0.0, (values - ((1 - a) * values[0] + a * values[-1])).max()))

    rows = [{"level": level, "trial": trial, "barrier": one(group)}
            for (level, trial), group in interpolation.groupby(["level", "trial"])]
    return pd.DataFrame(rows)


def spectrum_summary(hessian: pd.DataFrame) -> pd.DataFrame:
    """Per level and trial: the top eigenvalue, the mean of the top k, and the log-volume proxy."""
    rows = []
    for (level, trial), group in hessian.groupby(["level", "trial"]):
        values = group.sort_values("rank")["eigenvalue"].to_numpy()
        rows.append({"level": level, "trial": trial, "top": values[0], "mean_top_k": values.mean(),
                     "log_volume_proxy": log_volume_proxy(values)})
    return pd.DataFrame(rows)
