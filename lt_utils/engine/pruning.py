"""Magnitude pruning on stacks of networks: masks are ``{weight name: bool tensor N x shape}``.

Round k keeps, in each layer (layer-wise) or in the pooled layers (global), the target count
of the schedule: ``alive_k = alive_{k-1} - round(rate * alive_{k-1})``. Iterative pruning
applies one round to the previous mask; one-shot pruning jumps from the dense mask to round k.
"""

from __future__ import annotations

import torch

from lt_utils.engine.hparams import PruneConfig
from lt_utils.errors import ConfigError

Masks = dict[str, torch.Tensor]


def _round_half_up(x: float) -> int:
    return int(x + 0.5)


def _after_rounds(alive: int, rate: float, rounds: int) -> int:
    for _ in range(rounds):
        alive -= _round_half_up(rate * alive)
    return alive


def target_counts(sizes: dict[str, int], kinds: dict[str, str], cfg: PruneConfig, rounds: int) -> dict[str, int]:
    """Weights alive after ``rounds`` rounds. Layer-wise: per layer. Global: the key ``"*"`` holds
    the pooled total, and unpooled layers keep all their weights."""
    if cfg.strategy == "layerwise":
        return {name: _after_rounds(size, cfg.rate_for(kinds[name]), rounds) for name, size in sizes.items()}
    pooled = [name for name in sizes if kinds[name] in cfg.global_kinds]
    counts = {name: size for name, size in sizes.items() if name not in pooled}
    counts["*"] = _after_rounds(sum(sizes[name] for name in pooled), cfg.global_rate, rounds)
    return counts


def remaining_percent(sizes: dict[str, int], kinds: dict[str, str], cfg: PruneConfig, rounds: int) -> float:
    """P_m: percent of all weights still alive after ``rounds`` rounds (the paper's x axis)."""
    return 100 * sum(target_counts(sizes, kinds, cfg, rounds).values()) / sum(sizes.values())


def _keep_largest(scores: torch.Tensor, alive: torch.Tensor, keep: int) -> torch.Tensor:
    """Per row, keep the ``keep`` largest scores among the alive entries (ties: lowest index)."""
    scores = scores.masked_fill(~alive, float("-inf"))
    order = torch.argsort(scores, dim=1, descending=True, stable=True)[:, :keep]
    return torch.zeros_like(alive).scatter_(1, order, True)


def _check_alive(alive: torch.Tensor, target: int, layer: str) -> None:
    """Refuse a target above a network's alive count: keeping it would resurrect pruned weights."""
    fewest = int(alive.sum(1).min())
    if target > fewest:
        raise ConfigError(f"cannot prune {layer} to {target} weights: a network has only {fewest} alive "
                          f"(the mask is sparser than the round asked for; pruned weights never come back)")


def prune_to_round(weights: dict[str, torch.Tensor], masks: Masks, kinds: dict[str, str],
                   cfg: PruneConfig, rounds: int) -> Masks:
    """Prune the smallest-magnitude surviving weights until round ``rounds``'s counts remain;
    a ``ConfigError`` when a layer (or the global pool) has fewer alive than its target."""
    sizes = {name: masks[name][0].numel() for name in masks}
    counts = target_counts(sizes, kinds, cfg, rounds)
    n = next(iter(masks.values())).shape[0]
    flat = {name: weights[name].detach().abs().reshape(n, -1) for name in masks}
    alive = {name: masks[name].reshape(n, -1) for name in masks}
    new: Masks = {}
    for name in masks:
        if name in counts:
            _check_alive(alive[name], counts[name], f"layer {name!r}")
            new[name] = _keep_largest(flat[name], alive[name], counts[name])
    pooled = [name for name in masks if name not in counts]
    if pooled:
        pool_alive = torch.cat([alive[m] for m in pooled], 1)
        _check_alive(pool_alive, counts["*"], f"the global pool of {pooled}")
        kept = _keep_largest(torch.cat([flat[m] for m in pooled], 1), pool_alive, counts["*"])
        for name, part in zip(pooled, kept.split([sizes[m] for m in pooled], dim=1), strict=True):
            new[name] = part
    return {name: new[name].view_as(masks[name]) for name in masks}


def random_masks_like(masks: Masks, generator: torch.Generator) -> Masks:
    """Masks with each network's per-layer alive counts, positions drawn uniformly at random."""
    out: Masks = {}
    for name, mask in masks.items():
        n = mask.shape[0]
        flat = mask.reshape(n, -1)
        scores = torch.rand(flat.shape, generator=generator, device=generator.device).to(flat.device)
        rows = [_keep_largest(scores[i : i + 1], torch.ones_like(flat[i : i + 1]), int(flat[i].sum()))
                for i in range(n)]
        out[name] = torch.cat(rows).view_as(mask)
    return out


def dense_masks(weights: dict[str, torch.Tensor], kinds: dict[str, str]) -> Masks:
    """All-true masks for every prunable-kind weight tensor."""
    return {name: torch.ones_like(weights[name], dtype=torch.bool) for name in kinds}


def percent_remaining(masks: Masks) -> torch.Tensor:
    """P_m of each network in the stack, in percent."""
    alive = sum(m.reshape(m.shape[0], -1).sum(1) for m in masks.values())
    total = sum(m[0].numel() for m in masks.values())
    return 100 * alive.double() / total


def mask_overlap(a: Masks, b: Masks) -> float:
    """The share of the weights ``a`` keeps that ``b`` keeps too, over every layer (1.0: the same
    mask; two random masks of the same per-layer counts share about their density)."""
    kept = sum(int(a[k].sum()) for k in a)
    common = sum(int((a[k] & b[k]).sum()) for k in a)
    return common / kept if kept else 1.0
