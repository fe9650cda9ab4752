"""``steph train``: cancer-specific ABMIL experts from the workspace's shared initialisation."""

from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli import options as opt
from steph_cli.cli.common import (
    State,
    command,
    emit_json,
    fmt,
    note,
    out,
    table,
    training_progress,
)
from steph_cli.training.config import ArchOptions, TrainConfig

if TYPE_CHECKING:
    from steph_cli.training.expert import ExpertResult

ARCH_PANEL = "Architecture"


@command
def train(
    state: State,
    cancer: Annotated[
        str,
        typer.Option(help="Cohort to train, or all.", autocompletion=completion.cohorts_or_all),
    ],
    fold: opt.Fold = None,
    folds: opt.Folds = "all",
    epochs: opt.Epochs = 20,
    lr: opt.Lr = 1e-4,
    weight_decay: opt.WeightDecay = 1e-5,
    accumulate: opt.Accumulate = 16,
    warmup_epochs: opt.WarmupEpochs = 1,
    alpha_u: opt.AlphaU = 0.5,
    embed_dim: Annotated[int, typer.Option(min=1, help="E.", rich_help_panel=ARCH_PANEL)] = 512,
    attn_dim: Annotated[int, typer.Option(min=1, help="A.", rich_help_panel=ARCH_PANEL)] = 384,
    dropout: Annotated[float, typer.Option(rich_help_panel=ARCH_PANEL)] = 0.25,
    time_bins: Annotated[
        int | None,
        typer.Option(min=2, help="T [default: the workspace's, 32].", rich_help_panel=ARCH_PANEL),
    ] = None,
    max_time_days: Annotated[
        float | None,
        typer.Option(help="Bins span [0, this] [default: 11680].", rich_help_panel=ARCH_PANEL),
    ] = None,
    force: Annotated[bool, typer.Option(help="Retrain experts that already exist.")] = False,
) -> None:
    """Train the cancer-specific expert(s): experts/NAME/fold{K}.safetensors.

    Every expert starts from the workspace's shared initialisation (init.safetensors), so
    that task vectors of different cancers are comparable. Finished experts are skipped
    unless --force.
    """
    from steph_cli.training import expert as lib
    from steph_cli.workspace import selection, settings

    ws = state.ws
    names = selection.cohorts(ws, cancer)
    jobs = [(name, k) for name in names for k in selection.folds(ws, name, fold, folds)]
    lib.check_bins(ws, time_bins, max_time_days)
    workspace_seed = settings.ensure(ws, seed=state.seed).seed
    seed = state.seed if state.seed is not None else workspace_seed
    config = TrainConfig(epochs, lr, weight_decay, accumulate, warmup_epochs, alpha_u, seed)
    results = train_all(state, jobs, config, ArchOptions(embed_dim, attn_dim, dropout), force)
    if state.json:
        emit_json([as_json(r) for r in results])
        return
    rows = [
        [
            r.cohort,
            r.fold,
            "skipped" if r.skipped else "trained",
            fmt(r.final_loss, 4),
            fmt(r.test_cindex) or r.test_cindex_reason,
            f"{r.seconds:.1f}",
        ]
        for r in results
    ]
    out.print(table(None, ["cohort", "fold", "status", "final loss", "test C-index", "s"], rows))


def as_json(r: "ExpertResult") -> dict[str, object]:
    return {
        "cohort": r.cohort,
        "fold": r.fold,
        "path": str(r.path),
        "skipped": r.skipped,
        "final_loss": r.final_loss,
        "test_harrell_cindex": r.test_cindex,
        "reason": r.test_cindex_reason,
        "seconds": round(r.seconds, 3),
        "run": str(r.run_dir) if r.run_dir else None,
    }


def train_all(
    state: State,
    jobs: list[tuple[str, int]],
    config: TrainConfig,
    arch: ArchOptions,
    force: bool = False,
) -> list["ExpertResult"]:
    """Train each (cohort, fold) in turn with one progress bar; used by `train` and `demo`."""
    from steph_cli import device as devices
    from steph_cli.training import expert as lib

    device = devices.resolve(state.device)
    note(state, f"training {len(jobs)} expert(s) on {device}")
    results = []
    with training_progress(state, config.epochs) as hooks:
        for name, k in jobs:
            result = lib.train_expert(state.ws, name, k, config, arch, device, force, hooks)
            if result.skipped:
                note(state, f"{name} fold {k}: expert exists, skipped (use --force to retrain)")
            results.append(result)
    return results
