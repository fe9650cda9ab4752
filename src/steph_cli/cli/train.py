"""``steph train``: cancer-specific ABMIL experts from the workspace's shared initialisation."""

from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli import options as opt
from steph_cli.cli import tasks as tasks_cli
from steph_cli.cli.common import (
    State,
    command,
    emit_json,
    fmt,
    note,
    out,
    table,
)
from steph_cli.training.config import ArchOptions, TrainConfig

if TYPE_CHECKING:
    from steph_cli.tasks.graph import Report
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
    executor: tasks_cli.ExecutorOpt = "local",
    ray_address: tasks_cli.RayAddressOpt = None,
    cpus_per_task: tasks_cli.CpusPerTaskOpt = 1,
) -> None:
    """Train the cancer-specific expert(s): experts/NAME/fold{K}.safetensors.

    Every expert starts from the workspace's shared initialisation (init.safetensors), so
    that task vectors of different cancers are comparable. Finished experts are skipped
    unless --force. Each (cohort, fold) is one task: a failing one is retried once, then
    reported (exit 1) with the others kept; --executor ray runs them in parallel on Ray.
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
    arch = ArchOptions(embed_dim, attn_dim, dropout)
    execution = tasks_cli.Execution(executor, ray_address, cpus_per_task)
    report = train_all(state, jobs, config, arch, force, execution)
    results = report.results()
    if state.json:
        emit_json([as_json(r) for r in results])
        tasks_cli.raise_if_failed(report)
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
    tasks_cli.raise_if_failed(report)


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
    execution: tasks_cli.Execution = tasks_cli.Execution(),
) -> "Report":
    """Train each (cohort, fold) as one task, here or on Ray; used by `train` and `demo`."""
    from steph_cli.tasks import jobs as task_jobs

    device = execution.device(state.device)
    note(state, f"training {len(jobs)} expert(s) on {device} ({execution.executor} executor)")
    tasks = task_jobs.train_tasks(state.ws, jobs, config, arch, device, force)
    cohorts = sorted({name for name, _ in jobs})
    report = tasks_cli.run(state, tasks, execution, device, config.epochs, cohorts, arch)
    for result in report.results():
        if result.skipped:
            note(state, f"{result.cohort} fold {result.fold}: expert exists, skipped (--force)")
    return report
