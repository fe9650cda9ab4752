"""Turning ``--cancer NAME|all`` and ``--fold K`` / ``--folds all|0,2,4`` into lists."""

from steph_cli.errors import StephError
from steph_cli.workspace.paths import Workspace


def cohorts(ws: Workspace, spec: str) -> list[str]:
    """``all`` (every registered cohort) or a comma-separated list of cohort names."""
    if spec == "all":
        names = ws.cohorts()
        if not names:
            raise StephError(f"no cohorts in {ws.root}; add one with `steph cohort add`")
        return names
    return [ws.require_cohort(name.strip()) for name in spec.split(",") if name.strip()]


def folds(ws: Workspace, cohort: str, fold: int | None, spec: str = "all") -> list[int]:
    """The folds to work on; every one must have a split file."""
    available = ws.folds(cohort)
    if not available:
        raise StephError(
            f"cohort {cohort} has no splits; run `steph cohort split {cohort} --folds 5`"
        )
    if fold is not None:
        wanted = [fold]
    elif spec == "all":
        return available
    else:
        try:
            wanted = sorted({int(part) for part in spec.split(",") if part.strip()})
        except ValueError:
            raise StephError(f"--folds {spec!r}: use all or fold numbers like 0,2,4") from None
    missing = [k for k in wanted if k not in available]
    if missing:
        raise StephError(
            f"cohort {cohort} has no fold {missing[0]} (folds: {', '.join(map(str, available))})"
        )
    return wanted
