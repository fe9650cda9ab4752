"""Pooled training: one model trained from θ_init on the target's training patients and the
sources' (their experts' fold), the "just pool the data" answer that merging claims to make
unnecessary. Validation and test patients stay the target's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import MergeMethod
from steph_cli.merging.methods.params import Context, Merged, MethodParams

if TYPE_CHECKING:
    from steph_cli.merging.pool import Pool


@register
class Pooled(MergeMethod):
    name = "pooled"
    summary = "one model trained jointly on the target's and the sources' training patients"
    learned = True
    uses_experts = False  # trains on the sources' patients: null experts change nothing

    def merge(self, pool: Pool, params: MethodParams, ctx: Context) -> Merged:
        from steph_cli.merging.learned import fit_merged
        from steph_cli.models.abmil import ABMIL
        from steph_cli.training import fold as fold_data

        others = [fold_data.load(ctx.ws, m.cohort, m.fold, ctx.data.device) for m in pool.sources]
        data = fold_data.pooled(ctx.data, others)
        model = ABMIL(pool.arch)
        model.load_state_dict(pool.init)
        forward, packed = fold_data.plain(model), fold_data.plain_packed(model, data)
        history = fit_merged(model, forward, ctx, self.name, data=data, packed=packed)
        stats = {d.cohort: {"patients": float(len(d.train))} for d in others}
        return Merged(model, model.state_dict(), stats, history)
