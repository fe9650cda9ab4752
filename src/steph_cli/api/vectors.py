"""Task vectors τ = expert − θ_init: written per (cohort, fold), with their geometry."""

from dataclasses import dataclass
from pathlib import Path

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import Fix, MissingArtefactError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import vectors as lib
from steph_cli.merging.vectors import VectorReport, VectorResult
from steph_cli.workspace import selection


@dataclass(frozen=True)
class Vectors:
    written: list[VectorResult]  # every selected (cohort, fold); ``written`` False if current
    geometry: VectorReport  # norms and cosine table of the first selected fold

    def to_json(self) -> dict[str, object]:
        g = self.geometry
        return {
            "fold": g.fold,
            "cohorts": g.cohorts,
            "norms": dict(zip(g.cohorts, g.norms, strict=True)),
            "cosine": g.cosine,
            "written": [
                {"cohort": r.cohort, "fold": r.fold, "written": r.written} for r in self.written
            ],
        }


def vectors(
    workspace: WorkspaceLike = None,
    cancer: str = "all",
    *,
    fold: int | None = None,
    folds: str = "all",
    force: bool = False,
    plot: str | Path | None = None,
    hooks: Hooks = NO_HOOKS,
) -> Vectors:
    """Write the task vectors (MIL encoder only) of the selected experts and report, for the
    first selected fold, each cohort's norm (total and per layer) and the cohort × cohort
    cosine similarities; ``plot`` saves them as a heatmap (PNG/SVG/PDF).

    Every fold (the default) means every fold that has an expert: the others are named in
    a note. Folds asked for by number must all have one, checked before anything is
    written."""
    ws = workspace_of(workspace)
    names = selection.cohorts(ws, cancer)
    work, missing = selection.folds_having(
        ws,
        names,
        fold,
        folds,
        lambda name, k: ws.expert_file(name, k).is_file(),
        lambda name, k: MissingArtefactError(
            f"no expert for {name} fold {k}", Fix.run("train", cancer=name, fold=k)
        ),
    )
    for name in dict.fromkeys(n for n, _ in missing):
        without = ",".join(str(k) for n, k in missing if n == name)
        hooks.note(f"{name}: no expert for fold(s) {without}, so no task vector there")
    written = [lib.write_vector(ws, name, k, force) for name, k in work]
    fresh = sum(r.written for r in written)
    hooks.note(f"{fresh} task vector(s) written, {len(written) - fresh} up to date")
    first = work[0][1]
    geometry = lib.report(ws, [n for n in names if (n, first) in work], first)
    if plot is not None:
        lib.similarity_plot(geometry, Path(plot))
        hooks.note(f"heatmap saved to {plot}")
    return Vectors(written, geometry)
