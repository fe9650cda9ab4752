"""Percentile bootstrap intervals of the concordance metrics over a fold's test patients.

A resample is a vector of counts (how often each test patient was drawn), so every
replicate of Harrell's C, Uno's C and the time-dependent AUC is a weighted sum over pairs of
patients: one [resamples, patients] @ [patients, patients] product per metric instead of a
thousand calls to scikit-survival. The pair rules are scikit-survival's
(``survival.concordance``), and the IPCW weights come from its censoring estimator
fitted on the fold's train split, so a replicate equals scikit-survival's metric on the
resampled patients. Replicates are kept per fold so that a cohort's mean over folds gets an
interval from the same replicates averaged (one resample per fold per replicate).
"""

import numpy as np
from sksurv.nonparametric import CensoringDistributionEstimator

from steph_cli.survival import concordance
from steph_cli.survival.metrics import Cohort

LEVEL = 0.95
DEFAULT_RESAMPLES = 1000


def resamples(n: int, count: int, seed: int | list[int]) -> np.ndarray:
    """[count, n] draw counts of ``count`` resamples of ``n`` patients with replacement."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=count).astype(np.float64)


def interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """(low, high): the percentile interval of the finite replicates (None when under half
    are finite: most resamples had no comparable pair)."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < max(2, len(replicates) // 2):
        return None
    low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def _ratio(weights: np.ndarray, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """wᵀ N w / wᵀ D w per resample (NaN where no pair is comparable)."""
    num = np.einsum("bi,ij,bj->b", weights, numerator, weights)
    den = np.einsum("bi,ij,bj->b", weights, denominator, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _ipcw(train: Cohort, test: Cohort) -> np.ndarray:
    """1 / G(t_i) for test events (G: the train split's censoring survival), 0 otherwise."""
    cens = CensoringDistributionEstimator().fit(train.surv)
    return np.asarray(cens.predict_ipcw(test.surv), dtype=np.float64)


def harrell(test: Cohort, risks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    comparable = concordance.comparable(test.times, test.events)
    return _ratio(weights, comparable * concordance.order_scores(risks), comparable)


def uno(
    train: Cohort, test: Cohort, risks: np.ndarray, tau: float | None, weights: np.ndarray
) -> np.ndarray:
    """Uno's C truncated at ``tau``: pairs weighted by 1 / G(t_i)² of their earlier event."""
    w = _ipcw(train, test) ** 2
    if tau is not None:
        w = np.where(test.times < tau, w, 0.0)
    comparable = concordance.comparable(test.times, test.events) * w[:, None]
    return _ratio(weights, comparable * concordance.order_scores(risks), comparable)


def _km(test: Cohort, weights: np.ndarray, times: np.ndarray) -> np.ndarray:
    """[resamples, len(times)] Kaplan–Meier survival of each resample at ``times``."""
    t, e = test.times.astype(np.float64), test.events.astype(bool)
    steps = np.unique(t[e])
    at_risk = weights @ (t[:, None] >= steps[None, :])  # [B, U]
    deaths = weights @ ((t[:, None] == steps[None, :]) & e[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1 - deaths / np.where(at_risk > 0, at_risk, 1), 1.0)
    log_s = np.cumsum(np.log(np.clip(factor, 1e-300, None)), axis=1)
    upto = (steps[None, :] <= times[:, None]).astype(np.float64)  # [T, U]
    return np.exp(_last(log_s, upto))


def _last(log_s: np.ndarray, upto: np.ndarray) -> np.ndarray:
    """log S at the last step at or before each time ([B, T]; 0 before the first step)."""
    index = upto.sum(axis=1).astype(np.int64) - 1  # [T]
    padded = np.concatenate([np.zeros((len(log_s), 1)), log_s], axis=1)
    return padded[:, index + 1]


def td_auc(
    train: Cohort, test: Cohort, risks: np.ndarray, times: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Cumulative/dynamic AUC at ``times``, averaged as scikit-survival does: integrated over
    the resample's Kaplan–Meier curve between the first and last time (over the times at
    which the resample has both a case and a control)."""
    t, e = test.times.astype(np.float64), test.events.astype(bool)
    ipcw = _ipcw(train, test)
    cases = ((t[None, :] <= times[:, None]) & e[None, :]) * ipcw[None, :]  # [T, n]
    controls = (t[None, :] > times[:, None]).astype(np.float64)  # [T, n]
    scores = concordance.order_scores(risks)
    wc = weights[:, None, :] * cases[None, :, :]  # [B, T, n]
    wk = weights[:, None, :] * controls[None, :, :]
    num = np.einsum("bti,ij,btj->bt", wc, scores, wk)
    den = wc.sum(-1) * wk.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    if len(times) == 1:
        return auc[:, 0]
    surv = _km(test, weights, times)
    drops = -np.diff(np.concatenate([np.ones((len(surv), 1)), surv], axis=1), axis=1)
    # A resample may draw no case (or no control) at some time: its AUC there is undefined,
    # and the mean runs over the times where it is defined. With every time defined this is
    # scikit-survival's mean, whose denominator 1 − S(last) is the sum of the drops.
    defined = np.isfinite(auc)
    total = np.where(defined, drops, 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.where(defined, auc * drops, 0.0).sum(1) / total, np.nan)
