"""Shell completion: cohort, model and run names from the workspace named on the command line
(or the default one), and every option's closed set of values.

A completer runs inside the user's shell on every Tab, with whatever the line holds so far:
it must never print a traceback there. Each one that reads the workspace is wrapped by
:func:`quiet`, which turns any failure into "nothing to offer".
"""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from steph_cli.errors import StephError
from steph_cli.workspace import Workspace

Completer = TypeVar("Completer", bound=Callable[..., list[str]])


def quiet(fn: Completer) -> Completer:
    """``fn``, offering nothing instead of raising: a missing option, a workspace that is
    not one, a half-typed value."""

    @functools.wraps(fn)
    def safe(*args: Any, **kwargs: Any) -> list[str]:
        try:
            return fn(*args, **kwargs)
        except Exception:  # a Tab press must never print a traceback into the shell
            return []

    return safe  # type: ignore[return-value]


def _workspace(ctx: typer.Context) -> Workspace:
    node: typer.Context | None = ctx
    while node is not None:
        value = node.params.get("workspace")
        if value:
            return Workspace.at(Path(value))
        node = node.parent  # type: ignore[assignment]
    return Workspace.at(None)


@quiet
def cohorts(ctx: typer.Context, incomplete: str) -> list[str]:
    """Cohort names starting with what has been typed."""
    try:
        names = _workspace(ctx).cohorts()
    except (OSError, StephError):  # no workspace yet, or not a folder: nothing to offer
        return []
    return [n for n in names if n.startswith(incomplete)]


@quiet
def cohorts_or_all(ctx: typer.Context, incomplete: str) -> list[str]:
    return [n for n in ["all", *cohorts(ctx, incomplete)] if n.startswith(incomplete)]


def _listed(incomplete: str, choices: list[str], exclude: set[str]) -> list[str]:
    """Complete the last name of a comma-separated list, offering no name twice."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    done = set(head.split(",")) if head else set()
    names = [n for n in choices if n.startswith(last) and n not in done | exclude]
    return [prefix + n for n in names if not (head and n == "all")]


@quiet
def cohort_lists(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--sources A,B,...``: cohorts, never the target (``--target``/``--cancer``)."""
    own = {ctx.params.get("target"), ctx.params.get("cancer")} - {None}
    return _listed(incomplete, ["all", *cohorts(ctx, "")], own)  # type: ignore[arg-type]


@quiet
def models(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--model expert,steph``: the expert, every merge method, and labelled merges the
    target has (a study's grid points)."""
    from steph_cli.merging import methods

    labels: set[str] = set()
    try:
        ws = _workspace(ctx)
        given = ctx.params.get("target") or "all"  # no --target yet: every cohort's
        for target in given.split(",") if given != "all" else ws.cohorts():
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


@quiet
def learned_methods(incomplete: str) -> list[str]:
    """``--like-merge``: the merge methods that train (and so have a budget to match)."""
    from steph_cli.merging import methods

    return [m.name for m in methods.all_methods() if m.learned and m.name.startswith(incomplete)]


@quiet
def runs(ctx: typer.Context, incomplete: str) -> list[str]:
    """Run ids of the workspace, newest first, and ``last``."""
    folder = _workspace(ctx).runs_dir
    ids = sorted(
        (p.name for p in folder.iterdir() if (p / "manifest.json").is_file()), reverse=True
    )
    return [r for r in ["last", *ids] if r.startswith(incomplete)]


# Every completer that reads the workspace, for the test that calls each in odd contexts.
WORKSPACE_COMPLETERS = (cohorts, cohorts_or_all, cohort_lists, models, runs)
