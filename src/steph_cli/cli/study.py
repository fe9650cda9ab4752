"""``steph study``: every method on the same folds, seeds and scarce training sets."""

from pathlib import Path
from typing import Annotated

import typer

from steph_cli.cli import options as opt
from steph_cli.cli import render
from steph_cli.cli.common import Command, Group, State, command, emit_json, note
from steph_cli.cli.progress import RichHooks

app = typer.Typer(
    cls=Group,
    help="Studies: methods × cohorts × folds × seeds (× training-set sizes), one table.",
    no_args_is_help=True,
)
StudyFile = Annotated[
    Path, typer.Argument(help="The study file (TOML); see docs/results.md.", metavar="STUDY")
]


@app.command("run", cls=Command, epilog="Example: steph study run docs/demo-study.toml")
@command
def run(
    state: State,
    study: StudyFile,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    cpus_per_task: opt.CpusPerTask = 1,
    jobs: opt.Jobs = 1,
    threads: opt.Threads = None,
) -> None:
    """Make every model the study names that is missing (resumable: finished work is
    skipped by fingerprint), in one workspace per cell under studies/NAME/, then report it
    as `steph study report` does."""
    from steph_cli import api
    from steph_cli.tasks.execution import Execution

    execution = Execution(executor, ray_address, cpus_per_task, jobs, threads)
    with RichHooks(state) as hooks:
        made = api.run_study(state.ws, study, execution=execution, device=state.device, hooks=hooks)
        result = api.report_study(state.ws, study, device=state.device, hooks=hooks)
    if state.json:
        cells = [(str(c.workspace.root), c.seed, c.size, c.target) for c in made]
        names = ("cell", "seed", "size", "target")
        emit_json({"cells": [dict(zip(names, c, strict=True)) for c in cells], **result.to_json()})
        return
    render.study(result)
    if result.plot:
        note(state, f"{result.plot} (and .svg) saved")


@app.command("report", cls=Command, epilog="Example: steph study report docs/demo-study.toml")
@command
def report(
    state: State,
    study: StudyFile,
    plot: Annotated[
        bool, typer.Option(help="Save C-index against training-set size.", metavar="")
    ] = True,
) -> None:
    """Score every cell on its test folds: mean ± sd over folds × seeds per cohort and model,
    each model against the baseline on the same (cohort, seed, fold) pairs (Wilcoxon with
    Holm's correction, wins/ties/losses); writes report.json, rows.csv and scarcity.png."""
    from steph_cli import api

    with RichHooks(state) as hooks:
        result = api.report_study(state.ws, study, plot=plot, device=state.device, hooks=hooks)
    if state.json:
        emit_json(result.to_json())
        return
    render.study(result)
    if result.plot:
        note(state, f"{result.plot} (and .svg) saved")
