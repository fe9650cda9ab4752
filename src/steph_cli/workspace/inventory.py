"""What a workspace holds: the cohorts and, per cohort, the models derived from them."""

from dataclasses import dataclass, field

from steph_cli.workspace import cohorts, settings
from steph_cli.workspace.paths import Workspace


@dataclass(frozen=True)
class CohortInventory:
    summary: cohorts.CohortSummary
    experts: list[int]
    vectors: list[int]
    merged: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    root: str
    settings: settings.Settings
    initialised: bool
    cohorts: list[CohortInventory]


def _fold_files(directory) -> list[int]:  # type: ignore[no-untyped-def]
    if not directory.is_dir():
        return []
    return sorted(
        int(p.stem[4:]) for p in directory.glob("fold*.safetensors") if p.stem[4:].isdigit()
    )


def take(ws: Workspace) -> Inventory:
    rows = []
    for name in ws.cohorts():
        merged_dir = ws.root / "merged" / name
        merged = (
            {m.name: _fold_files(m) for m in sorted(merged_dir.iterdir()) if m.is_dir()}
            if merged_dir.is_dir()
            else {}
        )
        rows.append(
            CohortInventory(
                cohorts.summarize(ws, name),
                _fold_files(ws.expert_file(name, 0).parent),
                _fold_files(ws.vector_file(name, 0).parent),
                merged,
            )
        )
    return Inventory(str(ws.root), settings.load(ws), ws.init_file.is_file(), rows)
