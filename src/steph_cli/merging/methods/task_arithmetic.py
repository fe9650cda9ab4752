"""Task arithmetic: θ = θ_t + γ Σ_i τ_{s_i} over the encoder, the target's head kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import StaticMerge
from steph_cli.merging.methods.params import MethodParams, param

if TYPE_CHECKING:
    import torch

    from steph_cli.merging.pool import Pool


@dataclass(frozen=True)
class TaskArithmeticParams(MethodParams):
    gamma: float = param(0.3, "scale of the summed source task vectors: θ_t + γ Σ τ_s")


@register
class TaskArithmetic(StaticMerge):
    name = "task-arithmetic"
    summary = "θ_t + γ Σ τ_s, target head kept; no training"
    Params = TaskArithmeticParams

    def encoder(self, pool: Pool, params: TaskArithmeticParams) -> torch.Tensor:
        target = pool.layout.flatten(pool.target.state)
        return target + params.gamma * pool.source_vectors.sum(0)

    def source_stats(self, pool: Pool, params: TaskArithmeticParams) -> dict[str, dict[str, float]]:
        return {name: {"weight": params.gamma} for name in pool.names}
