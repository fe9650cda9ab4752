"""``steph reproduce``: run recorded runs again and say whether their results moved."""

from pathlib import Path
from typing import Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli.common import State, command, emit_json, note
from steph_cli.cli.console import out
from steph_cli.cli.progress import RichHooks
from steph_cli.cli.tables import table
from steph_cli.errors import RunFailedError

EPILOG = (
    "Examples:\n\n"
    "steph reproduce 20261129-141500-merge-LUSC-steph-fold0\n\n"
    "steph reproduce ci/manifests/*.json --workspace ci-ws --tolerance 1e-4"
)
WHAT = {
    "output": "reproduced output",
    "input": "input made by an earlier run",
    "workspace": "workspace's copy of an output",
    "metric": "metric",
}


@command
def reproduce(
    state: State,
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run ids (or their unique starts), last (the newest), or manifest.json files.",
            metavar="RUN",
            autocompletion=completion.runs,
        ),
    ],
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="Accept metric differences up to this much, and outputs whose bytes differ "
            "(another CPU, thread count or a GPU) \\[default: demand identical bytes].",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the scratch workspace in this (new) folder.")
    ] = None,
) -> None:
    """Re-execute recorded runs in a scratch copy of the workspace and compare their outputs.

    Each run's inputs must be in the workspace with the recorded sha256 (exit 2 naming the
    file otherwise) or be made by an earlier run of the list, so the manifests of a whole
    pipeline (train, merge, evaluate) reproduce from its data alone. Runs are repeated oldest
    first with their recorded arguments, seed and torch threads; every output's sha256 and
    every metric is compared. Exit 0 when identical (or, with --tolerance, within it), 1 with
    a table of what differs.
    """
    from steph_cli import api

    device = "cpu" if state.device == "auto" else state.device
    with RichHooks(state) as hooks:
        results = api.reproduce(
            state.ws, runs, tolerance=tolerance, device=device, keep=keep, hooks=hooks
        )
    if state.json:
        emit_json([r.to_json() for r in results])
    rows = [
        [
            r.run,
            WHAT[d.kind],
            d.what,
            _short(d.recorded),
            _short(d.reproduced),
            _yes(d.within_tolerance),
        ]
        for r in results
        for d in r.differences
    ]
    if rows and not state.json:
        columns = ["run", "what", "", "recorded", "now", "within tolerance"]
        out.print(table("what differs", columns, rows))
    for r in results:
        compared = f"{r.outputs} output(s), {r.metrics} metric value(s)"
        verdict = "identical" if r.identical else "within tolerance" if r.passed else "DIFFERS"
        note(state, f"{r.run}: {verdict} ({compared})")
    failed = [r.run for r in results if not r.passed]
    if failed:
        raise RunFailedError(
            f"{len(failed)} of {len(results)} run(s) did not reproduce: {failed[0]}"
        )


def _short(value: object) -> object:
    """A sha256 as its first 12 digits, as git shows commits; any other value as it is."""
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    return value


def _yes(value: bool) -> str:
    return "yes" if value else "no"
