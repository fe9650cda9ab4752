"""Fold means and paired comparisons: "STEPH beats experts" as a number with a p-value."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.stats import norm, t, wilcoxon

from steph_cli.evaluation import bootstrap
from steph_cli.evaluation.folds import METRICS, FoldResult
from steph_cli.merging import controls


class StudyRow(Protocol):
    """One model's Harrell's C on one fold of one study cell (``api.study.Row``)."""

    @property
    def target(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def size(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def fold(self) -> int: ...
    @property
    def harrell_c(self) -> float | None: ...
    @property
    def skipped(self) -> str | None: ...
    @property
    def train_patients(self) -> int: ...


@dataclass(frozen=True)
class Summary:
    target: str
    model: str
    metric: str
    mean: float | None
    std: float | None
    n: int  # folds with a value
    folds: int  # folds evaluated (with a model)
    ci: tuple[float, float] | None = None  # 95% bootstrap interval of the mean over folds


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
            out.append(
                Summary(
                    target,
                    model,
                    metric,
                    mean,
                    std,
                    len(values),
                    len(evaluated),
                    _pooled_ci(evaluated, metric) if values else None,
                )
            )
    return out


def _pooled_ci(results: list[FoldResult], metric: str) -> tuple[float, float] | None:
    """The interval of the mean over folds: replicate b is the mean of each fold's b-th
    replicate (each fold resampled on its own), so the folds' spread and their sizes both
    count. None unless every fold with a value was bootstrapped."""
    with_value = [r for r in results if r.metrics[metric].value is not None]
    draws = [d for r in with_value if (d := r.replicates.get(metric)) is not None]
    if not draws or len(draws) < len(with_value) or len({len(d) for d in draws}) > 1:
        return None
    return bootstrap.interval(np.stack(draws).mean(axis=0))


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
    ci: tuple[float, float] | None = None  # 95% t-interval of the mean difference


# What a study must be able to see: a transfer effect of two points of C-index.
EFFECT = 0.02
# The Wilcoxon signed-rank test's efficiency relative to the paired t-test for normal data
# (3/π): it needs about 5% more pairs for the same power.
WILCOXON_ARE = 3 / np.pi


def mean_ci(diffs: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The t-interval of the mean of paired differences (None below two pairs)."""
    if len(diffs) < 2:
        return None
    half = t.ppf(0.5 + level / 2, len(diffs) - 1) * np.std(diffs, ddof=1) / np.sqrt(len(diffs))
    return float(diffs.mean() - half), float(diffs.mean() + half)


def pairs_needed(sd: float, effect: float = EFFECT, alpha: float = 0.05, power: float = 0.8) -> int:
    """Paired differences of spread ``sd`` that a two-sided Wilcoxon signed-rank test at
    ``alpha`` needs to detect a mean ``effect`` with ``power``: the normal approximation
    ((z_{1−α/2} + z_power) · sd / effect)², over the test's efficiency (Lehmann, 1975)."""
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return int(np.ceil((z * sd / effect) ** 2 / WILCOXON_ARE))


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
    return Paired(
        model, baseline, metric, len(diffs), float(diffs.mean()), wins, p, ci=mean_ci(diffs)
    )


def compare(results: list[FoldResult], baseline: str) -> list[Paired]:
    """Every other model of ``results`` against ``baseline``."""
    return [paired(results, m, baseline) for m in sorted({r.model for r in results} - {baseline})]


def transfer(results: list[FoldResult]) -> list[Paired]:
    """Each real merge against each of its controls evaluated with it (``merging.controls``):
    real − control per (cohort, fold), the transfer effect."""
    models = {r.model for r in results}
    return [
        _unmatched(results, real, m) or paired(results, real, m)
        for m in sorted(models)
        if (real := controls.real_of(m)) in models
    ]


