"""Iso-C (Marczak et al., ICML 2025): isotropic merging of the target with each source.

For every weight matrix, the pair's summed update Δ = τ_t + τ_s is replaced by σ̄ U Vᵀ, where
U Σ Vᵀ is its SVD and σ̄ the mean singular value: the same update directions with a flat
spectrum, so no direction dominates. Vectors (biases) are summed. The M pairs are then
combined with learned weights, as ``ada``.
"""

from collections.abc import Callable

import torch

from steph_cli.merging.layout import Layout
from steph_cli.merging.methods import register
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool

# (target rows [M, out, in], source rows [M, out, in]) -> merged [M, out, in]
MatrixMerge = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def isotropic(delta: torch.Tensor) -> torch.Tensor:
    """σ̄ U Vᵀ of each matrix in a batch [..., out, in]."""
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    return s.mean(-1)[..., None, None] * (u @ vh)


def pairwise(pool: Pool, merge_matrix: MatrixMerge) -> torch.Tensor:
    """Apply ``merge_matrix`` to every 2-D parameter of all (τ_t, τ_s) pairs at once; sum the
    pairs' other parameters. Returns the merged rows [M, P]."""
    layout: Layout = pool.layout
    sources = pool.source_vectors
    target = pool.target_vector.expand_as(sources)
    t_parts, s_parts = layout.unflatten(target), layout.unflatten(sources)
    matrices = set(layout.matrices())
    merged = {
        k: merge_matrix(t_parts[k], s_parts[k]) if k in matrices else t_parts[k] + s_parts[k]
        for k in layout.keys
    }
    return torch.cat([merged[k].reshape(len(sources), -1) for k in layout.keys], dim=1)


@register("iso-c", "scalar", "isotropic (flat-spectrum) (τ_t + τ_s) pairs, learned weights")
def build(pool: Pool, options: MergeOptions) -> torch.Tensor:
    return pairwise(pool, lambda t, s: isotropic(t + s))
