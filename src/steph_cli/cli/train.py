"""``steph train``: cancer-specific ABMIL experts from the workspace's shared initialisation."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from steph_cli.cli import completion, render
from steph_cli.cli import options as opt
from steph_cli.cli.common import State, command, emit_json, examples, typed
from steph_cli.cli.progress import RichHooks

if TYPE_CHECKING:
    from steph_cli.training.config import TrainConfig

ARCH_PANEL = "Architecture"


EPILOG = examples(
    "steph train --cancer LUSC",
    "steph train --cancer all --folds 0,1 --epochs 10",
    "steph train --cancer LUSC --val-fraction 0.2 --select best",
    "steph train --cancer LUSC --with all   # the pooled baseline",
    "steph train --cancer LUSC --like-merge steph   # matched-budget control",
)


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
    lr: Annotated[
        float | None,
        typer.Option(
            help="Peak learning rate \\[default: 1e-4; with --like-merge the merge's 1e-3].",
            rich_help_panel=opt.TRAIN_PANEL,
            show_default=False,
        ),
    ] = None,
    weight_decay: opt.WeightDecay = 1e-5,
    accumulate: opt.Accumulate = 16,
    warmup_epochs: opt.WarmupEpochs = 1,
    alpha_u: opt.AlphaU = 0.5,
    val_fraction: opt.ValFraction = 0.0,
    select: opt.Select = "last",
    embed_dim: Annotated[
        int | None,
        typer.Option(
            help="E \\[default: the workspace's init, else 512].",
            rich_help_panel=ARCH_PANEL,
            show_default=False,
        ),
    ] = None,
    attn_dim: Annotated[
        int | None,
        typer.Option(
            help="A \\[default: the workspace's init, else 384].",
            rich_help_panel=ARCH_PANEL,
            show_default=False,
        ),
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            help="Attention dropout \\[default: the workspace's init, else 0.25].",
            rich_help_panel=ARCH_PANEL,
            show_default=False,
        ),
    ] = None,
    time_bins: Annotated[
        int | None,
        typer.Option(help="T \\[default: the workspace's, 32].", rich_help_panel=ARCH_PANEL),
    ] = None,
    max_time_days: Annotated[
        float | None,
        typer.Option(help="Bins span \\[0, this] \\[default: 11680].", rich_help_panel=ARCH_PANEL),
    ] = None,
    with_: Annotated[
        str | None,
        typer.Option(
            "--with",
            help="Pooled baseline: train one model on this cohort's and these cohorts' "
            "training patients (all, or A,B), written as merged/NAME/pooled/ (= merge "
            "--method pooled).",
            autocompletion=completion.cohort_lists,
            show_default=False,
        ),
    ] = None,
    like_merge: Annotated[
        str | None,
        typer.Option(
            "--like-merge",
            help="Matched-budget control of a learned merge: the expert trained further on its "
            "own training patients with that merge's learning rate, epochs and accumulation, "
            "head and all (merged/NAME/METHOD-control-budget/); evaluate reports merge − it.",
            autocompletion=completion.learned_methods,
            metavar="METHOD",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain experts that already exist.", metavar="")
    ] = False,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    cpus_per_task: opt.CpusPerTask = 1,
    jobs: opt.Jobs = 1,
    threads: opt.Threads = None,
) -> None:
    """Train the cancer-specific expert(s): experts/NAME/fold{K}.safetensors.

    Every expert starts from the workspace's shared initialisation (init.safetensors), so
    that task vectors of different cancers are comparable. Finished experts are skipped
    unless --force. Each (cohort, fold) is one task: a failing one is retried once, then
    reported (exit 1) with the others kept; --executor ray runs them in parallel on Ray.
    """
    from steph_cli import api
    from steph_cli.merging.run import MergeResult
    from steph_cli.models.arch import ArchOptions
    from steph_cli.tasks.execution import Execution
    from steph_cli.training.config import MERGE_LR, TrainConfig
    from steph_cli.training.expert import ExpertResult

    if with_ is not None and like_merge is not None:
        raise typer.BadParameter("give --with or --like-merge, not both", param_hint="--with")
    if with_ is not None or like_merge is not None:
        given = [
            o
            for o, v in [
                ("--embed-dim", embed_dim),
                ("--attn-dim", attn_dim),
                ("--dropout", dropout),
                ("--time-bins", time_bins),
                ("--max-time-days", max_time_days),
            ]
            if v is not None
        ]
        if given:
            raise typer.BadParameter(
                f"{given[0]} goes with new experts; this model has the workspace's "
                "architecture and bins",
                param_hint="--with" if with_ is not None else "--like-merge",
            )
    config = TrainConfig(
        epochs,
        lr if lr is not None else (MERGE_LR if like_merge else TrainConfig().lr),
        weight_decay,
        accumulate,
        warmup_epochs,
        alpha_u,
        state.seed,
        val_fraction,
        select,
    )
    execution = Execution(executor, ray_address, cpus_per_task, jobs, threads)
    if with_ is not None or like_merge is not None:
        common: dict[str, Any] = {
            "fold": fold,
            "folds": folds,
            "training": config,
            "force": force,
            "execution": execution,
            "device": state.device,
        }
        with RichHooks(state) as hooks:
            if like_merge is not None:
                report = api.like_merge(
                    state.ws,
                    cancer,
                    like_merge,
                    hooks=hooks,
                    **{**common, "training": _given_training(config)},
                )
            else:
                report = api.merge(
                    state.ws, cancer, with_ or "all", "pooled", hooks=hooks, **common
                )
        if state.json:
            emit_json([r.to_json() for r in report.results(MergeResult)])
        else:
            render.merges(report.results(MergeResult))
        render.tasks(state, report, execution)
        return
    with RichHooks(state) as hooks:
        report = api.train(
            state.ws,
            cancer,
            fold=fold,
            folds=folds,
            training=config,
            arch=ArchOptions(embed_dim, attn_dim, dropout),
            time_bins=time_bins,
            max_time_days=max_time_days,
            force=force,
            execution=execution,
            device=state.device,
            hooks=hooks,
        )
    results = report.results(ExpertResult)
    if state.json:
        emit_json([r.to_json() for r in results])
    else:
        render.experts(results)
    render.tasks(state, report, execution)


def _given_training(config: "TrainConfig") -> dict[str, object]:
    """The training options typed on the command line (defaults left out): with
    --like-merge they must agree with the merge's record, which supplies the rest."""
    return {
        name: getattr(config, name) for name in config.as_dict() if name != "seed" and typed(name)
    }
