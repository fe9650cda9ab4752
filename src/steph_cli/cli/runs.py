"""``steph runs``: what ran in the workspace — when, from which inputs, into which outputs."""

from typing import Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli.common import Command, Group, State, command, emit_json, fmt, table
from steph_cli.cli.console import out

app = typer.Typer(
    cls=Group, help="Recorded runs: what ran, when, inputs, outputs, metrics.", no_args_is_help=True
)


@app.command("list", cls=Command, epilog="Example: steph runs list --json")
@command
def list_(state: State) -> None:
    """Every recorded run, oldest first: id, step, what it made, seconds."""
    from steph_cli import api

    records = api.list_runs(state.ws)
    if state.json:
        emit_json([r.to_json() for r in records])
        return
    rows = [
        [
            r.id,
            r.step,
            r.started.replace("T", " "),
            len(r.inputs),
            len(r.outputs),
            fmt(r.seconds, 1),
        ]
        for r in records
    ]
    out.print(table(None, ["run", "step", "started", "inputs", "outputs", "s"], rows))


@app.command(
    "show", cls=Command, epilog="Example: steph runs show 20261129-141500-train-LUSC-fold0"
)
@command
def show(
    state: State,
    run: Annotated[
        str,
        typer.Argument(
            help="A run id (or its unique start), last, or a manifest.json.",
            metavar="RUN",
            autocompletion=completion.runs,
        ),
    ],
) -> None:
    """One run: its arguments, the sha256 of every input and output, and its metrics."""
    from steph_cli import api

    record = api.show_run(state.ws, run)
    if state.json:
        emit_json(record.to_json())
        return
    out.print(
        table(
            f"run {record.id}: {record.step}, {record.started}, {record.seconds:.1f} s, "
            f"seed {record.seed}",
            ["", "value"],
            [[k, v] for k, v in record.call.items()],
        )
    )
    files = [["input", k, (v or "absent")[:16]] for k, v in record.inputs.items()]
    files += [["output", k, v[:16]] for k, v in record.outputs.items()]
    out.print(table("files", ["", "path", "sha256"], files))
