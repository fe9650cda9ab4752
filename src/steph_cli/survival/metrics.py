"""Survival metrics, each returning a value or the reason there is none.

Harrell's C uses the continuous follow-up times and the risk score (−Σ S_j), counted by
``survival.concordance`` with scikit-survival's rules. Uno's C, the time-dependent AUC and
the integrated Brier score (scikit-survival's) weight by the inverse probability of
censoring estimated on the fold's *train* split, at evaluation times between the 10th and
90th percentiles of the observed times (the IPCW estimators fail or explode near the end
of follow-up).
"""

import warnings
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from steph_cli.survival import concordance

LOW_Q, HIGH_Q = 10, 90


def _sksurv(name: str) -> ModuleType:
    """A scikit-survival module, imported where a metric is computed: with scikit-learn and
    SciPy it costs ~1.5 s, which commands that never score (extract, vector) need not pay."""
    import importlib

    return importlib.import_module(f"sksurv.{name}")


@dataclass(frozen=True)
class Metric:
    value: float | None
    reason: str | None = None
    ci: tuple[float, float] | None = None  # 95% percentile bootstrap over test patients

    def as_dict(self) -> dict[str, object]:
        ci = list(self.ci) if self.ci else None
        return {"value": self.value, "reason": self.reason, "ci": ci}


def harrell_cindex(events: np.ndarray, times: np.ndarray, risks: np.ndarray) -> Metric:
    """Harrell's C with continuous follow-up times (higher risk should mean earlier event):
    scikit-survival's value, from the pair counts of ``survival.concordance``."""
    events = np.asarray(events).astype(bool)
    times, risks = np.asarray(times, float), np.asarray(risks, float)
    if not len(events) == len(times) == len(risks):
        raise ValueError(f"{len(events)} events, {len(times)} times and {len(risks)} risks")
    if len(events) < 2:
        return Metric(None, f"{len(events)} patient(s): need at least 2")
    if not events.any():
        return Metric(None, "no events among these patients")
    if not (np.isfinite(times).all() and np.isfinite(risks).all()):
        return Metric(None, "follow-up times or risk scores are not all finite")
    concordant, comparable = concordance.harrell_counts(times, events, risks)
    if comparable == 0:  # scikit-survival gives NaN here, or raises when none is an event
        return Metric(None, "no comparable pairs (no event precedes another follow-up time)")
    return Metric(concordant / comparable)


@dataclass(frozen=True)
class Cohort:
    """Follow-up of a set of patients: times (days) and events (1 event / 0 censored)."""

    times: np.ndarray
    events: np.ndarray

    @property
    def surv(self) -> np.ndarray:
        return _sksurv("util").Surv.from_arrays(self.events.astype(bool), self.times.astype(float))


def evaluation_times(train: Cohort, test: Cohort, count: int = 8) -> tuple[np.ndarray, str | None]:
    """Times between the 10th and 90th percentiles of the test split's observed times, from
    its first event on and inside the range both splits' follow-up supports; empty with the
    reason if none."""
    if not test.events.any():
        return np.array([]), "no events in the test split"
    low, high = np.percentile(test.times, [LOW_Q, HIGH_Q])
    high = min(high, test.times.max() - 1e-6, train.times.max() - 1e-6)
    # before the first event there are no cases, and the AUC there is undefined
    low = max(low, test.times[test.events.astype(bool)].min())
    if not high > low:
        return np.array([]), "follow-up too short for time-dependent metrics"
    return np.unique(np.linspace(low, high, count)), None


def _ipcw(name, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run scikit-survival's IPCW estimator ``name``, turning its failures into a reason."""
    fn = getattr(_sksurv("metrics"), name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except (ValueError, ZeroDivisionError, FloatingPointError) as exc:
            return None, f"{type(exc).__name__}: {exc}"


def uno_cindex(train: Cohort, test: Cohort, risks: np.ndarray, tau: float | None) -> Metric:
    if not test.events.any():
        return Metric(None, "no events in the test split")
    out, reason = _ipcw("concordance_index_ipcw", train.surv, test.surv, risks, tau=tau)
    if out is None:
        return Metric(None, reason)
    value = float(out[0])
    return Metric(value) if np.isfinite(value) else Metric(None, "not finite")


def td_auc(train: Cohort, test: Cohort, risks: np.ndarray, times: np.ndarray) -> Metric:
    if len(times) == 0:
        return Metric(None, "no evaluation times")
    out, reason = _ipcw("cumulative_dynamic_auc", train.surv, test.surv, risks, times)
    if out is None:
        return Metric(None, reason)
    value = float(out[1])
    return Metric(value) if np.isfinite(value) else Metric(None, "not finite")


def ibs(train: Cohort, test: Cohort, survival_at: np.ndarray, times: np.ndarray) -> Metric:
    """Integrated Brier score; ``survival_at`` is [patients, len(times)]."""
    if len(times) < 2:
        return Metric(None, "need at least two evaluation times")
    out, reason = _ipcw("integrated_brier_score", train.surv, test.surv, survival_at, times)
    if out is None:
        return Metric(None, reason)
    value = float(out)
    return Metric(value) if np.isfinite(value) else Metric(None, "not finite")
