"""Iso-C (Marczak et al., ICML 2025): isotropic merging of the target with each source.

For every weight matrix, the pair's summed update Δ = τ_t + τ_s is replaced by σ̄ U Vᵀ, where
U Σ Vᵀ is its SVD and σ̄ the mean singular value: the same update directions with a flat
spectrum, so no direction dominates. Vectors (biases) are summed. The M pairs are then
combined with learned weights, as ``ada``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import WeightedRows
from steph_cli.merging.methods.params import LearnedParams

if TYPE_CHECKING:
    import torch

    from steph_cli.merging.pool import Pool


@register
class IsoC(WeightedRows):
    name = "iso-c"
    summary = "isotropic (flat-spectrum) (τ_t + τ_s) pairs, learned weights + new head"

    def rows(self, pool: Pool, params: LearnedParams) -> torch.Tensor:
        from steph_cli.merging.algebra import isotropic, pairwise

        return pairwise(pool, lambda t, s: isotropic(t + s))
