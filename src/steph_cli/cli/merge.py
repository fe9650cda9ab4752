"""``steph merge``: a better target model from the target's and other cancers' task vectors."""

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
    warn,
)
from steph_cli.merging.options import HEAD_INITS, WEIGHT_ACTIVATIONS, MergeOptions
from steph_cli.training.config import MERGE_LR, ArchOptions, TrainConfig

if TYPE_CHECKING:
    from steph_cli.merging.run import MergeResult
    from steph_cli.tasks.graph import Report
    from steph_cli.workspace.paths import Workspace

MERGE_PANEL = "Merging"


def _methods(ctx: typer.Context, incomplete: str) -> list[str]:
    from steph_cli.merging import methods

    return [m for m in methods.names() if m.startswith(incomplete)]


@command
def merge(
    state: State,
    target: Annotated[
        str,
        typer.Option(
            help="Target cohort, or all (each cohort in turn, the others as sources).",
            autocompletion=completion.cohorts_or_all,
        ),
    ],
    sources: Annotated[
        str,
        typer.Option(
            help="all (every other cohort) or a list like A,B,C.",
            autocompletion=completion.cohort_lists,
        ),
    ] = "all",
    method: Annotated[
        str,
        typer.Option(
            help="steph, ada, task-arithmetic, ties, iso-c or iso-cts.", autocompletion=_methods
        ),
    ] = "steph",
    fold: opt.Fold = None,
    folds: opt.Folds = "all",
    source_fold: Annotated[
        int, typer.Option(help="Fold of the source experts.", rich_help_panel=MERGE_PANEL)
    ] = 0,
    gamma: Annotated[
        float, typer.Option(help="task-arithmetic: θ_t + γ Σ τ_s.", rich_help_panel=MERGE_PANEL)
    ] = 0.3,
    density: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="ties: share of entries kept.", rich_help_panel=MERGE_PANEL
        ),
    ] = 0.2,
    common_fraction: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="iso-cts: common-subspace share.", rich_help_panel=MERGE_PANEL
        ),
    ] = 0.8,
    top_k: Annotated[
        int,
        typer.Option(min=1, help="steph: mixtures selected per bag.", rich_help_panel=MERGE_PANEL),
    ] = 5,
    beta_w: Annotated[
        float,
        typer.Option(help="steph: z-loss + load-balance weight.", rich_help_panel=MERGE_PANEL),
    ] = 0.0,
    beta_lambda: Annotated[
        float, typer.Option(help="steph: L2 on the mixup shares.", rich_help_panel=MERGE_PANEL)
    ] = 0.05,
    weight_activation: Annotated[
        str,
        typer.Option(
            help=f"steph: weight-head output ({', '.join(WEIGHT_ACTIVATIONS)}).",
            rich_help_panel=MERGE_PANEL,
        ),
    ] = "softplus",
    weight_bias: Annotated[
        float | None,
        typer.Option(
            help="steph: initial bias of the weight head's output [default: act⁻¹(1/k), so "
            "the selected weights start summing to 1].",
            rich_help_panel=MERGE_PANEL,
        ),
    ] = None,
    head_init: Annotated[
        str,
        typer.Option(
            help="Learned merges: the new head starts as the target expert's (target) or "
            "freshly initialised (fresh).",
            rich_help_panel=MERGE_PANEL,
        ),
    ] = "target",
    epochs: opt.Epochs = 20,
    lr: Annotated[
        float,
        typer.Option(
            help="Peak learning rate of learned merges (10× the experts'; docs/merging.md).",
            rich_help_panel=opt.TRAIN_PANEL,
        ),
    ] = MERGE_LR,
    weight_decay: opt.WeightDecay = 1e-5,
    accumulate: opt.Accumulate = 16,
    warmup_epochs: opt.WarmupEpochs = 1,
    alpha_u: opt.AlphaU = 0.5,
    force: Annotated[bool, typer.Option(help="Redo merges that already exist.")] = False,
    train_missing: Annotated[
        bool,
        typer.Option(
            help="Train the experts the merges need where missing (default expert settings) "
            "instead of refusing.",
            rich_help_panel=tasks_cli.PANEL,
        ),
    ] = False,
    executor: tasks_cli.ExecutorOpt = "local",
    ray_address: tasks_cli.RayAddressOpt = None,
    cpus_per_task: tasks_cli.CpusPerTaskOpt = 1,
) -> None:
    """Merge task vectors into an improved target model: merged/TARGET/METHOD/fold{K}.safetensors.

    The target expert of each fold is merged with the source experts (fold --source-fold);
    learned methods train on the fold's train patients of the target. Each merged model is
    evaluated on the fold's test patients and compared with the target's expert.

    The work is a task graph — experts (only with --train-missing) → task vectors (written to
    vectors/) → merges — run in order here or in parallel with --executor ray.
    """
    from steph_cli.merging import methods
    from steph_cli.workspace import settings

    ws = state.ws
    chosen = methods.get(method)
    if weight_activation not in WEIGHT_ACTIVATIONS:
        raise typer.BadParameter(
            f"use one of {', '.join(WEIGHT_ACTIVATIONS)}", param_hint="--weight-activation"
        )
    if head_init not in HEAD_INITS:
        raise typer.BadParameter(f"use one of {', '.join(HEAD_INITS)}", param_hint="--head-init")
    plans = plan(ws, target, sources, fold, folds, source_fold, check_experts=not train_missing)
    seed = state.seed if state.seed is not None else settings.ensure(ws).seed
    config = TrainConfig(epochs, lr, weight_decay, accumulate, warmup_epochs, alpha_u, seed)
    options = MergeOptions(
        gamma,
        density,
        common_fraction,
        top_k,
        beta_w,
        beta_lambda,
        weight_activation,
        weight_bias,
        head_init,
    )
    execution = tasks_cli.Execution(executor, ray_address, cpus_per_task)
    results, report = merge_all(
        state, plans, chosen.name, options, config, source_fold, force, execution, train_missing
    )
    if state.json:
        emit_json([as_json(r) for r in results])
    else:
        show(results)
    tasks_cli.raise_if_failed(report)


