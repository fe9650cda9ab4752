"""Survival metrics against independent references: lifelines, brute force, direct sksurv."""

import numpy as np
import pytest
from lifelines.utils import concordance_index
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.util import Surv

from steph_cli.survival import concordance
from steph_cli.survival.curves import survival_at
from steph_cli.survival.metrics import (
    Cohort,
    evaluation_times,
    harrell_cindex,
    ibs,
    td_auc,
    uno_cindex,
)


def brute_force_harrell(times, events, risks) -> float:
    """Pairs (i, j) with an event for i and a later time for j (or the same time with j
    censored); concordant if i has the higher risk, half for tied risks."""
    concordant = comparable = 0.0
    for i in range(len(times)):
        if not events[i]:
            continue
        for j in range(len(times)):
            if times[i] < times[j] or (times[i] == times[j] and not events[j] and i != j):
                comparable += 1
                if risks[i] > risks[j]:
                    concordant += 1
                elif risks[i] == risks[j]:
                    concordant += 0.5
    return concordant / comparable


@pytest.mark.parametrize("seed", range(4))
def test_harrell_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    times = rng.integers(1, 30, 60).astype(float)  # many tied times
    events = rng.integers(0, 2, 60)
    risks = rng.integers(0, 8, 60).astype(float)  # many tied risks
    ours = harrell_cindex(events, times, risks).value
    assert ours == pytest.approx(brute_force_harrell(times, events, risks), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_harrell_matches_lifelines(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    times = rng.permutation(np.arange(1, 81)).astype(float)  # lifelines and sksurv agree
    events = rng.integers(0, 2, 80)
    risks = rng.normal(size=80)
    # lifelines scores predicted survival (higher = longer), so the risk enters negated
    reference = concordance_index(times, -risks, events)
    assert harrell_cindex(events, times, risks).value == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("rows", [concordance.ROWS, 5])
@pytest.mark.parametrize("seed", range(6))
def test_harrell_is_scikit_survivals_to_the_bit(seed: int, rows: int, monkeypatch) -> None:
    """Tied times, tied risks, risks a hair apart (within and beyond the 1e-8 tolerance), and
    pairs counted in blocks of 5 event rows as well as all at once."""
    monkeypatch.setattr(concordance, "ROWS", rows)
    rng = np.random.default_rng(200 + seed)
    n = 97
    times = rng.integers(1, 40, n).astype(float)
    events = rng.integers(0, 2, n).astype(bool)
    risks = rng.integers(0, 6, n) + rng.choice([0.0, 5e-9, 3e-8], n)
    reference = concordance_index_censored(events, times, risks)[0]
    assert harrell_cindex(events, times, risks).value == reference


def _split(seed: int):
    rng = np.random.default_rng(seed)
    train = Cohort(rng.uniform(10, 3000, 120).round(), rng.integers(0, 2, 120))
    test = Cohort(rng.uniform(10, 2500, 50).round(), rng.integers(0, 2, 50))
    return rng, train, test


def test_ipcw_metrics_match_direct_sksurv_calls() -> None:
    rng, train, test = _split(0)
    risks = rng.normal(size=50)
    times, why = evaluation_times(train, test)
    assert why is None and len(times) > 2
    lo, hi = np.percentile(test.times, [10, 90])
    assert times.min() >= lo and times.max() <= hi
    s_train = Surv.from_arrays(train.events.astype(bool), train.times)
    s_test = Surv.from_arrays(test.events.astype(bool), test.times)
    tau = float(times[-1])
    assert uno_cindex(train, test, risks, tau).value == pytest.approx(
        concordance_index_ipcw(s_train, s_test, risks, tau=tau)[0]
    )
    assert td_auc(train, test, risks, times).value == pytest.approx(
        cumulative_dynamic_auc(s_train, s_test, risks, times)[1]
    )
    surv = np.clip(1 - np.outer(1 / (1 + np.exp(-risks)), times / 4000), 0, 1)
    assert ibs(train, test, surv, times).value == pytest.approx(
        integrated_brier_score(s_train, s_test, surv, times)
    )


def test_missing_metrics_say_why() -> None:
    assert (
        harrell_cindex([0, 0, 0], [1, 2, 3], [1, 2, 3]).reason == "no events among these patients"
    )
    assert "need at least 2" in harrell_cindex([1], [1.0], [0.3]).reason
    # no event precedes another time: no pair to compare (scikit-survival raises for the
    # first and gives NaN for the second, two events at one time)
    assert "no comparable pairs" in harrell_cindex([0, 0, 1], [1, 2, 3], [1, 2, 3]).reason
    assert "no comparable pairs" in harrell_cindex([1, 1], [5, 5], [1, 2]).reason
    assert "not all finite" in harrell_cindex([1, 0], [1, 2], [np.nan, 0.1]).reason
    assert "not all finite" in harrell_cindex([1, 0], [1, np.inf], [0.2, 0.1]).reason
    with pytest.raises(ValueError, match="3 events, 2 times and 3 risks"):
        harrell_cindex([1, 0, 1], [1, 2], [0.2, 0.1, 0.3])
    _, train, _ = _split(1)
    censored = Cohort(np.array([5.0, 9.0, 20.0]), np.array([0, 0, 0]))
    assert uno_cindex(train, censored, np.zeros(3), None).reason == "no events in the test split"
    times, why = evaluation_times(train, censored)
    assert len(times) == 0 and why == "no events in the test split"
    assert td_auc(train, censored, np.zeros(3), times).value is None


def test_survival_at_interpolates_between_bin_edges() -> None:
    s = np.array([[0.8, 0.4, 0.2]])  # through bins of 100 days: S(100)=.8, S(200)=.4, S(300)=.2
    at = survival_at(s, 100.0, np.array([0, 50, 100, 150, 300, 1000]))
    np.testing.assert_allclose(at, [[1.0, 0.9, 0.8, 0.6, 0.2, 0.2]])
