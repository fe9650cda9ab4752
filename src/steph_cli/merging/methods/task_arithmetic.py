"""Task arithmetic: θ = θ_t + γ Σ_i τ_{s_i} over the encoder, the target's head kept."""

import torch

from steph_cli.merging.methods import register
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool


@register("task-arithmetic", "static", "θ_t + γ Σ τ_s, target head kept; no training")
def build(pool: Pool, options: MergeOptions) -> torch.Tensor:
    target = pool.layout.flatten(pool.target.state)
    return target + options.gamma * pool.source_vectors.sum(0)
