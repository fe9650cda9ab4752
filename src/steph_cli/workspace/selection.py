"""Turning cohort selections (``NAME``, ``A,B``, ``all``) and fold selections (one fold, or
``all`` / ``0,2,4``) into lists, checked against the workspace."""

from collections.abc import Callable

from steph_cli.errors import BadInputError, Fix, MissingArtefactError, StephError
from steph_cli.workspace.paths import Workspace


def cohorts(ws: Workspace, spec: str) -> list[str]:
    """``all`` (every registered cohort) or a comma-separated list of cohort names."""
    if spec == "all":
        names = ws.cohorts()
        if not names:
            raise MissingArtefactError(
                f"no cohorts in {ws.root}",
                Fix.run("cohort add", "add one: {}", name="NAME", labels="LABELS.csv"),
            )
        return names
    return [ws.require_cohort(name.strip()) for name in spec.split(",") if name.strip()]


def folds(ws: Workspace, cohort: str, fold: int | None, spec: str = "all") -> list[int]:
    """The folds to work on (one ``fold``, or ``spec``); every one must have a split file."""
    if fold is not None and spec != "all":
        raise BadInputError(f"one fold ({fold}) and a fold list ({spec}) given; give one of them")
    available = ws.folds(cohort)
    if not available:
        raise MissingArtefactError(
            f"cohort {cohort} has no splits", Fix.run("cohort split", name=cohort, folds=5)
        )
    if fold is not None:
        wanted = [fold]
    elif spec == "all":
        return available
    else:
        try:
            wanted = sorted({int(part) for part in spec.split(",") if part.strip()})
        except ValueError:
            raise BadInputError(f"folds {spec!r}: use all or fold numbers like 0,2,4") from None
    missing = [k for k in wanted if k not in available]
    if missing:
        raise MissingArtefactError(
            f"cohort {cohort} has no fold {missing[0]} (folds: {', '.join(map(str, available))})"
        )
    return wanted


def folds_having(
    ws: Workspace,
    names: list[str],
    fold: int | None,
    spec: str,
    has: Callable[[str, int], bool],
    refusal: Callable[[str, int], StephError],
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The selected (cohort, fold) pairs that have an artefact (``has``), and those that do
    not. Every fold (the default) means every fold that has it; folds named by number must
    all have it, and a selection with none has nothing to work on: the first pair without
    it is then refused with ``refusal`` — before any work."""
    asked = [(name, k) for name in names for k in folds(ws, name, fold, spec)]
    have = [(name, k) for name, k in asked if has(name, k)]
    missing = [pair for pair in asked if pair not in have]
    if missing and (fold is not None or spec != "all" or not have):
        raise refusal(*missing[0])
    return have, missing


def sources(ws: Workspace, target: str, spec: str) -> list[str]:
    """Source cohorts of a merge into ``target``: ``all`` = every other cohort, else a comma
    list, which must not contain the target."""
    if spec == "all":
        names = [c for c in ws.cohorts() if c != target]
        if not names:
            raise MissingArtefactError(
                f"no other cohort than {target} to merge from",
                Fix.run("cohort add", "add sources: {}", name="NAME", labels="LABELS.csv"),
            )
        return names
    names = cohorts(ws, spec)
    if target in names:
        raise BadInputError(
            f"target {target} is among its own sources {','.join(names)}; remove it from them"
        )
    return names
