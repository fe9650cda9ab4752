"""The root ``steph`` command: global options, and the command groups attached in one place."""

import sys
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
    study,
    train,
    vector,
    verify,
)
from steph_cli.cli._errors import error_line
from steph_cli.cli.common import (
    Command,
    DeviceOpt,
    Group,
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
    cls=Group,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
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
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version.", metavar=""
        ),
    ] = False,
) -> None:
    ctx.obj = State(
        workspace=workspace, device=device or "auto", seed=seed, quiet=quiet, json=json_output
    )


app.add_typer(cohort.app, name="cohort")
app.command("extract", epilog=extract.EPILOG, cls=Command)(extract.extract)
app.command("train", epilog=train.EPILOG, cls=Command)(train.train)
app.command("vector", epilog=vector.EPILOG, cls=Command)(vector.vector)
app.command("merge", epilog=merge.EPILOG, cls=Command)(merge.merge)
app.command("evaluate", epilog=evaluate.EPILOG, cls=Command)(evaluate.evaluate)
app.command("predict", epilog=predict.EPILOG, cls=Command)(predict.predict)
app.command("status", epilog=status.EPILOG, cls=Command)(status.status)
app.command("demo", epilog=demo.EPILOG, cls=Command)(demo.demo)
app.add_typer(runs.app, name="runs")
app.add_typer(study.app, name="study")
app.command("reproduce", epilog=reproduce.EPILOG, cls=Command)(reproduce.reproduce)
app.command("verify", epilog=verify.EPILOG, cls=Command)(verify.verify)


def run(args: list[str] | None = None) -> int:
    """``steph`` as a function returning its exit code.

    Click's usage errors (a missing or malformed option, an unknown command) become one line
    on stderr, like every other error, instead of a framed box; they are recognised by
    their interface (a message and an exit code), as Typer ships its own Click.
    """
    try:
        code = app(args=args, prog_name="steph", standalone_mode=False)
    except typer.Abort:
        error_line("interrupted")
        return 130
    except Exception as exc:
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if message is None or not isinstance(exit_code, int):
            raise
        text = message()
        if text:  # empty when the help was shown instead (a group without its command)
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "steph"
            error_line(f"{text} (`{where} --help` lists the options)")
        return exit_code
    return code if isinstance(code, int) else 0


def main() -> None:
    from steph_cli import signals

    signals.stop_on_signals()
    try:
        code = run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.exit(signals.status(code))
