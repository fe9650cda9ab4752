"""k-fold test metrics of experts and merged models, fold means and paired comparisons."""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from steph_cli import device as devices
from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError, MissingArtefactError
from steph_cli.evaluation import folds as lib
from steph_cli.evaluation import record
from steph_cli.evaluation.bootstrap import DEFAULT_RESAMPLES
from steph_cli.evaluation.folds import FoldResult
from steph_cli.evaluation.predictions import HORIZONS, prediction_records
from steph_cli.evaluation.summary import Paired, Summary, compare, summarize, transfer
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import methods
from steph_cli.models import provenance
from steph_cli.training import fold as fold_data
from steph_cli.workspace import selection, settings
from steph_cli.workspace.paths import Workspace


@dataclass
class Evaluation:
    """Per-fold metrics, their means over folds, and each model against the baseline."""

    folds: list[FoldResult]
    summary: list[Summary]
    paired: list[Paired]
    transfer: list[Paired] = field(default_factory=list)  # each merge − its controls
    run_dir: Path | None = None

    def __repr__(self) -> str:  # counts: a notebook should not print every patient
        scored = [r for r in self.folds if r.skipped is None]
        return (
            f"Evaluation({len({r.target for r in self.folds})} target(s), "
            f"{len({r.model for r in self.folds})} model(s), {len(scored)} fold(s) scored, "
            f"{len(self.folds) - len(scored)} skipped; run {self.run_dir})"
        )

    def to_json(self) -> dict[str, object]:
        """What ``steph evaluate --json`` prints and the run's metrics.json holds."""
        return record.payload(self.folds, self.summary, self.paired, self.transfer)

    def write_csv(self, path: str | Path) -> Path:
        """One row per (target, model, fold, metric), with the reason where there is no value."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["target", "model", "fold", "n_test", "metric", "value", "reason"])
            for r in self.folds:
                if r.skipped:
                    writer.writerow([r.target, r.model, r.fold, 0, "", "", r.skipped])
                for name, metric in r.metrics.items():
                    writer.writerow(
                        [r.target, r.model, r.fold, r.n_test, name, metric.value, metric.reason]
                    )
        return path

    def predictions(self, horizons: tuple[float, ...] = HORIZONS) -> list[dict[str, object]]:
        """Out-of-fold predictions, one record per (model, cohort, fold, test patient), in a
        form ``pandas.DataFrame`` takes as it is: time (days) and event, ``risk`` (−Σ S:
        higher means earlier death; lifelines' ``concordance_index`` wants ``-risk``),
        ``S_<h>y`` the survival at ``h`` years and ``S_<h>y_beyond_followup`` whether that
        time lies beyond the fold's training follow-up (an extrapolation)."""
        return prediction_records(self.folds, horizons)

    def write_predictions(self, path: str | Path) -> Path:
        """:meth:`predictions` as CSV, or as Parquet for a ``.parquet`` path (needs pyarrow)."""
        import pandas as pd

        path = Path(path)
        frame = pd.DataFrame(self.predictions())
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            try:
                frame.to_parquet(path, index=False)
            except ImportError as exc:
                raise BadInputError(
                    f"{path}: writing Parquet needs pyarrow (pip install pyarrow); or give a "
                    ".csv path"
                ) from exc
        else:
            frame.to_csv(path, index=False)
        return path

    def plot(
        self, folder: str | Path, form: str = "png", time_unit: str = "days"
    ) -> dict[Path, float | None]:
        """Kaplan–Meier plots of predicted risk groups with 95% bands (each with its log-rank
        p-value; times in ``time_unit``: days, months or years) and the C-index bar chart in
        ``folder``, as ``form`` (png, svg or pdf). Test patients are split at the median
        risk of their fold's training patients when the evaluation computed it
        (``risk_groups``), else at their own median."""
        from steph_cli.evaluation import plots

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[Path, float | None] = {}
        for t, m in sorted({(r.target, r.model) for r in self.folds if r.skipped is None}):
            path = folder / f"km-{t}-{m}.{form}"
            subset = [r for r in self.folds if r.target == t and r.model == m]
            written[path] = plots.kaplan_meier(subset, f"{t} · {m} (test folds)", path, time_unit)
        bars = plots.cindex_bars(self.summary, folder / f"cindex.{form}")
        written[bars] = None
        return written


def model_names(spec: str, ws: Workspace, targets: list[str]) -> list[str] | None:
    """The models asked for (None: every one a target has); unknown names are refused. A
    model is the expert, a merge method, or a labelled merge the targets have (a grid
    point of a study)."""
    if spec == "all":
        return None
    labelled = {m for t in targets for m in lib.available_models(ws, t)}
    known = ["expert", *methods.names(), *sorted(labelled - {"expert", *methods.names()})]
    names = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        raise BadInputError(
            f"unknown model {', '.join(unknown) or spec!r}; use all or any of {', '.join(known)}"
        )
    return names


def evaluate(
    workspace: WorkspaceLike = None,
    target: str = "all",
    model: str = "all",
    *,
    fold: int | None = None,
    folds: str = "all",
    baseline: str = "expert",
    risk_groups: bool = False,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int | None = None,
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> Evaluation:
    """Test metrics of every (target, model, fold) asked for, recorded as a run.

    Per fold: Harrell's C, Uno's C, time-dependent AUC and integrated Brier score
    (scikit-survival; IPCW from the fold's train split). A fold without a model, or whose
    model is stale (an input changed since it was made), is skipped with the reason; every
    model is compared with ``baseline`` on the same folds (Wilcoxon signed-rank).
    Harrell's C, Uno's C and the td-AUC get percentile bootstrap 95% intervals from
    ``bootstrap`` resamples of each fold's test patients (0: none), seeded by ``seed``;
    a mean over folds gets its interval from the folds' replicates averaged.
    ``risk_groups`` also scores each fold's training patients, for the
    Kaplan–Meier plots of :meth:`Evaluation.plot`.
    """
    ws = workspace_of(workspace)
    if bootstrap < 0:
        raise BadInputError(f"bootstrap {bootstrap}: give a number of resamples, or 0 for none")
    targets = selection.cohorts(ws, target)
    wanted = model_names(model, ws, targets)
    if baseline == "all" or "," in baseline:
        raise BadInputError(
            f"baseline {baseline!r}: the paired tests compare every model with one baseline; "
            "name one model (default expert)"
        )
    model_names(baseline, ws, targets)
    where = devices.resolve(device)
    used = settings.resolve_seed(ws, seed)
    work: list[tuple[str, str, int]] = []
    for name in targets:
        models = lib.available_models(ws, name) if wanted is None else wanted
        for k in selection.folds(ws, name, fold, folds):
            work.extend((name, m, k) for m in models)
    results = []
    loaded: dict[tuple[str, int], fold_data.FoldData] = {}  # one load per fold, for its models
    digests = provenance.Digests(ws)
    hooks.bar("evaluate", len(work), "evaluating")
    for name, m, k in work:
        hooks.status("evaluate", f"{name} {m} fold {k}")
        path = lib.model_path(ws, name, m, k)
        stale = provenance.stale(path, digests) if path.is_file() else []
        if stale:
            results.append(lib.FoldResult(name, m, k, skipped=f"stale: {'; '.join(stale)}"))
        else:
            if path.is_file() and (name, k) not in loaded:
                loaded[(name, k)] = fold_data.load(ws, name, k, where)
            data = loaded.get((name, k))
            results.append(
                lib.evaluate_fold(ws, name, m, k, where, risk_groups, data, bootstrap, used)
            )
        hooks.advance("evaluate")
    digests.hashes.save()
    if all(r.skipped for r in results):
        reasons = sorted({r.skipped for r in results if r.skipped})
        more = f" (and {len(reasons) - 1} other reason(s))" if len(reasons) > 1 else ""
        raise MissingArtefactError(
            f"nothing to score: {len(results)} fold(s) asked for, none with a model that can "
            f"be scored — {reasons[0] if reasons else 'no folds'}{more}"
        )
    for r in results:
        if r.skipped:
            hooks.note(f"{r.target}: {r.skipped}, skipped")
    evaluation = Evaluation(
        results, summarize(results), compare(results, baseline), transfer(results)
    )
    call = {
        "target": target,
        "model": model,
        "fold": fold,
        "folds": folds,
        "baseline": baseline,
        "risk_groups": risk_groups,
        "bootstrap": bootstrap,
        "seed": seed,
        "device": str(where),
    }
    evaluation.run_dir = record.record(ws, results, evaluation.to_json(), call, used)
    hooks.note(f"run recorded in {evaluation.run_dir}")
    return evaluation
