"""``steph demo``: a synthetic multi-cancer workspace, built and run end to end."""

from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.table import Table

from steph_cli.cli import status as status_cmd
from steph_cli.cli import train as train_cmd
from steph_cli.cli.common import State, command, emit_json, fmt, note, out, progress, table
from steph_cli.demo import workspace as demo_ws
from steph_cli.demo.synthetic import DEFAULT_CANCERS, SyntheticConfig
from steph_cli.training.config import ArchOptions, TrainConfig

if TYPE_CHECKING:
    from steph_cli.training.expert import ExpertResult


@command
def demo(
    state: State,
    patients: Annotated[int, typer.Option(help="Patients per cancer.")] = 90,
    cancers: Annotated[
        int, typer.Option(min=2, max=len(DEFAULT_CANCERS), help="How many synthetic cancers.")
    ] = len(DEFAULT_CANCERS),
    feature_dim: Annotated[int, typer.Option(min=4, help="Patch feature dimension.")] = 64,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs of every model.")] = 20,
    data_only: Annotated[bool, typer.Option(help="Only build the workspace.")] = False,
) -> None:
    """Build a synthetic multi-cancer workspace and run the pipeline on it (no data needed).

    Builds the cohorts, then trains every cohort's expert on every fold and prints their
    test C-index. Finished steps are reused when run again on the same workspace.

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
    if data_only:
        status_cmd.show(state)
        return
    names = ws.cohorts()
    jobs = [(name, k) for name in names for k in ws.folds(name)]
    config = TrainConfig(epochs=epochs, seed=config.seed)
    experts = train_cmd.train_all(state, jobs, config, ArchOptions())
    if state.json:
        emit_json({"experts": [train_cmd.as_json(r) for r in experts]})
        return
    status_cmd.show(state)
    out.print(fold_table("expert test C-index (Harrell) per fold", experts))


def fold_table(title: str, results: list["ExpertResult"]) -> Table:
    """Cohorts × folds of test C-index, with mean ± std over the folds that have one."""
    folds = sorted({r.fold for r in results})
    by_cohort: dict[str, dict[int, float | None]] = {}
    for r in results:
        by_cohort.setdefault(r.cohort, {})[r.fold] = r.test_cindex
    rows = []
    for cohort, values in by_cohort.items():
        known = [v for v in values.values() if v is not None]
        summary = f"{np.mean(known):.3f} ± {np.std(known):.3f}" if known else None
        rows.append([cohort, *(fmt(values.get(k)) for k in folds), summary])
    return table(title, ["cohort", *(f"fold {k}" for k in folds), "mean ± std"], rows)
