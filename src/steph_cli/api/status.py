"""The workspace at a glance: its cohorts and, per cohort, what was made from them — fresh,
stale or missing for every fold."""

from dataclasses import dataclass, field
from pathlib import Path

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError
from steph_cli.models import provenance
from steph_cli.models.header import recorded_cindex
from steph_cli.workspace import cohorts, settings
from steph_cli.workspace.paths import Workspace


@dataclass(frozen=True)
class Freshness:
    """The folds of one kind of artefact: fresh, stale (with what changed) or missing."""

    fresh: list[int] = field(default_factory=list)
    stale: dict[int, list[str]] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CohortInventory:
    summary: cohorts.CohortSummary
    experts: Freshness
    vectors: Freshness
    merged: dict[str, Freshness] = field(default_factory=dict)
    # recorded test Harrell's C per model, mean over its fresh folds (from the model files)
    cindex: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    root: str
    settings: settings.Settings
    initialised: bool
    cohorts: list[CohortInventory]


def _fold_files(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(
        int(p.stem[4:]) for p in directory.glob("fold*.safetensors") if p.stem[4:].isdigit()
    )


def _freshness(folds: list[int], directory: Path, digests: provenance.Digests) -> Freshness:
    result = Freshness()
    for k in sorted(set(folds) | set(_fold_files(directory))):
        path = directory / f"fold{k}.safetensors"
        if not path.is_file():
            result.missing.append(k)
        elif reasons := _stale(path, digests):
            result.stale[k] = reasons
        else:
            result.fresh.append(k)
    return result


def _stale(path: Path, digests: provenance.Digests) -> list[str]:
    """Why a model is stale; a file that cannot be read is listed as such (the workspace at
    a glance must not stop at one bad file: ``steph verify`` says which step remakes it)."""
    try:
        return provenance.stale(path, digests)
    except BadInputError:
        return ["not a readable model file (corrupt or truncated; see steph verify)"]


def _mean_cindex(paths: list[Path]) -> float | None:
    values = [v for path in paths if (v := recorded_cindex(path)) is not None]
    return sum(values) / len(values) if values else None


def _cohort(ws: Workspace, name: str, digests: provenance.Digests) -> CohortInventory:
    folds = ws.folds(name)
    merged_dir = ws.root / "merged" / name
    methods = (
        sorted(m.name for m in merged_dir.iterdir() if m.is_dir()) if merged_dir.is_dir() else []
    )
    experts = _freshness(folds, ws.expert_file(name, 0).parent, digests)
    merged = {m: _freshness(folds, ws.merged_file(name, m, 0).parent, digests) for m in methods}
    files = {"expert": [ws.expert_file(name, k) for k in experts.fresh]}
    files |= {m: [ws.merged_file(name, m, k) for k in f.fresh] for m, f in merged.items()}
    cindex = {m: c for m, paths in files.items() if (c := _mean_cindex(paths)) is not None}
    return CohortInventory(
        cohorts.summarize(ws, name),
        experts,
        _freshness(folds, ws.vector_file(name, 0).parent, digests),
        merged,
        cindex,
    )


def status(workspace: WorkspaceLike = None) -> Inventory:
    """Cohorts, slides and folds; per cohort, experts, task vectors and merged models with
    their fresh / stale / missing folds (stale: an input changed since it was made, named),
    and the test C-index each fresh model recorded when it was made."""
    ws = workspace_of(workspace)
    digests = provenance.Digests(ws)
    rows = [_cohort(ws, name, digests) for name in ws.cohorts()]
    digests.hashes.save()
    return Inventory(str(ws.root), settings.load(ws), ws.init_file.is_file(), rows)
