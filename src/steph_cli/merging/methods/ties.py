"""TIES-merging (Yadav et al., NeurIPS 2023) of the target's task vector with each source's.

For every pair (τ_t, τ_s): trim each vector to its ``density`` share of largest-magnitude
entries, elect each entry's sign as the sign of the trimmed sum, and average the entries
that agree with it (a disjoint mean). The M merged pairs are then combined with learned
weights, as ``ada``.
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
class TiesParams(LearnedParams):
    density: float = param(0.2, "share of largest-magnitude entries kept", low=0.0, high=1.0)


@register
class Ties(WeightedRows):
    name = "ties"
    summary = "TIES of (τ_t, τ_s) pairs, learned weights + new head"
    Params = TiesParams

    def rows(self, pool: Pool, params: TiesParams) -> torch.Tensor:
        from steph_cli.merging.algebra import ties_pairs

        return ties_pairs(pool, params.density)
