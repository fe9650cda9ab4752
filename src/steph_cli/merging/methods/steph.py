"""STEPH (METHOD §4): a hypernetwork mixes the target's task vector with each source's per
bag, keeps the top-k mixtures and merges them. The model is ``models.merged.StephNet``; its
training (regularisers, collapse watch) is ``merging.steph_training``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from steph_cli.errors import BadInputError
from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import Context, LearnedParams, Merged, MergeMethod, param

if TYPE_CHECKING:
    from torch import nn

    from steph_cli.merging.pool import Pool
    from steph_cli.models.io import ModelFile

WEIGHT_ACTIVATIONS = ("relu", "softplus", "sigmoid")
LAMBDA_MODES = ("hyper", "source", "fixed")
BASES = ("init", "target")
SCOPES = ("encoder", "head", "all")


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
    lambda_mode: str = param(
        "hyper",
        "how the mixup shares λ are made: per bag by the hypernetwork, one learned value per "
        "source, or fixed",
        choices=LAMBDA_MODES,
    )
    lambda_value: float | None = param(
        None,
        "λ with lambda mode fixed [default: 0.5]; 0 = input-dependent weights without mixup",
        low=0.0,
        high=1.0,
    )
    base: str = param(
        "init", "what the merge adds to: θ_init (the paper) or the target expert", choices=BASES
    )
    scope: str = param(
        "encoder",
        "the parameters merged: the MIL encoder (the paper), the head, or all of them",
        choices=SCOPES,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lambda_value is not None and self.lambda_mode != "fixed":
            raise BadInputError(
                f"lambda_value = {self.lambda_value} applies to lambda_mode fixed, not "
                f"{self.lambda_mode}"
            )
        if self.scope == "head" and self.base == "init":
            raise BadInputError(
                "scope head with base init would leave the encoder at θ_init; use base target"
            )
        if self.scope != "encoder" and self.head_init != "target":
            raise BadInputError(
                f"head_init {self.head_init} does not apply when the head is merged (scope "
                f"{self.scope})"
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
        """A self-contained STEPH file: hypernetwork, head, base and task vectors."""
        from steph_cli.models.abmil import ABMIL
        from steph_cli.models.merged import build_steph

        recorded = dict(model_file.json("merge_options") or {})  # type: ignore[call-overload]
        known = {f.name for f in fields(self.Params)}
        params = self.params({k: v for k, v in recorded.items() if k in known})
        sources = list(model_file.json("sources") or [])  # type: ignore[call-overload]
        shapes = ABMIL(model_file.arch).state_dict()  # the file fills in every value
        model = build_steph(
            model_file.arch,
            params.scope,
            shapes,
            shapes,
            [shapes] * len(sources),
            shapes,
            params.top_k,
            params.weight_activation,
            seed=0,
            lambda_mode=params.lambda_mode,
            lambda_value=0.5 if params.lambda_value is None else params.lambda_value,
        )
        missing, unexpected = model.load_state_dict(model_file.tensors, strict=False)
        optional = {"fixed_flat"} if not model.fixed_layout.keys else set()  # older files
        if unexpected or any(not k.startswith("body.") and k not in optional for k in missing):
            raise BadInputError(
                f"{model_file.path}: not a complete STEPH model ({missing + unexpected})"
            )
        model.stack_rows()
        return model
