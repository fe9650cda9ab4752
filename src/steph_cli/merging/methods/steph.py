"""STEPH (METHOD §4): a hypernetwork mixes the target's task vector with each source's per
bag, keeps the top-k mixtures and merges them. The model is ``models.merged.StephNet``; its
training (regularisers, collapse watch) is ``merging.steph_training``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import Context, LearnedParams, Merged, MergeMethod, param

if TYPE_CHECKING:
    from torch import nn

    from steph_cli.merging.pool import Pool
    from steph_cli.models.io import ModelFile

WEIGHT_ACTIVATIONS = ("relu", "softplus", "sigmoid")


@dataclass(frozen=True)
class StephParams(LearnedParams):
    top_k: int = param(5, "mixtures selected per bag", low=1)
    beta_w: float = param(0.0, "weight of the z-loss + load-balance term on w", low=0.0)
    beta_lambda: float = param(0.05, "weight of the L2 term on the mixup shares λ", low=0.0)
    weight_activation: str = param(
        "softplus", "output activation of the weight head", choices=WEIGHT_ACTIVATIONS
    )
    weight_bias: float | None = param(
        None, "initial bias of the weight head's output [default: act⁻¹(1/k): Σ_K w starts at 1]"
    )


@register
class Steph(MergeMethod):
    name = "steph"
    summary = "hypernetwork-driven sparse mixup of target and source task vectors"
    Params = StephParams
    learned = True

    def merge(self, pool: Pool, params: StephParams, ctx: Context) -> Merged:
        from steph_cli.merging.steph_training import train_steph

        return train_steph(pool, params, ctx)

    def load(self, model_file: ModelFile) -> nn.Module:
        """A self-contained STEPH file: hypernetwork, head, θ_init and task vectors."""
        import torch

        from steph_cli.errors import BadInputError
        from steph_cli.models.abmil import ABMIL, ENCODER_KEYS
        from steph_cli.models.layout import Layout
        from steph_cli.models.merged import StephNet

        recorded = dict(model_file.json("merge_options") or {})  # type: ignore[call-overload]
        known = {f.name for f in fields(self.Params)}
        params = self.params({k: v for k, v in recorded.items() if k in known})
        sources = list(model_file.json("sources") or [])  # type: ignore[call-overload]
        arch = model_file.arch
        layout = Layout.of(ABMIL(arch).state_dict(), list(ENCODER_KEYS))
        empty = torch.zeros(layout.size)
        model = StephNet(
            arch,
            layout,
            empty,
            empty,
            torch.zeros(len(sources), layout.size),
            params.top_k,
            params.weight_activation,
            seed=0,
        )
        missing, unexpected = model.load_state_dict(model_file.tensors, strict=False)
        if unexpected or any(not k.startswith("body.") for k in missing):
            raise BadInputError(
                f"{model_file.path}: not a complete STEPH model ({missing + unexpected})"
            )
        model.stack_rows()
        return model
