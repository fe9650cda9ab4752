"""``steph demo``: a synthetic multi-cancer workspace, built and run end to end."""

from typing import Annotated

import typer

from steph_cli.cli import render
from steph_cli.cli.common import State, command, emit_json
from steph_cli.cli.progress import RichHooks
from steph_cli.demo.synthetic import DEFAULT_CANCERS


@command
def demo(
    state: State,
    patients: Annotated[int, typer.Option(help="Patients per cancer.")] = 90,
    cancers: Annotated[
        int, typer.Option(min=2, max=len(DEFAULT_CANCERS), help="How many synthetic cancers.")
    ] = len(DEFAULT_CANCERS),
    feature_dim: Annotated[int, typer.Option(min=4, help="Patch feature dimension.")] = 64,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 3,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs of every model.")] = 20,
    data_only: Annotated[bool, typer.Option(help="Only build the workspace.")] = False,
) -> None:
    """Build a synthetic multi-cancer workspace and run the whole pipeline on it (no data).

    Builds the cohorts; trains every cohort's expert on every fold; writes task vectors;
    merges each cohort as the target with all others as sources (steph, ada,
    task-arithmetic); ends with `steph evaluate --target all --model all`. Finished steps
    are reused when run again on the same workspace.
    """
    from steph_cli import api

    with RichHooks(state) as hooks:
        result = api.demo(
            state.ws,
            patients=patients,
            cancers=cancers,
            feature_dim=feature_dim,
            folds=folds,
            epochs=epochs,
            data_only=data_only,
            seed=state.seed,
            device=state.device,
            hooks=hooks,
        )
    if state.json:
        emit_json(
            {
                "experts": [r.to_json() for r in result.experts],
                "merged": {m: [r.to_json() for r in rs] for m, rs in result.merged.items()},
                "evaluation": result.evaluation.to_json() if result.evaluation else None,
            }
        )
        return
    render.status(state)
    if result.evaluation is not None:
        render.evaluation(result.evaluation.summary, result.evaluation.paired)
