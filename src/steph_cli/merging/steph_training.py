"""Training a STEPH merge (METHOD §4): the loss terms on the merging weights and mixup
shares, the per-epoch log of what the hypernetwork chose, and the watch for collapse."""

import torch

from steph_cli.merging.learned import fit_merged
from steph_cli.merging.methods.params import Context, Merged
from steph_cli.merging.methods.steph_params import StephParams
from steph_cli.merging.pool import Pool
from steph_cli.models.merged import StephNet, build_steph
from steph_cli.models.packed import packable, steph_grouped, steph_mixing, steph_packed
from steph_cli.training.fold import Forward, PackedForward

# An epoch whose mean Σ_{i∈K} w_i is below this has collapsed: the merge adds under 1% of one
# task vector to θ_init (by default the weights start summing to 1; exact zeros only happen
# with a ReLU output).
COLLAPSE_BELOW = 0.01


def regularisers(
    w: torch.Tensor, lam: torch.Tensor, top: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z-loss + load balance on w, mean λ² over the selected) per bag (w, λ: [..., M], top:
    [..., k]).

    z-loss (logsumexp_i w_i)² plus Σ_i w_i d_i with d_i = 1/k for the selected i, else 0.
    """
    balance = torch.logsumexp(w, dim=-1) ** 2 + w.gather(-1, top).sum(-1) / k
    return balance, (lam.gather(-1, top) ** 2).mean(-1)


def forwards(
    model: StephNet, names: list[str], params: StephParams
) -> tuple[Forward, PackedForward | None]:
    """The training forwards of ``model``, per bag and packed (None where the packed forward
    does not cover the model's scope): logits, the regularisers as extra loss, and the
    weights, shares and selections to log."""

    def losses(
        w: torch.Tensor, lam: torch.Tensor, top: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Each bag's extra loss [B] and the terms to log summed over the B bags."""
        balance, shares = regularisers(w, lam, top, model.k)
        selected = torch.zeros_like(w).scatter(1, top, 1.0)
        terms = {
            "balance": balance.sum().item(),
            "lambda_l2": shares.sum().item(),
            "selected_w": w.gather(1, top).sum().item(),
        }
        for key, values in (("w", w), ("lambda", lam), ("selected", selected)):
            sums = values.detach().sum(0).tolist()
            terms |= {f"{key}:{name}": v for name, v in zip(names, sums, strict=True)}
        return params.beta_w * balance + params.beta_lambda * shares, terms

    def forward(bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        w, lam, top = model.mixing(bag)
        logits = model.run(model.encoder(w, lam, top), bag)
        extra, terms = losses(w[None], lam[None], top[None])
        return logits, extra[0], terms

    def forward_group(
        bags: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        mixing = steph_mixing(model, bags)
        # Batched products of padded bags pay on accelerators; CPUs keep each bag's fused node.
        logits_of = steph_grouped if bags[0].device.type == "cpu" else steph_packed
        return (logits_of(model, bags, mixing), *losses(*mixing))

    return forward, forward_group if packable(model) else None


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
    forward, forward_group = forwards(model, names, params)
    collapsed: list[int] = []

    def check_collapse(record: dict[str, float]) -> dict[str, float]:
        if record["selected_w"] < COLLAPSE_BELOW:
            collapsed.append(int(record["epoch"]))
        return record

    history = fit_merged(
        model,
        forward,
        ctx,
        f"{pool.target.cohort} steph",
        check_collapse,
        packed=forward_group if ctx.data.packs() else None,
    )
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
