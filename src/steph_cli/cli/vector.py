"""``steph vector``: task vectors τ = expert − init, their norms and cosine similarities."""

from pathlib import Path
from typing import Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli.common import State, command, emit_json, fmt, note, out, table


@command
def vector(
    state: State,
    cancer: Annotated[
        str, typer.Option(help="Cohort, or all.", autocompletion=completion.cohorts_or_all)
    ] = "all",
    fold: Annotated[int | None, typer.Option(help="One fold.")] = None,
    folds: Annotated[str, typer.Option(help="all, or fold numbers like 0,2,4.")] = "all",
    plot: Annotated[
        Path | None, typer.Option(help="Save the cosine-similarity heatmap (PNG/SVG).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rewrite vectors that are up to date.")] = False,
) -> None:
    """Write task vectors (expert − shared init, MIL encoder only) and report their geometry.

    Reports, for the first selected fold, each cohort's task-vector norm (total and per
    layer) and the cohort × cohort cosine-similarity table.
    """
    from steph_cli.merging import vectors as lib
    from steph_cli.workspace import selection

    ws = state.ws
    names = selection.cohorts(ws, cancer)
    jobs = [(name, k) for name in names for k in selection.folds(ws, name, fold, folds)]
    written = [lib.write_vector(ws, name, k, force) for name, k in jobs]
    note(
        state,
        f"{sum(r.written for r in written)} task vector(s) written, "
        f"{sum(not r.written for r in written)} up to date",
    )
    report_fold = jobs[0][1]
    have = [n for n in names if (n, report_fold) in jobs]
    rep = lib.report(ws, have, report_fold)
    if plot is not None:
        lib.similarity_plot(rep, plot)
        note(state, f"heatmap saved to {plot}")
    if state.json:
        emit_json(
            {
                "fold": rep.fold,
                "cohorts": rep.cohorts,
                "norms": dict(zip(rep.cohorts, rep.norms, strict=True)),
                "cosine": rep.cosine,
                "written": [
                    {"cohort": r.cohort, "fold": r.fold, "written": r.written} for r in written
                ],
            }
        )
        return
    out.print(
        table(
            f"task-vector norms (fold {rep.fold})",
            ["cohort", "total", *(k.replace("attention_net.", "attention ") for k in rep.layers)],
            [
                [c, fmt(n["total"], 4), *(fmt(n[k], 4) for k in rep.layers)]
                for c, n in zip(rep.cohorts, rep.norms, strict=True)
            ],
        )
    )
    out.print(
        table(
            f"cosine similarity (fold {rep.fold})",
            ["", *rep.cohorts],
            [
                [c, *(fmt(v, 2) for v in row)]
                for c, row in zip(rep.cohorts, rep.cosine, strict=True)
            ],
        )
    )
