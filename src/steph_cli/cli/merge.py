"""``steph merge``: a better target model from the target's and other cancers' task vectors."""

from typing import Annotated, Any

import typer

from steph_cli.cli import completion, render
from steph_cli.cli import options as opt
from steph_cli.cli.common import State, command, emit_json
from steph_cli.cli.progress import RichHooks
from steph_cli.merging import methods
from steph_cli.merging.controls import CONTROLS
from steph_cli.training.config import MERGE_LR

MERGE_PANEL = "Merging"
EPILOG = (
    "Examples:\n\n"
    "steph merge --target LUSC --sources all\n\n"
    "steph merge --target LUSC --sources BLCA,HNSC --method ties --density 0.3\n\n"
    "steph merge --target all --method task-arithmetic --gamma 0.5 --folds 0,1\n\n"
    "steph merge --target LUSC --control permuted   # transfer, or training?"
)


def _methods(incomplete: str) -> list[str]:
    return [m for m in methods.names() if m.startswith(incomplete)]


@command(extra=opt.method_options(), bundle="method_params")
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
        str, typer.Option(help=f"{', '.join(methods.names())}.", autocompletion=_methods)
    ] = "steph",
    fold: opt.Fold = None,
    folds: opt.Folds = "all",
    source_fold: Annotated[
        int, typer.Option(help="Fold of the source experts.", rich_help_panel=MERGE_PANEL)
    ] = 0,
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
    val_fraction: opt.ValFraction = 0.0,
    select: opt.Select = "last",
    control: Annotated[
        str | None,
        typer.Option(
            help="Make the same merge from null sources, as METHOD-control-KIND: permuted "
            "(each source's expert retrained on permuted labels), none (no source: the "
            "target's own task vector), self (copies of the target). evaluate reports real − "
            "control.",
            **completion.one_of(*CONTROLS),
            rich_help_panel=MERGE_PANEL,
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Redo merges that already exist.", metavar="")
    ] = False,
    train_missing: Annotated[
        bool,
        typer.Option(
            "--train-missing",
            help="Train the experts the merges need where missing (the experts' learning rate, "
            "this merge's epochs, accumulation, validation and seed) instead of refusing.",
            rich_help_panel=opt.EXECUTION_PANEL,
            metavar="",
        ),
    ] = False,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    cpus_per_task: opt.CpusPerTask = 1,
    jobs: opt.Jobs = 1,
    threads: opt.Threads = None,
    method_params: dict[str, Any] | None = None,
) -> None:
    """Merge task vectors into an improved target model: merged/TARGET/METHOD/fold{K}.safetensors.

    The target expert of each fold is merged with the source experts (fold --source-fold);
    learned methods train on the fold's train patients of the target. Each merged model is
    evaluated on the fold's test patients and compared with the target's expert. A method's
    parameters apply to that method only; giving another method's is refused.

    The work is a task graph — experts (only with --train-missing) → task vectors (written to
    vectors/) → merges — run in order here or in parallel with --executor ray.
    """
    from steph_cli import api
    from steph_cli.merging.run import MergeResult
    from steph_cli.tasks.execution import Execution
    from steph_cli.training.config import TrainConfig
    from steph_cli.training.expert import ExpertResult

    given = {k: v for k, v in (method_params or {}).items() if v is not None}
    config = TrainConfig(
        epochs,
        lr,
        weight_decay,
        accumulate,
        warmup_epochs,
        alpha_u,
        state.seed,
        val_fraction,
        select,
    )
    execution = Execution(executor, ray_address, cpus_per_task, jobs, threads)
    with RichHooks(state) as hooks:
        report = api.merge(
            state.ws,
            target,
            sources,
            method,
            params=given,
            fold=fold,
            folds=folds,
            source_fold=source_fold,
            training=config,
            force=force,
            train_missing=train_missing,
            execution=execution,
            device=state.device,
            hooks=hooks,
            control=control,
        )
    results = report.results(MergeResult)
    trained = report.results(ExpertResult)  # with --train-missing
    if state.json:
        emit_json([r.to_json() for r in results])
    else:
        if trained:
            render.experts(trained, "experts trained for these merges")
        render.merges(results)
    render.tasks(state, report, execution)
