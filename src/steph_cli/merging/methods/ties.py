"""TIES-merging (Yadav et al., NeurIPS 2023) of the target's task vector with each source's.

For every pair (τ_t, τ_s): trim each vector to its ``density`` share of largest-magnitude
entries, elect each entry's sign as the sign of the trimmed sum, and average the entries
that agree with it (a disjoint mean). The M merged pairs are then combined with learned
weights, as ``ada``.
"""

import math

import torch

from steph_cli.merging.methods import register
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool


def trim(vectors: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the ceil(density · P) largest-magnitude entries of each row (last axis)."""
    keep = max(1, math.ceil(density * vectors.shape[-1]))
    threshold = vectors.abs().topk(keep, dim=-1).values[..., -1:]
    return vectors * (vectors.abs() >= threshold)


def ties_merge(vectors: torch.Tensor, density: float) -> torch.Tensor:
    """TIES over the second-to-last axis: [..., K, P] task vectors → [..., P]."""
    trimmed = trim(vectors, density)
    sign = torch.sign(trimmed.sum(-2, keepdim=True))
    agree = (torch.sign(trimmed) == sign) & (trimmed != 0)
    total = (trimmed * agree).sum(-2)
    count = agree.sum(-2).clamp_min(1)
    return total / count


@register("ties", "scalar", "TIES of (τ_t, τ_s) pairs, learned weights + new head")
def build(pool: Pool, options: MergeOptions) -> torch.Tensor:
    sources = pool.source_vectors
    pairs = torch.stack([pool.target_vector.expand_as(sources), sources], dim=1)  # [M, 2, P]
    return ties_merge(pairs, options.density)
