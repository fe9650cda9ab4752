"""Training a STEPH merge (METHOD §4): the loss terms on the merging weights and mixup
shares, the per-epoch log of what the hypernetwork chose, and the watch for collapse."""

import torch

from steph_cli.merging.learned import fit_merged
from steph_cli.merging.methods.base import Context, Merged
from steph_cli.merging.methods.steph import StephParams
from steph_cli.merging.pool import Pool
from steph_cli.models.merged import build_steph

# An epoch whose mean Σ_{i∈K} w_i is below this has collapsed: the merge adds under 1% of one
# task vector to θ_init (by default the weights start summing to 1; exact zeros only happen
# with a ReLU output).
COLLAPSE_BELOW = 0.01


def regularisers(
    w: torch.Tensor, lam: torch.Tensor, top: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z-loss + load balance on w, mean λ² over the selected) for one bag.

    z-loss (logsumexp_i w_i)² plus Σ_i w_i d_i with d_i = 1/k for the selected i, else 0.
    """
    balance = torch.logsumexp(w, dim=0) ** 2 + w[top].sum() / k
    return balance, (lam[top] ** 2).mean()


def train_steph(pool: Pool, params: StephParams, ctx: Context) -> Merged:
    model = build_steph(
        pool.arch,
        params.scope,
        pool.init,
        pool.target.state,
        [m.state for m in pool.sources],
        pool.target.state if params.base == "target" else pool.init,
        params.top_k,
        params.weight_activation,
        ctx.config.run_seed,
        weight_bias=params.weight_bias,
        head=pool.target.state if params.head_init == "target" else None,
        lambda_mode=params.lambda_mode,
        lambda_value=0.5 if params.lambda_value is None else params.lambda_value,
    )
    names = pool.names
    eye = torch.eye(len(names), device=ctx.data.device)

    def forward(bag: torch.Tensor):  # type: ignore[no-untyped-def]
        w, lam, top = model.mixing(bag)
        logits = model.run(model.encoder(w, lam, top), bag)
        balance, shares = regularisers(w, lam, top, model.k)
        extra = params.beta_w * balance + params.beta_lambda * shares
        selected = eye[top].sum(0)
        terms = {
            "balance": balance.item(),
            "lambda_l2": shares.item(),
            "selected_w": w[top].sum().item(),
        }
        for i, name in enumerate(names):
            terms[f"w:{name}"] = w[i].item()
            terms[f"lambda:{name}"] = lam[i].item()
            terms[f"selected:{name}"] = selected[i].item()
        return logits, extra, terms

    collapsed: list[int] = []

    def check_collapse(record: dict[str, float]) -> dict[str, float]:
        if record["selected_w"] < COLLAPSE_BELOW:
            collapsed.append(int(record["epoch"]))
        return record

    history = fit_merged(model, forward, ctx, f"{pool.target.cohort} steph", check_collapse)
    last = history[-1]
    stats = {
        n: {
            "weight": last[f"w:{n}"],
            "lambda": last[f"lambda:{n}"],
            "selected": last[f"selected:{n}"],
        }
        for n in names
    }
    notes = []
    if collapsed:
        ctx.run.log("collapse", epochs=collapsed)
        notes.append(
            f"{pool.target.cohort} fold {ctx.data.fold}: the merging weights collapsed (selected "
            f"weights summed to under {COLLAPSE_BELOW} of a task vector in epochs {collapsed}): "
            "the merged encoder is θ_init and the model only a head on its features. Use the "
            "softplus weight activation, beta_w 0, the target expert's head (head_init target) "
            "or a lower learning rate"
        )
    meta: dict[str, object] = {"top_k": model.k, "collapsed_epochs": collapsed}
    return Merged(model, model.portable(), stats, history, meta, notes)
