"""``steph train``: cancer-specific ABMIL experts from the workspace's shared initialisation."""

from typing import Annotated

import typer

from steph_cli import device as devices
from steph_cli.cli import completion
from steph_cli.cli.common import State, command, emit_json, fmt, note, out, progress, table
from steph_cli.training import expert as lib
from steph_cli.training.loop import TrainConfig
from steph_cli.workspace import selection, settings

TRAIN_PANEL = "Training (METHOD §2 defaults)"
ARCH_PANEL = "Architecture"


@command
def train(
    state: State,
    cancer: Annotated[
        str,
        typer.Option(help="Cohort to train, or all.", autocompletion=completion.cohorts_or_all),
    ],
    fold: Annotated[int | None, typer.Option(help="One fold.")] = None,
    folds: Annotated[str, typer.Option(help="all, or fold numbers like 0,2,4.")] = "all",
    epochs: Annotated[int, typer.Option(min=1, rich_help_panel=TRAIN_PANEL)] = 20,
    lr: Annotated[
        float, typer.Option(help="Peak learning rate.", rich_help_panel=TRAIN_PANEL)
    ] = 1e-4,
    weight_decay: Annotated[
        float,
        typer.Option(help="AdamW weight decay (none on biases).", rich_help_panel=TRAIN_PANEL),
    ] = 1e-5,
    accumulate: Annotated[
        int, typer.Option(min=1, help="Bags per update.", rich_help_panel=TRAIN_PANEL)
    ] = 16,
    warmup_epochs: Annotated[
        int,
        typer.Option(
            min=0, help="Linear warm-up before cosine decay.", rich_help_panel=TRAIN_PANEL
        ),
    ] = 1,
    alpha_u: Annotated[
        float,
        typer.Option(help="Extra weight of the uncensored NLL term.", rich_help_panel=TRAIN_PANEL),
    ] = 0.5,
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
    ws = state.ws
    names = selection.cohorts(ws, cancer)
    jobs = [(name, k) for name in names for k in selection.folds(ws, name, fold, folds)]
    lib.check_bins(ws, time_bins, max_time_days)
    seed = state.seed if state.seed is not None else settings.ensure(ws).seed
    config = TrainConfig(epochs, lr, weight_decay, accumulate, warmup_epochs, alpha_u, seed)
    results = train_all(state, jobs, config, lib.ArchOptions(embed_dim, attn_dim, dropout), force)
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


def as_json(r: lib.ExpertResult) -> dict[str, object]:
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
    arch: lib.ArchOptions,
    force: bool = False,
) -> list[lib.ExpertResult]:
    """Train each (cohort, fold) in turn with one progress bar; used by `train` and `demo`."""
    device = devices.resolve(state.device)
    note(state, f"training {len(jobs)} expert(s) on {device}")
    results = []
    with progress(state) as bar:
        task = bar.add_task("", total=None, info="")

        def on_start(description: str, total: int) -> None:
            bar.reset(task, total=total, description=description, info="")

        def on_epoch(record: dict[str, float]) -> None:
            info = f"epoch {record['epoch']:.0f}/{config.epochs} loss {record['loss']:.4f}"
            bar.update(task, info=info)

        hooks = lib.Progress(on_start, lambda: bar.advance(task), on_epoch)
        for name, k in jobs:
            result = lib.train_expert(state.ws, name, k, config, arch, device, force, hooks)
            if result.skipped:
                note(state, f"{name} fold {k}: expert exists, skipped (use --force to retrain)")
            results.append(result)
    return results
