"""Fold means and paired comparisons: "STEPH beats experts" as a number with a p-value."""

from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

from steph_cli.evaluation.folds import METRICS, FoldResult


@dataclass(frozen=True)
class Summary:
    target: str
    model: str
    metric: str
    mean: float | None
    std: float | None
    n: int  # folds with a value
    folds: int  # folds evaluated (with a model)


def summarize(results: list[FoldResult]) -> list[Summary]:
    groups: dict[tuple[str, str], list[FoldResult]] = {}
    for r in results:
        groups.setdefault((r.target, r.model), []).append(r)
    out = []
    for (target, model), rs in groups.items():
        evaluated = [r for r in rs if r.skipped is None]
        for metric in METRICS:
            values = [v for r in evaluated if (v := r.metrics[metric].value) is not None]
            mean = float(np.mean(values)) if values else None
            std = float(np.std(values)) if values else None
            out.append(Summary(target, model, metric, mean, std, len(values), len(evaluated)))
    return out


@dataclass(frozen=True)
class Paired:
    model: str
    baseline: str
    metric: str
    pairs: int
    mean_difference: float | None
    wins: int
    p_value: float | None
    reason: str | None = None


def paired(
    results: list[FoldResult], model: str, baseline: str, metric: str = "harrell_c"
) -> Paired:
    """Per (cohort, fold) differences model − baseline and a two-sided Wilcoxon signed-rank test."""
    value = {
        (r.target, r.fold, r.model): v
        for r in results
        if r.skipped is None and (v := r.metrics[metric].value) is not None
    }
    keys = sorted(
        {(t, f) for t, f, m in value if m == model} & {(t, f) for t, f, m in value if m == baseline}
    )
    diffs = np.array([value[(t, f, model)] - value[(t, f, baseline)] for t, f in keys])
    if len(diffs) == 0:
        return Paired(model, baseline, metric, 0, None, 0, None, "no folds with both models")
    wins = int((diffs > 0).sum())
    if len(diffs) < 2 or not np.any(diffs):
        return Paired(
            model,
            baseline,
            metric,
            len(diffs),
            float(diffs.mean()),
            wins,
            None,
            "too few non-zero differences for a test",
        )
    p = float(wilcoxon(diffs).pvalue)
    return Paired(model, baseline, metric, len(diffs), float(diffs.mean()), wins, p)


def compare(results: list[FoldResult], baseline: str) -> list[Paired]:
    """Every other model of ``results`` against ``baseline``."""
    return [paired(results, m, baseline) for m in sorted({r.model for r in results} - {baseline})]
