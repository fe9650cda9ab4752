"""The root ``steph`` command: global options, and the command groups attached in one place."""

from pathlib import Path
from typing import Annotated

import typer

from steph_cli import __version__
from steph_cli.cli import (
    cohort,
    demo,
    evaluate,
    extract,
    merge,
    predict,
    reproduce,
    runs,
    status,
    train,
    vector,
    verify,
)
from steph_cli.cli.common import (
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    State,
)

app = typer.Typer(
    name="steph",
    help=(
        "Cross-cancer survival prognosis from whole-slide images by sparse task-vector "
        "merging (STEPH).\n\nTypical flow: cohort add → extract → train → vector → merge → "
        "evaluate. Try `steph demo` first."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"steph {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            envvar="STEPH_WORKSPACE",
            help="Workspace folder \\[default: $STEPH_WORKSPACE, else the user data dir].",
            show_default=False,
        ),
    ] = None,
    device: DeviceOpt = None,
    seed: SeedOpt = None,
    quiet: QuietOpt = False,
    json_output: JsonOpt = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = State(
        workspace=workspace, device=device or "auto", seed=seed, quiet=quiet, json=json_output
    )


app.add_typer(cohort.app, name="cohort")
app.command("extract", epilog=extract.EPILOG)(extract.extract)
app.command("train")(train.train)
app.command("vector")(vector.vector)
app.command("merge", epilog=merge.EPILOG)(merge.merge)
app.command("evaluate")(evaluate.evaluate)
app.command("predict")(predict.predict)
app.command("status")(status.status)
app.command("demo")(demo.demo)
app.add_typer(runs.app, name="runs")
app.command("reproduce", epilog=reproduce.EPILOG)(reproduce.reproduce)
app.command("verify")(verify.verify)


def main() -> None:
    app(prog_name="steph")