def plan(
    ws: "Workspace",
    target: str,
    sources: str,
    fold: int | None,
    folds: str,
    source_fold: int,
    check_experts: bool = True,
) -> list[tuple[str, list[str], int]]:
    """(target, sources, fold) of every merge asked for; every refusal before any work.

    Without ``check_experts`` (experts still to be trained) the experts are checked by each
    merge task when it runs.
    """
    from steph_cli.merging import run as lib
    from steph_cli.workspace import selection

    plans = []
    for name in selection.cohorts(ws, target):
        names = lib.resolve_sources(ws, name, sources if target != "all" else "all")
        for k in selection.folds(ws, name, fold, folds):
            if check_experts:
                lib.load_pool(ws, name, names, k, source_fold)
            plans.append((name, names, k))
    return plans


def merge_all(
    state: State,
    plans: list[tuple[str, list[str], int]],
    method: str,
    options: MergeOptions,
    config: TrainConfig,
    source_fold: int = 0,
    force: bool = False,
    execution: tasks_cli.Execution = tasks_cli.Execution(),
    train_missing: bool = False,
) -> tuple[list["MergeResult"], "Report"]:
    """The graph experts → vectors → merges, here or on Ray; used by `merge` and `demo`.

    Experts are trained only where missing and ``train_missing`` (with the default expert
    settings); vectors are (re)written when stale; the merges wait for both.
    """
    from steph_cli.merging.run import MergeResult
    from steph_cli.tasks import jobs

    device = execution.device(state.device)
    expert_defaults = (TrainConfig(seed=config.seed), ArchOptions()) if train_missing else None
    tasks = jobs.merge_tasks(
        state.ws, plans, method, options, config, device, source_fold, force, expert_defaults
    )
    note(state, f"{method}: {len(plans)} merge(s) on {device} ({execution.executor} executor)")
    cohorts = sorted({c for t, s, _ in plans for c in (t, *s)})
    arch = expert_defaults[1] if expert_defaults else None
    report = tasks_cli.run(state, tasks, execution, device, config.epochs, cohorts, arch)
    results = [r for r in report.results() if isinstance(r, MergeResult)]
    for result in results:
        if result.skipped:
            note(state, f"{result.target} fold {result.fold}: {method} merge exists, skipped")
        for message in result.notes:
            warn(message)
    return results, report


def as_json(r: "MergeResult") -> dict[str, object]:
    return {
        "target": r.target,
        "method": r.method,
        "fold": r.fold,
        "path": str(r.path),
        "skipped": r.skipped,
        "test_harrell_cindex": r.test_cindex,
        "reason": r.test_cindex_reason,
        "expert_harrell_cindex": r.expert_cindex,
        "sources": r.sources,
        "source_stats": r.source_stats,
        "seconds": round(r.seconds, 3),
        "run": str(r.run_dir) if r.run_dir else None,
    }


def show(results: list["MergeResult"]) -> None:
    rows = []
    for r in results:
        delta = (
            r.test_cindex - r.expert_cindex
            if r.test_cindex is not None and r.expert_cindex is not None
            else None
        )
        rows.append(
            [
                r.target,
                r.fold,
                r.method,
                fmt(r.test_cindex) or r.test_cindex_reason,
                fmt(r.expert_cindex),
                None if delta is None else f"{delta:+.3f}",
                "skipped" if r.skipped else f"{r.seconds:.1f}",
            ]
        )
    columns = ["target", "fold", "method", "test C-index", "expert", "Δ", "s"]
    out.print(table("merged vs. target expert (Harrell's C, test split)", columns, rows))
    stats: dict[str, dict[str, list[float]]] = {}
    for r in results:
        for source, values in r.source_stats.items():
            for key, value in values.items():
                stats.setdefault(source, {}).setdefault(key, []).append(value)
    if stats:
        keys = sorted({k for v in stats.values() for k in v})
        rows = [
            [s, *(fmt(sum(v[k]) / len(v[k])) if k in v else None for k in keys)]
            for s, v in sorted(stats.items(), key=lambda kv: -sum(kv[1].get(keys[0], [0])))
        ]
        out.print(table("sources (mean over merges)", ["source", *keys], rows))
