"""``steph demo``: a synthetic multi-cancer workspace, built and run end to end."""

from typing import Annotated

import typer

from steph_cli.cli import evaluate as evaluate_cmd
from steph_cli.cli import merge as merge_cmd
from steph_cli.cli import status as status_cmd
from steph_cli.cli import tasks as tasks_cli
from steph_cli.cli import train as train_cmd
from steph_cli.cli.common import State, command, emit_json, note, progress
from steph_cli.demo import workspace as demo_ws
from steph_cli.demo.synthetic import DEFAULT_CANCERS, SyntheticConfig
from steph_cli.merging.options import MergeOptions
from steph_cli.training.config import MERGE_LR, ArchOptions, TrainConfig

DEMO_METHODS = ("steph", "ada", "task-arithmetic")


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
    if data_only:
        status_cmd.show(state)
        return
    names = ws.cohorts()
    jobs = [(name, k) for name in names for k in ws.folds(name)]
    train_config = TrainConfig(epochs=epochs, seed=config.seed)
    trained = train_cmd.train_all(state, jobs, train_config, ArchOptions())
    tasks_cli.raise_if_failed(trained)
    experts = trained.results()
    merge_config = TrainConfig(epochs=epochs, lr=MERGE_LR, seed=config.seed)
    plans = merge_cmd.plan(ws, "all", "all", None, "all", 0)
    merged = {}
    for method in DEMO_METHODS:  # each merge graph also writes the task vectors it uses
        merged[method], report = merge_cmd.merge_all(
            state, plans, method, MergeOptions(), merge_config
        )
        tasks_cli.raise_if_failed(report)
    if state.json:
        emit_json(
            {
                "experts": [train_cmd.as_json(r) for r in experts],
                "merged": {m: [merge_cmd.as_json(r) for r in rs] for m, rs in merged.items()},
            }
        )
        return
    status_cmd.show(state)
    results = evaluate_cmd.evaluate_all(state, "all", "all")
    options = {"target": "all", "model": "all", "baseline": "expert"}
    evaluate_cmd.show(*evaluate_cmd.conclude(state, results, options, "expert")[:2])
