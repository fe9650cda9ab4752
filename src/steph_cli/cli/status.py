"""``steph status``: the workspace at a glance."""

from dataclasses import asdict

from steph_cli.cli.common import State, command, emit_json, fmt, note, out, table
from steph_cli.workspace import inventory


def _folds(done: list[int], total: int) -> str | None:
    return f"{len(done)}/{total}" if done or total else None


@command
def status(state: State) -> None:
    """Cohorts, slides, folds, experts, task vectors and merged models in the workspace."""
    show(state)


def show(state: State) -> None:
    inv = inventory.take(state.ws)
    if state.json:
        emit_json(asdict(inv))
        return
    s = inv.settings
    note(
        state,
        f"workspace [bold]{inv.root}[/]  feature dim {s.feature_dim or '–'}, "
        f"{s.time_bins} time bins to {s.max_time_days:g} days, seed {s.seed}, "
        f"shared init {'yes' if inv.initialised else 'not yet'}",
    )
    if not inv.cohorts:
        note(state, "no cohorts yet: `steph cohort add NAME --labels CSV` or `steph demo`")
        return
    rows = []
    for c in inv.cohorts:
        k = len(c.summary.folds)
        done = sum(len(f) for f in c.merged.values())
        merged = f"{done}/{k * len(c.merged)} ({len(c.merged)})" if c.merged else None
        rows.append(
            [
                c.summary.name,
                c.summary.patients,
                f"{c.summary.slides_with_features}/{c.summary.slides}",
                f"{c.summary.event_rate:.0%}",
                k or None,
                _folds(c.experts, k),
                _folds(c.vectors, k),
                merged,
            ]
        )
    columns = [
        "cohort",
        "patients",
        "slides",
        "events",
        "folds",
        "experts",
        "vectors",
        "merged (methods)",
    ]
    out.print(table(None, columns, rows))
    scored = [c for c in inv.cohorts if c.cindex]
    if scored:
        models = sorted({m for c in scored for m in c.cindex}, key=lambda m: (m != "expert", m))
        out.print(
            table(
                "last test C-index (Harrell, mean over folds)",
                ["cohort", *models],
                [[c.summary.name, *(fmt(c.cindex.get(m)) for m in models)] for c in scored],
            )
        )
