"""``steph evaluate``: k-fold test metrics of experts and merged models, side by side."""

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli import options as opt
from steph_cli.cli.common import State, command, emit_json, note, out, progress, table

if TYPE_CHECKING:
    from steph_cli.evaluation.folds import FoldResult
    from steph_cli.evaluation.summary import Paired, Summary

LABELS = {"harrell_c": "Harrell's C", "uno_c": "Uno's C", "td_auc": "td-AUC", "ibs": "IBS"}


@command
def evaluate(
    state: State,
    target: Annotated[
        str,
        typer.Option(help="Target cohort, or all.", autocompletion=completion.cohorts_or_all),
    ],
    model: Annotated[
        str, typer.Option(help="expert, a merge method (steph, ada, ...), a list, or all.")
    ] = "all",
    fold: opt.Fold = None,
    folds: opt.Folds = "all",
    baseline: Annotated[str, typer.Option(help="Model the paired tests compare with.")] = "expert",
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write one row per fold and metric.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Folder for Kaplan–Meier plots and the C-index bar chart (PNG)."),
    ] = None,
) -> None:
    """K-fold test metrics of experts and merged models, side by side.

    Per fold: Harrell's C, Uno's C, time-dependent AUC and integrated Brier score
    (scikit-survival; IPCW from the fold's train split), then mean ± std over folds.

    A fold without a model, or a metric that cannot be computed (e.g. no events in the test
    split), is reported as missing with the reason; means say how many folds they cover.
    Every model is compared with --baseline on the same folds (Wilcoxon signed-rank).
    """
    results = evaluate_all(state, target, model, fold, folds, risk_groups=plot is not None)
    options = {"target": target, "model": model, "fold": fold, "folds": folds, "baseline": baseline}
    summaries, tests, content = conclude(state, results, options, baseline)
    if csv_path is not None:
        write_csv(csv_path, results)
        note(state, f"wrote {csv_path}")
    if plot is not None:
        draw(state, plot, results, summaries)
    if state.json:
        emit_json(content)
        return
    show(summaries, tests)


def evaluate_all(
    state: State,
    target: str,
    model: str,
    fold: int | None = None,
    folds: str = "all",
    risk_groups: bool = False,
) -> list["FoldResult"]:
    """Every (target, model, fold) asked for, with a progress bar; used by `demo` too."""
    from steph_cli import device as devices
    from steph_cli.evaluation import folds as lib
    from steph_cli.training import fold as fold_data
    from steph_cli.training.fold import FoldData
    from steph_cli.workspace import selection

    ws = state.ws
    device = devices.resolve(state.device)
    jobs: list[tuple[str, str, int]] = []
    for name in selection.cohorts(ws, target):
        models = lib.available_models(ws, name) if model == "all" else model.split(",")
        for k in selection.folds(ws, name, fold, folds):
            jobs.extend((name, m, k) for m in models)
    results = []
    loaded: dict[tuple[str, int], FoldData] = {}  # one load per fold, shared by its models
    with progress(state) as bar:
        task = bar.add_task("evaluating", total=len(jobs), info="")
        for name, m, k in jobs:
            bar.update(task, info=f"{name} {m} fold {k}")
            if lib.model_path(ws, name, m, k).is_file() and (name, k) not in loaded:
                loaded[(name, k)] = fold_data.load(ws, name, k, device)
            data = loaded.get((name, k))
            results.append(lib.evaluate_fold(ws, name, m, k, device, risk_groups, data))
            bar.advance(task)
    for r in results:
        if r.skipped:
            note(state, f"{r.target}: {r.skipped}, skipped")
    return results


def compare(results: list["FoldResult"], baseline: str) -> list["Paired"]:
    from steph_cli.evaluation.summary import paired

    return [paired(results, m, baseline) for m in sorted({r.model for r in results} - {baseline})]


def conclude(
    state: State, results: list["FoldResult"], options: Mapping[str, object], baseline: str
) -> tuple[list["Summary"], list["Paired"], dict[str, object]]:
    """Fold means, paired tests and the run record (metrics.json + manifest); `demo` too."""
    from steph_cli.evaluation import record
    from steph_cli.evaluation.summary import summarize
    from steph_cli.workspace import settings

    summaries, tests = summarize(results), compare(results, baseline)
    content = record.payload(results, summaries, tests)
    seed = state.seed if state.seed is not None else settings.load(state.ws).seed
    run_dir = record.record(state.ws, results, content, options, seed)
    note(state, f"run recorded in {run_dir}")
    return summaries, tests, content


