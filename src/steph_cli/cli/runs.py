"""``steph runs``: what ran in the workspace — when, from which inputs, into which outputs."""

from typing import Annotated, Any

import typer

from steph_cli.cli import completion
from steph_cli.cli.common import Command, Group, State, command, emit_json, fmt
from steph_cli.cli.console import out
from steph_cli.cli.tables import table

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
    columns = ["run", "step", "started", "inputs", "outputs", "s"]
    # the run id starts with the start time: the readable date goes first
    out.print(table(None, columns, rows, optional=("started", "inputs", "outputs")))


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
            [[k, _readable(v)] for k, v in record.call.items()],
        )
    )
    files = [["input", k, (v or "absent")[:16]] for k, v in record.inputs.items()]
    files += [["output", k, v[:16]] for k, v in record.outputs.items()]
    out.print(table("files", ["", "path", "sha256"], files, names=2, optional=("sha256",)))
    if record.metrics:
        out.print(
            table("metrics (all of them: --json)", ["metric", "value"], metric_rows(record.metrics))
        )


def metric_rows(metrics: dict[str, Any]) -> list[list[object]]:
    """What a person reads of a run's metrics.json: an evaluation's mean Harrell's C per
    cohort and model; otherwise every number, a per-epoch series as its last value."""
    if isinstance(metrics.get("summary"), list):
        return [
            [f"{s['target']} {s['model']} Harrell's C", fmt(s["mean"])]
            for s in metrics["summary"]
            if s.get("metric") == "harrell_c"
        ]
    rows: list[list[object]] = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows.extend([f"{key} {k}", _shown(v)] for k, v in value.items() if _scalar(v))
        elif isinstance(value, list) and value and all(_scalar(v) for v in value):
            rows.append([f"{key} (last of {len(value)})", _shown(value[-1])])
        elif _scalar(value):
            rows.append([key, _shown(value)])
    return rows


def _scalar(value: object) -> bool:
    return isinstance(value, int | float | str | bool)


def _readable(value: object) -> object:
    """An argument as a person writes it: ``gamma=0.3, top_k=2`` for a table of options, a
    comma-separated list, a dash for none; never a Python repr."""
    if isinstance(value, dict):
        pairs = [f"{k}={_readable(v)}" for k, v in value.items() if v is not None]
        return ", ".join(pairs) or None
    if isinstance(value, list | tuple):
        return ", ".join(str(_readable(v)) for v in value) or None
    return value


def _shown(value: object) -> object:
    """Floats to four significant digits; whole numbers, words and flags as they are."""
    return f"{value:.4g}" if isinstance(value, float) else value
