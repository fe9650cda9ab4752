"""``steph demo``: a synthetic multi-cancer workspace, built and run end to end."""

from typing import Annotated

import typer

from steph_cli.cli import status as status_cmd
from steph_cli.cli.common import State, command, note, progress
from steph_cli.demo import workspace as demo_ws
from steph_cli.demo.synthetic import DEFAULT_CANCERS, SyntheticConfig


@command
def demo(
    state: State,
    patients: Annotated[int, typer.Option(help="Patients per cancer.")] = 90,
    cancers: Annotated[
        int, typer.Option(min=2, max=len(DEFAULT_CANCERS), help="How many synthetic cancers.")
    ] = len(DEFAULT_CANCERS),
    feature_dim: Annotated[int, typer.Option(min=4, help="Patch feature dimension.")] = 64,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
) -> None:
    """Build a synthetic multi-cancer workspace and run the pipeline on it (no data needed).

    Cancers of one family share prognostic patch phenotypes; one cancer is unrelated; most
    patients are censored; each cohort is small, so transfer between cancers can help.
    """
    config = SyntheticConfig(
        cancers=DEFAULT_CANCERS[:cancers],
        patients=patients,
        feature_dim=feature_dim,
        seed=state.seed if state.seed is not None else 0,
    )
    ws = state.ws
    with progress(state) as bar:
        task = bar.add_task("cohorts", total=cancers, info="")
        demo_ws.build(ws, config, folds, on_cohort=lambda name: bar.advance(task))
    note(state, f"demo workspace ready at [bold]{ws.root}[/]")
    status_cmd.show(state)
