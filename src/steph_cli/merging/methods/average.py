"""Task-vector averaging: θ = θ_init + mean(τ_t, τ_{s_1}, ..., τ_{s_M}) over the encoder, the
target's head kept; no training. The uniform "soup" of the experts' encoders, the simplest
merge that gives the target no more weight than any source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import StaticMerge
from steph_cli.merging.methods.params import MethodParams

if TYPE_CHECKING:
    import torch

    from steph_cli.merging.pool import Pool


@register
class Average(StaticMerge):
    name = "average"
    summary = "θ_init + mean of the target's and the sources' task vectors; no training"

    def encoder(self, pool: Pool, params: MethodParams) -> torch.Tensor:
        total = pool.target_vector + pool.source_vectors.sum(0)
        return pool.base + total / (len(pool.sources) + 1)
