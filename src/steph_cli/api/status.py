"""The workspace at a glance: its cohorts and, per cohort, the models derived from them."""

from dataclasses import dataclass, field
from pathlib import Path

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.models.header import recorded_cindex
from steph_cli.workspace import cohorts, settings


@dataclass(frozen=True)
class CohortInventory:
    summary: cohorts.CohortSummary
    experts: list[int]
    vectors: list[int]
    merged: dict[str, list[int]] = field(default_factory=dict)
    # last recorded test Harrell's C per model, mean over its folds (from the model files)
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


def _mean_cindex(paths: list[Path]) -> float | None:
    values = [v for path in paths if (v := recorded_cindex(path)) is not None]
    return sum(values) / len(values) if values else None


def status(workspace: WorkspaceLike = None) -> Inventory:
    """Cohorts, slides, folds, experts, task vectors and merged models, with the test C-index
    each model recorded when it was made."""
    ws = workspace_of(workspace)
    rows = []
    for name in ws.cohorts():
        merged_dir = ws.root / "merged" / name
        merged = (
            {m.name: _fold_files(m) for m in sorted(merged_dir.iterdir()) if m.is_dir()}
            if merged_dir.is_dir()
            else {}
        )
        experts = _fold_files(ws.expert_file(name, 0).parent)
        files = {"expert": [ws.expert_file(name, k) for k in experts]}
        files |= {m: [ws.merged_file(name, m, k) for k in f] for m, f in merged.items()}
        cindex = {m: c for m, paths in files.items() if (c := _mean_cindex(paths)) is not None}
        rows.append(
            CohortInventory(
                cohorts.summarize(ws, name),
                experts,
                _fold_files(ws.vector_file(name, 0).parent),
                merged,
                cindex,
            )
        )
    return Inventory(str(ws.root), settings.load(ws), ws.init_file.is_file(), rows)
