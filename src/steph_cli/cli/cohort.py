"""``steph cohort``: register cohorts (labels, splits, features) and look at them."""

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli.common import Command, Group, State, command, emit_json, note, warn
from steph_cli.cli.console import out
from steph_cli.cli.progress import RichHooks
from steph_cli.cli.tables import table

if TYPE_CHECKING:
    from steph_cli.workspace.cohorts import CohortSummary

app = typer.Typer(cls=Group, help="Register and inspect cancer cohorts.", no_args_is_help=True)

CohortArg = Annotated[
    str,
    typer.Argument(
        help="Cohort name (letters, digits, -, _).",
        metavar="NAME",
        autocompletion=completion.cohorts,
    ),
]


def _row(s: "CohortSummary") -> list[object]:
    return [
        s.name,
        s.patients,
        f"{s.slides_with_features}/{s.slides}",
        f"{s.events} ({s.event_rate:.0%})",
        f"{s.median_time_days:.0f}",
        len(s.folds) or None,
    ]


COLUMNS = ["cohort", "patients", "slides w/ features", "events", "median t (days)", "folds"]


def _as_json(s: "CohortSummary") -> dict[str, object]:
    return {**asdict(s), "event_rate": s.event_rate}


def _report(state: State, summary: "CohortSummary") -> None:
    if state.json:
        emit_json(_as_json(summary))
        return
    out.print(table(None, COLUMNS, [_row(summary)]))
    for w in summary.warnings:
        warn(f"{summary.name}: {w}")


@app.command(
    "add", cls=Command, epilog="Example: steph cohort add LUSC --labels lusc.csv --splits splits/"
)
@command
def add(
    state: State,
    name: CohortArg,
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            help="CSV or TSV: patient_id, slide_id, t (days), e (1 = event); CLAM, "
            "UNI2-h-DSS and TCGA-CDR tables as they are.",
        ),
    ],
    splits: Annotated[
        Path | None,
        typer.Option(
            help="Folder of splits_0.csv, splits_1.csv, ... (UNI2-h-DSS/CLAM) or fold0.csv, ..."
        ),
    ] = None,
    features: Annotated[
        Path | None, typer.Option(help="Folder of SLIDE_ID.h5 feature files to import.")
    ] = None,
    link: Annotated[
        bool, typer.Option("--link", help="Symlink feature files instead of copying.", metavar="")
    ] = False,
    time_unit: Annotated[
        str | None,
        typer.Option(
            help="What the time column holds: days, months or years \\[default: months for "
            "CLAM's survival_months, else days]; stored in days.",
            **completion.one_of("days", "months", "years"),
            show_default=False,
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="TCGA-CDR endpoint: OS, DSS, DFI or PFI \\[default: DSS]; patients without "
            "it are left out.",
            **completion.one_of("OS", "DSS", "DFI", "PFI"),
            show_default=False,
        ),
    ] = None,
    time_col: Annotated[str | None, typer.Option(help="Column of follow-up times.")] = None,
    event_col: Annotated[str | None, typer.Option(help="Column of 0/1 event flags.")] = None,
    patient_col: Annotated[str | None, typer.Option(help="Column of patient ids.")] = None,
    slide_col: Annotated[
        str | None,
        typer.Option(help="Column of slide ids (none: slides found by patient id prefix)."),
    ] = None,
    event_means: Annotated[
        str | None,
        typer.Option(
            help="What 1 means in the event column: event or censored \\[default: censored "
            "for a column named censorship, else event].",
            **completion.one_of("event", "censored"),
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing cohort.", metavar="")
    ] = False,
) -> None:
    """Register a cohort: survival labels, optional splits and patch features.

    Columns are recognised by name (CLAM, UNI2-h-DSS, TCGA-CDR); name them for any other
    table with --time-col, --event-col, --patient-col, --slide-col. A table with one row per
    patient and no slide column gets its slides from the feature files whose names start
    with the patient id (TCGA-AB-1234-01Z-00-DX1... for TCGA-AB-1234).

    The first command on a new workspace records --seed (default 0) in steph.toml; the
    shared initialisation of every expert is drawn from it.
    """
    from steph_cli import api

    with RichHooks(state) as hooks:
        summary = api.add_cohort(
            state.ws,
            name,
            labels,
            splits,
            features,
            link=link,
            force=force,
            time_unit=time_unit,
            endpoint=endpoint,
            time_col=time_col,
            event_col=event_col,
            patient_col=patient_col,
            slide_col=slide_col,
            event_means=event_means,
            seed=state.seed,
            hooks=hooks,
        )
    note(state, f"registered cohort {name} in {state.ws.root}")
    _report(state, summary)


@app.command("list", cls=Command, epilog="Example: steph cohort list --json")
@command
def list_(state: State) -> None:
    """List the workspace's cohorts."""
    from steph_cli import api

    summaries = api.list_cohorts(state.ws)
    if state.json:
        emit_json([_as_json(s) for s in summaries])
    elif summaries:
        out.print(table(None, COLUMNS, [_row(s) for s in summaries]))
    else:
        note(state, f"no cohorts in {state.ws.root}; add one with `steph cohort add`")


@app.command("show", cls=Command, epilog="Example: steph cohort show LUSC")
@command
def show(state: State, name: CohortArg) -> None:
    """Show one cohort: sizes, events, follow-up, folds and warnings."""
    from steph_cli import api

    summary = api.cohort(state.ws, name)
    if state.json:
        emit_json(_as_json(summary))
        return
    rows: list[list[object]] = [
        ["patients", summary.patients],
        ["slides (with features)", f"{summary.slides} ({summary.slides_with_features})"],
        ["events", f"{summary.events} ({summary.event_rate:.1%})"],
        ["median follow-up (days)", f"{summary.median_time_days:.0f}"],
        ["feature dim", summary.feature_dim],
        ["folds", ", ".join(map(str, summary.folds)) or None],
    ]
    out.print(table(f"cohort {name}", ["", "value"], rows))
    for w in summary.warnings:
        warn(w)


@app.command("split", cls=Command, epilog="Example: steph cohort split LUSC --folds 5 --seed 1")
@command
def split(
    state: State,
    name: CohortArg,
    folds: Annotated[int, typer.Option("--folds", help="Number of folds k.")] = 5,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Split a cohort that has models (they become stale).", metavar=""
        ),
    ] = False,
) -> None:
    """Make patient-level k-fold splits, stratified by event and follow-up time."""
    from steph_cli import api

    made = api.split_cohort(state.ws, name, folds, state.seed, force=force)
    if state.json:
        emit_json([{"fold": f.index, **f.counts()} for f in made.folds])
        return
    out.print(
        table(
            f"{name}: {folds} folds (seed {made.seed})",
            ["fold", "train", "test"],
            [[f.index, len(f.train), len(f.test)] for f in made.folds],
        )
    )
