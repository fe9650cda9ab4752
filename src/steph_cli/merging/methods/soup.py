"""soup: a convex mixture of whole experts — the target's and each source's encoder *and
head* — with the mixing shares chosen by how well each expert orders the target's training
patients.

Why it exists (docs/results.md, "Transfer"): STEPH and ada merge the encoder only and learn a
head on the target's patients, so the phenotype → hazard map a source expert learned from its
own cohort never reaches the target; on the transfer benchmark their scores do not move when
the sources' labels are permuted. A source's head is where that map lives. Mixing full task
vectors, θ = θ_init + Σ_i π_i τ_i, keeps one model at inference time.

The shares are stacking weights (a super learner for survival): the Cox partial likelihood
of β Σ_i π_i r_i, where r_i is expert i's risk score of each training patient, maximised
over π on the simplex and β > 0 — by ranking alone, since experts of other cancers need not
share the target's baseline hazard. Experts start from one θ_init and move little from it,
so mixing parameters mixes their outputs to first order, and the shares fitted to the
outputs carry over to the parameters. The target's own expert was fitted to these very
patients and would look better than it is, so its risk scores are cross-fitted: each of five
parts of the training patients is scored by an expert trained (with the target expert's
recorded options) on the other four. A source expert never saw them. With two halves instead,
each stand-in saw half the patients the target's expert did, looked worse than it, and the
shares on a development draw went to other cancers' experts for the cancer with no family.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from steph_cli.merging.methods import register
from steph_cli.merging.methods.base import MergeMethod
from steph_cli.merging.methods.params import Context, Merged, MethodParams, param

if TYPE_CHECKING:
    import numpy as np
    import torch

    from steph_cli.merging.pool import Pool
    from steph_cli.training.fold import FoldData


@dataclass(frozen=True)
class SoupParams(MethodParams):
    ridge: float = param(
        0.01, "L2 penalty on the shares' logits (pulls towards equal shares)", low=0
    )
    crossfit: int = param(5, "parts of the training patients in the target's cross-fitting", low=2)


@register
class Soup(MergeMethod):
    name = "soup"
    summary = (
        "convex mixture of whole experts (encoders and heads), shares by cross-fitted stacking"
    )
    Params = SoupParams
    learned = True

    def merge(self, pool: Pool, params: SoupParams, ctx: Context) -> Merged:
        import numpy as np
        import torch

        from steph_cli.models.abmil import ABMIL
        from steph_cli.models.layout import Layout

        data = replace(ctx.data, val=None)
        train = data.train
        columns = [_cross_fitted(pool, data, params.crossfit, ctx)]
        for member in pool.sources:
            expert = ABMIL(pool.arch)
            expert.load_state_dict(member.state)
            columns.append(data.risks(expert.to(data.device).eval(), train.patients))
        shares = stack_shares(np.stack(columns, 1), train.times, train.events, params.ridge)
        layout = Layout.of(pool.init, list(pool.init))
        base = layout.flatten(pool.init)
        rows = layout.stack([pool.target.state, *(m.state for m in pool.sources)]) - base
        mixed = base + torch.as_tensor(shares, dtype=rows.dtype) @ rows  # one product
        tensors = {k: v.clone() for k, v in layout.unflatten(mixed).items()}
        model = ABMIL(pool.arch)
        model.load_state_dict(tensors)
        names = [pool.target.cohort, *pool.names]
        stats = {n: {"weight": float(w)} for n, w in zip(names, shares, strict=True)}
        ctx.run.log("shares", **{n: float(w) for n, w in zip(names, shares, strict=True)})
        return Merged(model.to(ctx.data.device).eval(), tensors, stats)


def stack_shares(
    risks: np.ndarray, times: np.ndarray, events: np.ndarray, ridge: float
) -> np.ndarray:
    """Shares π on the simplex (and a scale β > 0) maximising Cox's partial likelihood of
    β · risks @ π less ``ridge`` · (‖logits‖² + (log β − log β₀)²), β₀ the scale of the
    equal mixture; ``risks`` [patients, experts]."""
    import numpy as np
    import torch

    from steph_cli.errors import RunFailedError
    from steph_cli.survival.cox import partial_log_likelihood

    r = torch.as_tensor(np.ascontiguousarray(risks, dtype=np.float64))
    r = r - r.mean(0)
    t = torch.as_tensor(np.asarray(times, float))
    e = torch.as_tensor(np.asarray(events))
    logits = torch.zeros(r.shape[1], dtype=torch.float64, requires_grad=True)
    spread = float((r @ torch.full((r.shape[1],), 1.0 / r.shape[1], dtype=torch.float64)).std())
    start = -np.log(max(spread, 1e-12))
    log_beta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [logits, log_beta], max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        mixed = log_beta.exp() * (r @ torch.softmax(logits, 0))
        # the scale is penalised too: where a mixture orders every pair of a few patients
        # correctly, the likelihood grows without bound as β does, and β must stay finite
        penalty = ridge * ((logits**2).sum() + (log_beta - start) ** 2)
        loss = -partial_log_likelihood(mixed, t, e) + penalty
        loss.backward()
        return loss

    optimiser.step(objective)
    shares = torch.softmax(logits.detach(), 0).numpy()
    if not np.isfinite(shares).all():
        raise RunFailedError(
            f"soup: the shares did not converge on {len(t)} training patients; raise --ridge"
        )
    return shares


def _cross_fitted(pool: Pool, data: FoldData, folds: int, ctx: Context) -> np.ndarray:
    """The target's risk score of each training patient from an expert that did not see it:
    the training patients split in ``folds`` (stratified by event and time, as a cohort's
    folds are), an expert trained on all but one part (with the options the target's expert
    was trained with) scoring that part. More parts make each of these experts closer to
    the target's own (trained on every training patient), whose worth they stand in for."""
    import numpy as np

    from steph_cli.models import io
    from steph_cli.models.abmil import ABMIL
    from steph_cli.training.config import TrainConfig
    from steph_cli.training.fold import plain, plain_packed
    from steph_cli.workspace.splits import make_folds

    recorded = io.read(ctx.ws.expert_file(pool.target.cohort, pool.target.fold), kind="expert")
    options = cast(dict[str, Any], recorded.json("training_config") or {})
    config = replace(TrainConfig(**options), val_fraction=0.0, select="last")
    train = data.train
    index = train.index()
    out = np.zeros(len(train))
    for part in make_folds(train, min(folds, len(train)), config.run_seed + data.fold):
        model = ABMIL(pool.arch)
        model.load_state_dict(pool.init)
        model.to(data.device).train()
        part_data = replace(data, train=train.subset(part.train))
        part_data.fit(
            model,
            list(model.named_parameters()),
            plain(model),
            config,
            ctx.run,
            ctx.hooks,
            f"{pool.target.cohort} fold {data.fold}: cross-fitting expert {part.index + 1}",
            packed=plain_packed(model, part_data),
        )
        out[[index[p] for p in part.test]] = data.risks(model, part.test)
    return out
