"""Iso-CTS (Marczak et al., ICML 2025): isotropic merging in common and task-specific subspaces.

For every weight matrix of a (τ_t, τ_s) pair: keep the top ``common_fraction`` of the singular
directions of Δ = τ_t + τ_s (the common subspace); give each of the two task matrices an equal
share of the remaining rank, taken from the top singular directions of what the common
subspace does not explain; orthonormalise the joined bases; and give every direction the
same singular value, the mean of the kept ones. Biases are summed. The M pairs are then
combined with learned weights, as ``ada``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import WeightedRows
from steph_cli.merging.methods.params import LearnedParams, param

if TYPE_CHECKING:
    import torch

    from steph_cli.merging.pool import Pool


@dataclass(frozen=True)
class IsoCTSParams(LearnedParams):
    common_fraction: float = param(
        0.8, "share of the rank kept for the common subspace", low=0.0, high=1.0
    )


@register
class IsoCTS(WeightedRows):
    name = "iso-cts"
    summary = "Iso-CTS of (τ_t, τ_s) pairs, learned weights + new head"
    Params = IsoCTSParams

    def rows(self, pool: Pool, params: IsoCTSParams) -> torch.Tensor:
        from steph_cli.merging.algebra import iso_cts, pairwise

        return pairwise(pool, lambda t, s: iso_cts([t, s], params.common_fraction))