def _unmatched(results: list[FoldResult], real: str, control: str) -> Paired | None:
    """A control trained with other options than its merge on some fold (another number of
    epochs, learning rate, ...) measures the options, not the sources: no effect is given."""
    training = {(r.target, r.fold, r.model): r.training for r in results if r.skipped is None}
    for (target, fold, model), options in sorted(training.items()):
        other = training.get((target, fold, control))
        if model != real or options is None or other is None:
            continue
        differ = [k for k in options if k != "seed" and options[k] != other.get(k)]
        if differ:
            what = ", ".join(f"{k} {options[k]} vs {other.get(k)}" for k in differ)
            return Paired(
                real,
                control,
                "harrell_c",
                0,
                None,
                0,
                None,
                f"not a matched control: {target} fold {fold} trained with other options "
                f"({what}); remake the control with the merge's",
            )
    return None


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None: no test, left out)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class StudyMean:
    """Harrell's C of one model on one cohort (or the mean over cohorts) at one size."""

    size: float
    target: str  # a cohort, or "mean" (of the cohorts' means)
    model: str
    n: int  # folds × seeds with a value (cohorts, for the mean)
    mean: float | None
    sd: float | None


@dataclass
class StudyPair:
    """One model against the baseline on the (cohort, seed, fold) pairs both have, one size."""

    size: float
    model: str
    baseline: str
    pairs: int
    mean_difference: float | None
    wins: int
    ties: int
    losses: int
    p_value: float | None
    p_holm: float | None = None
    ci: tuple[float, float] | None = None  # 95% t-interval of the mean difference
    sd: float | None = None  # of the paired differences
    needed: int | None = None  # pairs that detect a mean difference of EFFECT (pairs_needed)
    group: str = "all"  # the targets compared: all, or (transfer) those with family / alone


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    mean = float(np.mean(values)) if values else None
    return mean, float(np.std(values, ddof=1)) if len(values) > 1 else None


def study_tables(
    rows: Sequence[StudyRow], baseline: str
) -> tuple[list[StudyMean], list[StudyPair]]:
    """Fold × seed means per size, cohort and model (and over cohorts), and each model
    against ``baseline``: mean Δ, wins/ties/losses, a two-sided Wilcoxon signed-rank p and
    Holm's adjustment across the models of each size."""
    value = {
        (r.size, r.target, r.model, r.seed, r.fold): r.harrell_c
        for r in rows
        if r.harrell_c is not None and r.skipped is None
    }
    sizes = sorted({r.size for r in rows})
    models = sorted({r.model for r in rows})
    targets = sorted({r.target for r in rows})
    means: list[StudyMean] = []
    for size, model in itertools.product(sizes, models):
        per_cohort = []
        for target in targets:
            got = [v for (s, t, m, _, _), v in value.items() if (s, t, m) == (size, target, model)]
            means.append(StudyMean(size, target, model, len(got), *_mean_sd(got)))
            if got:
                per_cohort.append(float(np.mean(got)))
        means.append(StudyMean(size, "mean", model, len(per_cohort), *_mean_sd(per_cohort)))
    pairs: list[StudyPair] = []
    for size in sizes:
        block = []
        for model in [m for m in models if m != baseline]:
            keys = sorted(
                (t, sd, f)
                for (s, t, m, sd, f) in value
                if s == size and m == model and (s, t, baseline, sd, f) in value
            )
            diffs = np.array(
                [
                    value[(size, t, model, sd, f)] - value[(size, t, baseline, sd, f)]
                    for t, sd, f in keys
                ]
            )
            p = float(wilcoxon(diffs).pvalue) if np.count_nonzero(diffs) >= 2 else None
            mean = float(diffs.mean()) if len(diffs) else None
            wins, ties = int((diffs > 0).sum()), int((diffs == 0).sum())
            sd = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None
            block.append(
                StudyPair(
                    size,
                    model,
                    baseline,
                    len(diffs),
                    mean,
                    wins,
                    ties,
                    len(diffs) - wins - ties,
                    p,
                    ci=mean_ci(diffs),
                    sd=sd,
                    needed=pairs_needed(sd) if sd else None,
                )
            )
        for pair, adjusted in zip(block, holm([b.p_value for b in block]), strict=True):
            pair.p_holm = adjusted
        pairs.extend(block)
    return means, pairs
