"""ada: θ = θ_init + Σ_i w_i τ_{s_i} with learnable scalar weights (initialised 1/M) and a
new head, trained like STEPH."""

from __future__ import annotations

from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import WeightedRows
from steph_cli.merging.methods.params import LearnedParams

if TYPE_CHECKING:
    import torch

    from steph_cli.merging.pool import Pool


@register
class Ada(WeightedRows):
    name = "ada"
    summary = "learned scalar weight per source task vector + new head"

    def rows(self, pool: Pool, params: LearnedParams) -> torch.Tensor:
        return pool.source_vectors
