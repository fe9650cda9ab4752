"""Training learned merges with the shared loop, on the target fold's training patients."""

from collections.abc import Callable

import torch
from torch import nn

from steph_cli.merging.methods.params import Context, LearnedParams, Merged
from steph_cli.merging.pool import Pool
from steph_cli.models.merged import ScalarMerge
from steph_cli.training.fold import FoldData, Forward, PackedForward, plain, plain_packed


def fit_merged(
    model: nn.Module,
    forward: Forward,
    ctx: Context,
    label: str,
    annotate: Callable[[dict[str, float]], dict[str, float]] | None = None,
    data: FoldData | None = None,
    packed: PackedForward | None = None,
) -> list[dict[str, float]]:
    """Train ``model``'s parameters that require gradients on ``data`` (default: the target
    fold's); it is left in eval mode on the fold's device. ``packed``: as ``FoldData.fit``."""
    model.to(ctx.data.device).train()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return (data or ctx.data).fit(
        model,
        trainable,
        forward,
        ctx.config,
        ctx.run,
        ctx.hooks,
        f"{label} fold {ctx.data.fold}",
        annotate=annotate,
        packed=packed,
    )


def train_rows(
    name: str, rows: torch.Tensor, pool: Pool, params: LearnedParams, ctx: Context
) -> Merged:
    """Scalar weights over ``rows`` and a new head (from the target expert's, by default)."""
    head = pool.target.state if params.head_init == "target" else None
    model = ScalarMerge(
        pool.arch, pool.layout, pool.base, rows, seed=ctx.config.run_seed, head=head
    )

    def with_weights(record: dict[str, float]) -> dict[str, float]:
        weights = model.weights.detach().cpu().tolist()
        return {**record, **{f"w:{n}": w for n, w in zip(pool.names, weights, strict=True)}}

    history = fit_merged(
        model,
        plain(model),
        ctx,
        f"{pool.target.cohort} {name}",
        with_weights,
        packed=plain_packed(model, ctx.data),
    )
    weights = model.weights.detach().cpu().tolist()
    stats = {n: {"weight": w} for n, w in zip(pool.names, weights, strict=True)}
    return Merged(model, model.export(model.encoder()), stats, history)
