"""Routing (ROUPKT-style, the paper's strongest competitor): the target's and every
source's expert run on each bag and a learned router on the bag embedding mixes their
hazards per patient. Nothing is merged: inference costs M + 1 expert forwards, where a
STEPH model costs one embedding and one expert forward (both reported by ``merge``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import MergeMethod
from steph_cli.merging.methods.params import Context, Merged, MethodParams

if TYPE_CHECKING:
    from torch import nn

    from steph_cli.merging.pool import Pool
    from steph_cli.models.io import ModelFile
    from steph_cli.models.merged import RoutingNet


@register
class Routing(MergeMethod):
    name = "routing"
    summary = "every expert runs; a learned router mixes their hazards per patient"
    learned = True

    def merge(self, pool: Pool, params: MethodParams, ctx: Context) -> Merged:
        from steph_cli.merging.learned import fit_merged
        from steph_cli.models.merged import RoutingNet

        experts = [pool.target.state, *(m.state for m in pool.sources)]
        model = RoutingNet(pool.arch, experts, ctx.config.run_seed)
        names = [pool.target.cohort, *pool.names]
        history = fit_merged(model, lambda bag: (model(bag), None, {}), ctx, self.name)
        gates = _mean_gates(model, ctx)
        stats = {n: {"weight": g} for n, g in zip(names, gates, strict=True)}
        tensors = {k: v.detach() for k, v in model.state_dict().items()}
        return Merged(model, tensors, stats, history, {"experts": len(experts)})

    def load(self, model_file: ModelFile) -> nn.Module:
        from steph_cli.models.abmil import ABMIL
        from steph_cli.models.merged import RoutingNet

        count = int(model_file.meta.get("experts", "0"))
        template = ABMIL(model_file.arch).state_dict()
        model = RoutingNet(model_file.arch, [template] * count, seed=0)
        model.load_state_dict(model_file.tensors)
        return model


def _mean_gates(model: RoutingNet, ctx: Context) -> list[float]:
    """The router's mean weight of each expert over the target's training patients."""
    import torch

    data = ctx.data
    with torch.no_grad():
        gates = [model.gates(data.store.tensor(p, data.device)) for p in data.train.patients]
    return [float(g) for g in torch.stack(gates).mean(0)]