def show(summaries: list["Summary"], tests: list["Paired"]) -> None:
    """Models side by side (one target) or cohort × model (several), then paired tests."""
    targets = sorted({s.target for s in summaries})
    out.print(model_table(targets[0], summaries) if len(targets) == 1 else cohort_table(summaries))
    if tests:
        out.print(paired_table(tests))


def _cell(s: "Summary", best: bool) -> str:
    if s.mean is None:
        return f"– (0/{s.folds})"
    text = f"{s.mean:.3f} ± {s.std:.3f}"
    if s.n < s.folds:
        text += f" ({s.n}/{s.folds})"
    return f"[bold green]{text}[/]" if best else text


def _best(values: list["Summary"], metric: str) -> float | None:
    from steph_cli.evaluation.folds import HIGHER_IS_BETTER

    known = [s.mean for s in values if s.mean is not None]
    if not known:
        return None
    return max(known) if HIGHER_IS_BETTER[metric] else min(known)


def model_table(target: str, summaries: list["Summary"]):  # type: ignore[no-untyped-def]
    from steph_cli.evaluation.folds import METRICS

    models = sorted({s.model for s in summaries}, key=lambda m: (m != "expert", m))
    by = {(s.model, s.metric): s for s in summaries}
    best = {m: _best([s for s in summaries if s.metric == m], m) for m in METRICS}
    rows = [
        [name, *(_cell(by[(name, m)], by[(name, m)].mean == best[m]) for m in METRICS)]
        for name in models
    ]
    return table(
        f"{target}: test metrics, mean ± std over folds (best in green; IBS lower is better)",
        ["model", *(LABELS[m] for m in METRICS)],
        rows,
    )


def cohort_table(summaries: list["Summary"]):  # type: ignore[no-untyped-def]
    import numpy as np

    harrell = [s for s in summaries if s.metric == "harrell_c"]
    models = sorted({s.model for s in harrell}, key=lambda m: (m != "expert", m))
    targets = sorted({s.target for s in harrell})
    by = {(s.target, s.model): s for s in harrell}
    rows = []
    for t in targets:
        present = [by[(t, m)] for m in models if (t, m) in by]
        best = _best(present, "harrell_c")
        rows.append(
            [
                t,
                *(
                    _cell(by[(t, m)], by[(t, m)].mean == best) if (t, m) in by else None
                    for m in models
                ),
            ]
        )
    means = []
    for m in models:
        values = [v for t in targets if (t, m) in by and (v := by[(t, m)].mean) is not None]
        cover = "" if len(values) == len(targets) else f" ({len(values)}/{len(targets)})"
        means.append(f"{np.mean(values):.3f}{cover}" if values else None)
    rows.append(["mean", *means])
    return table("Harrell's C on the test folds, mean ± std over folds", ["cohort", *models], rows)


def paired_table(tests: list["Paired"]):  # type: ignore[no-untyped-def]
    rows = [
        [
            t.model,
            t.baseline,
            t.pairs,
            None if t.mean_difference is None else f"{t.mean_difference:+.3f}",
            f"{t.wins}/{t.pairs}",
            f"{t.p_value:.3g}" if t.p_value is not None else t.reason,
        ]
        for t in tests
    ]
    return table(
        "paired comparison over (cohort, fold) pairs, Harrell's C (Wilcoxon signed-rank)",
        ["model", "vs", "pairs", "mean Δ", "wins", "p"],
        rows,
    )


def write_csv(path: Path, results: list["FoldResult"]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["target", "model", "fold", "n_test", "metric", "value", "reason"])
        for r in results:
            if r.skipped:
                writer.writerow([r.target, r.model, r.fold, 0, "", "", r.skipped])
            for name, metric in r.metrics.items():
                writer.writerow(
                    [r.target, r.model, r.fold, r.n_test, name, metric.value, metric.reason]
                )


def draw(state: State, folder: Path, results: list["FoldResult"], summaries) -> None:  # type: ignore[no-untyped-def]
    from steph_cli.evaluation import plots

    folder.mkdir(parents=True, exist_ok=True)
    for t, m in sorted({(r.target, r.model) for r in results if r.skipped is None}):
        path = folder / f"km-{t}-{m}.png"
        subset = [r for r in results if r.target == t and r.model == m]
        p = plots.kaplan_meier(subset, f"{t} · {m} (test folds)", path)
        note(state, f"{path}: log-rank p = {p if p is None else f'{p:.3g}'}")
    plots.cindex_bars(summaries, folder / "cindex.png")
    note(state, f"{folder / 'cindex.png'} saved")
