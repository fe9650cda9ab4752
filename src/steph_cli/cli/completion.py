"""Shell completion of cohort names from the workspace named on the command line (or default)."""

from pathlib import Path

import typer

from steph_cli.errors import StephError
from steph_cli.workspace import Workspace


def _workspace(ctx: typer.Context) -> Workspace:
    node: typer.Context | None = ctx
    while node is not None:
        value = node.params.get("workspace")
        if value:
            return Workspace.at(Path(value))
        node = node.parent  # type: ignore[assignment]
    return Workspace.at(None)


def cohorts(ctx: typer.Context, incomplete: str) -> list[str]:
    """Cohort names starting with what has been typed."""
    try:
        names = _workspace(ctx).cohorts()
    except (OSError, StephError):  # no workspace yet, or not a folder: nothing to offer
        return []
    return [n for n in names if n.startswith(incomplete)]


def cohorts_or_all(ctx: typer.Context, incomplete: str) -> list[str]:
    return [n for n in ["all", *cohorts(ctx, incomplete)] if n.startswith(incomplete)]


def cohort_lists(ctx: typer.Context, incomplete: str) -> list[str]:
    """Complete the last name of a comma-separated list (``--sources A,B,...``)."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    done = set(head.split(",")) if head else set()
    names = [n for n in cohorts_or_all(ctx, last) if n not in done]
    return [prefix + n for n in names if not (head and n == "all")]
