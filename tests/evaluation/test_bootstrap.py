"""Bootstrap intervals: each replicate is scikit-survival's metric on the resampled
patients, and the Harrell interval covers a known population C about 95% of the time."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
)

from steph_cli.evaluation import bootstrap
from steph_cli.evaluation.folds import FoldResult
from steph_cli.evaluation.summary import summarize
from steph_cli.survival.metrics import Cohort, Metric, evaluation_times


def _cohort(rng: np.random.Generator, n: int, censor: float | None = 1500.0):
    risk = rng.normal(size=n)
    t = rng.exponential(np.exp(-risk)) * 1000
    c = rng.exponential(censor, size=n) if censor else np.full(n, np.inf)
    return Cohort(np.round(np.minimum(t, c)), (t <= c).astype(np.int64)), risk


def test_replicates_equal_scikit_survival_on_the_resampled_patients() -> None:
    rng = np.random.default_rng(0)
    train, _ = _cohort(rng, 120)
    test, risk = _cohort(rng, 40)
    risk = np.round(risk, 1)  # ties in risk as well as in time
    times, why = evaluation_times(train, test)
    assert why is None
    weights = bootstrap.resamples(40, 12, 3)
    harrell = bootstrap.harrell(test, risk, weights)
    uno = bootstrap.uno(train, test, risk, float(times[-1]), weights)
    auc = bootstrap.td_auc(train, test, risk, times, weights)
    checked = 0
    for b, w in enumerate(weights):
        idx = np.repeat(np.arange(40), w.astype(int))
        sub = Cohort(test.times[idx], test.events[idx])
        expected = concordance_index_censored(sub.events.astype(bool), sub.times, risk[idx])[0]
        assert harrell[b] == pytest.approx(expected, abs=1e-12)
        expected = concordance_index_ipcw(train.surv, sub.surv, risk[idx], tau=times[-1])[0]
        assert uno[b] == pytest.approx(expected, abs=1e-12)
        if times.max() < sub.times.max() and times.min() >= sub.times.min():
            expected = cumulative_dynamic_auc(train.surv, sub.surv, risk[idx], times)[1]
            assert auc[b] == pytest.approx(expected, abs=1e-12)
            checked += 1
    assert checked >= 6


def _population_c(beta: float) -> float:
    """Harrell's C of risk r ~ N(0, 1) for exponential times with hazard exp(β r), no
    censoring: P(r_i > r_j | t_i < t_j) = 2 E[σ(β d) 1(d > 0)], d = r_i − r_j ~ N(0, 2)."""
    sd = np.sqrt(2.0)
    value, _ = quad(lambda d: norm.pdf(d, scale=sd) / (1 + np.exp(-beta * d)), 0, np.inf)
    return 2 * value


def test_harrell_interval_covers_the_population_c() -> None:
    rng = np.random.default_rng(1)
    truth = _population_c(1.0)
    covered = 0
    reps = 200
    for k in range(reps):
        test, risk = _cohort(rng, 60, censor=None)
        found = bootstrap.interval(bootstrap.harrell(test, risk, bootstrap.resamples(60, 400, k)))
        assert found is not None
        covered += found[0] <= truth <= found[1]
    assert 0.88 <= covered / reps <= 0.99, covered / reps


def test_mean_over_folds_uses_every_fold_s_replicates() -> None:
    rng = np.random.default_rng(2)
    draws = [rng.normal(0.6 + 0.05 * k, 0.03, size=500) for k in range(3)]
    folds = [
        FoldResult("T", "m", k, {"harrell_c": Metric(float(d.mean()))}, replicates={"harrell_c": d})
        for k, d in enumerate(draws)
    ]
    for r in folds:
        for name in ("uno_c", "td_auc", "ibs"):
            r.metrics[name] = Metric(None, "not computed")
    harrell = next(s for s in summarize(folds) if s.metric == "harrell_c")
    expected = bootstrap.interval(np.mean(draws, axis=0))
    assert expected is not None and harrell.ci == expected
    # a fold without replicates (not bootstrapped) leaves the mean without an interval
    folds[1].replicates = {}
    assert next(s for s in summarize(folds) if s.metric == "harrell_c").ci is None
