"""Workspaces and cohorts: open or create a workspace, register, split and describe cohorts,
import precomputed features."""

from dataclasses import dataclass
from pathlib import Path

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError, Fix
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.workspace import cohorts as lib
from steph_cli.workspace import settings
from steph_cli.workspace.cohorts import CohortSummary
from steph_cli.workspace.features import FeatureFile
from steph_cli.workspace.labels import Columns
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.splits import Fold


def open_workspace(
    path: WorkspaceLike = None, create: bool = False, seed: int | None = None
) -> Workspace:
    """The workspace at ``path`` (default ``$STEPH_WORKSPACE``, else the user data folder).

    With ``create``, its ``steph.toml`` is written if missing, recording ``seed`` (default 0):
    the shared initialisation of every expert is drawn from it.
    """
    ws = workspace_of(path)
    if create:
        settings.ensure(ws, seed=seed)
    return ws


def add_cohort(
    workspace: WorkspaceLike,
    name: str,
    labels: str | Path,
    splits: str | Path | None = None,
    features: str | Path | None = None,
    *,
    link: bool = False,
    force: bool = False,
    time_unit: str | None = None,
    endpoint: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    patient_col: str | None = None,
    slide_col: str | None = None,
    event_means: str | None = None,
    seed: int | None = None,
    hooks: Hooks = NO_HOOKS,
) -> CohortSummary:
    """Register a cohort: survival labels, optional splits and patch features; every file is
    validated before anything is written. Creates the workspace (with ``seed``) if needed.

    ``time_unit`` (days, months, years) is what the labels' time column holds; by default
    its name says (CLAM's ``survival_months``), else days, and a median follow-up
    implausible for that unit is refused. Times are stored in days; a conversion is
    reported through ``hooks``. A TCGA-CDR table is read at ``endpoint`` (OS, DSS, DFI,
    PFI; default DSS); ``*_col`` name the columns of any other table and ``event_means``
    (event or censored) what a 1 in its event column means.
    """
    if seed is not None:
        settings.check_seed(seed)
    read = lib.add_cohort(
        workspace_of(workspace),
        name,
        Path(labels),
        None if splits is None else Path(splits),
        None if features is None else Path(features),
        link=link,
        force=force,
        time_unit=time_unit,
        settings_seed=seed,
        columns=Columns(patient_col, slide_col, time_col, event_col, event_means, endpoint),
    )
    for message in read.notes:
        hooks.note(message)
    for message in read.warnings:
        hooks.warn(message)
    return lib.summarize(workspace_of(workspace), name)


def list_cohorts(workspace: WorkspaceLike = None) -> list[CohortSummary]:
    ws = workspace_of(workspace)
    return [lib.summarize(ws, c) for c in ws.cohorts()]


def cohort(workspace: WorkspaceLike, name: str) -> CohortSummary:
    """One cohort: sizes, events, follow-up, folds and warnings."""
    ws = workspace_of(workspace)
    return lib.summarize(ws, ws.require_cohort(name))


@dataclass(frozen=True)
class Splits:
    folds: list[Fold]
    seed: int  # the seed they were drawn with


def split_cohort(
    workspace: WorkspaceLike,
    name: str,
    folds: int = 5,
    seed: int | None = None,
    force: bool = False,
) -> Splits:
    """Patient-level k-fold splits, stratified by event and follow-up time (``seed``: the
    workspace's unless given). A cohort with models made from its current splits is split
    again only with ``force``; its models are then stale."""
    ws = workspace_of(workspace)
    products = sorted(
        str(p.relative_to(ws.root))
        for folder in (ws.expert_file(name, 0).parent, ws.root / "merged" / name)
        if folder.is_dir()
        for p in folder.rglob("*.safetensors")
    )
    if products and not force:
        more = f" and {len(products) - 1} more" if len(products) > 1 else ""
        raise BadInputError(
            f"cohort {name} has models made from its current splits ({products[0]}{more}); "
            "new splits would make them stale",
            Fix.set("force", "{} splits it anyway"),
        )
    used = settings.resolve_seed(ws, seed)
    return Splits(lib.split_cohort(ws, ws.require_cohort(name), folds, used), used)


@dataclass(frozen=True)
class Imported:
    files: list[FeatureFile]  # the files imported now
    kept: int  # files already in the workspace, kept (``force`` replaces them)


def import_features(
    workspace: WorkspaceLike,
    cancer: str,
    source: str | Path,
    *,
    link: bool = False,
    force: bool = False,
    hooks: Hooks = NO_HOOKS,
) -> Imported:
    """Import CLAM/TRIDENT/UNI2-h-features HDF5 files found under ``source`` (recursively)."""
    ws = workspace_of(workspace)
    files, kept = lib.import_features(ws, cancer, Path(source), link=link, force=force)
    if kept:
        hooks.note(
            f"{kept} slide(s) already had features and were kept (importing with force "
            "replaces them)"
        )
    return Imported(files, kept)
