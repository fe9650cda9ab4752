"""STEPH (METHOD §4): a hypernetwork mixes the target's task vector with each source's per
bag, keeps the top-k mixtures and merges them. The model is ``models.merged.StephNet``; its
training (regularisers, collapse watch) is ``merging.steph_training``."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

from steph_cli.errors import BadInputError
from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import MergeMethod
from steph_cli.merging.methods.params import Context, Merged
from steph_cli.merging.methods.steph_params import StephParams

if TYPE_CHECKING:
    from torch import nn

    from steph_cli.merging.pool import Pool
    from steph_cli.models.io import ModelFile


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
