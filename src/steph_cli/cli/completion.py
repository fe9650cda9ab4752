"""Shell completion: cohort and model names from the workspace named on the command line (or
the default one), and every option's closed set of values."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _listed(incomplete: str, choices: list[str], exclude: set[str]) -> list[str]:
    """Complete the last name of a comma-separated list, offering no name twice."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    done = set(head.split(",")) if head else set()
    names = [n for n in choices if n.startswith(last) and n not in done | exclude]
    return [prefix + n for n in names if not (head and n == "all")]


def cohort_lists(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--sources A,B,...``: cohorts, never the target (``--target``/``--cancer``)."""
    own = {ctx.params.get("target"), ctx.params.get("cancer")} - {None}
    return _listed(incomplete, ["all", *cohorts(ctx, "")], own)  # type: ignore[arg-type]


def models(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--model expert,steph``: the expert, every merge method, and labelled merges the
    target has (a study's grid points)."""
    from steph_cli.merging import methods

    labels: set[str] = set()
    try:
        ws = _workspace(ctx)
        for target in (
            ctx.params.get("target", "").split(",")
            if ctx.params.get("target") != "all"
            else ws.cohorts()
        ):
            folder = ws.root / "merged" / target
            labels |= {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    except (OSError, StephError):
        pass
    choices = ["all", "expert", *methods.names(), *sorted(labels - set(methods.names()))]
    return _listed(incomplete, choices, set())


def choices(*values: str) -> "Callable[[str], list[str]]":
    """Completion of an option with a closed set of values."""
    return lambda incomplete: [v for v in values if v.startswith(incomplete)]


def one_of(*values: str) -> dict[str, Any]:
    """``typer.Option`` arguments for a closed set of values: completed, and shown as
    ``[a|b|c]`` in help (where ``<str>`` would say nothing)."""
    return {"autocompletion": choices(*values), "metavar": f"[{'|'.join(values)}]"}


devices = choices("auto", "cpu", "cuda", "cuda:0", "cuda:1", "mps")


def learned_methods(incomplete: str) -> list[str]:
    """``--like-merge``: the merge methods that train (and so have a budget to match)."""
    from steph_cli.merging import methods

    return [m.name for m in methods.all_methods() if m.learned and m.name.startswith(incomplete)]
