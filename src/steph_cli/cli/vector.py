"""``steph vector``: task vectors τ = expert − init, their norms and cosine similarities."""

from pathlib import Path
from typing import Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli import options as opt
from steph_cli.cli.common import State, command, emit_json, examples, fmt
from steph_cli.cli.console import out
from steph_cli.cli.progress import RichHooks
from steph_cli.cli.tables import table

EPILOG = examples(
    "steph vector --cancer all --plot cosine.png",
    "steph vector --cancer LUSC,BLCA --fold 0 --json",
)


@command
def vector(
    state: State,
    cancer: Annotated[
        str, typer.Option(help="Cohort, or all.", autocompletion=completion.cohorts_or_all)
    ] = "all",
    fold: opt.Fold = None,
    folds: opt.Folds = "all",
    plot: Annotated[
        Path | None,
        typer.Option(help="Save the cosine-similarity heatmap (.png, .svg or .pdf)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rewrite vectors that are up to date.", metavar="")
    ] = False,
) -> None:
    """Write task vectors (expert − shared init, MIL encoder only) and report their geometry.

    Reports, for the first selected fold, each cohort's task-vector norm (total and per
    layer) and the cohort × cohort cosine-similarity table.
    """
    from steph_cli import api

    with RichHooks(state) as hooks:
        result = api.vectors(
            state.ws, cancer, fold=fold, folds=folds, force=force, plot=plot, hooks=hooks
        )
    if state.json:
        emit_json(result.to_json())
        return
    rep = result.geometry
    out.print(
        table(
            f"task-vector norms (fold {rep.fold})",
            ["cohort", "total", *(k.replace("attention_net.", "attention ") for k in rep.layers)],
            [
                [c, fmt(n["total"], 4), *(fmt(n[k], 4) for k in rep.layers)]
                for c, n in zip(rep.cohorts, rep.norms, strict=True)
            ],
        )
    )
    out.print(
        table(
            f"cosine similarity (fold {rep.fold})",
            ["", *rep.cohorts],
            [
                [c, *(fmt(v, 2) for v in row)]
                for c, row in zip(rep.cohorts, rep.cosine, strict=True)
            ],
        )
    )
