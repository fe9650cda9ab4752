"""Harrell's pair rules as arrays: one C-index is two sums, and a thousand bootstrap
replicates are one product each (``evaluation.bootstrap``).

The rules are scikit-survival's ``concordance_index_censored``: a pair (i, j) is comparable
when i has an event and an earlier time than j, or the same time with j censored; it is
concordant when i's risk is higher, and counts one half when the risks lie within 1e-8.
Counts of ones and halves are exact in float64, so the C-index is scikit-survival's to the
bit (tests/survival/test_metrics.py) without importing it: with scikit-learn and SciPy that
costs ~1.8 s, which every process that trains would pay for its test C-index alone.
"""

import math

import numpy as np

TIED_TOL = 1e-8
# event rows per block of pairs: memory grows with ROWS × patients, never patients²
ROWS = 1024


def order_scores(risks: np.ndarray, against: np.ndarray | None = None) -> np.ndarray:
    """S[i, j]: 1 when risk i is above risk j (of ``against``, default the same), 1/2 when
    they tie."""
    other = risks if against is None else against
    diff = risks[:, None] - other[None, :]
    return np.where(np.abs(diff) <= TIED_TOL, 0.5, (diff > 0).astype(np.float64))


def comparable(times: np.ndarray, events: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """P[i, j]: i's event precedes j's time (or ties with j's censoring), for the patients
    ``rows`` (default all) against every patient."""
    t, e = np.asarray(times, np.float64), np.asarray(events).astype(bool)
    who = slice(None) if rows is None else rows
    ti = t[who][:, None]
    earlier = ti < t[None, :]
    tied_censored = (ti == t[None, :]) & ~e[None, :]
    return (e[who][:, None] & (earlier | tied_censored)).astype(np.float64)


def harrell_counts(times: np.ndarray, events: np.ndarray, risks: np.ndarray) -> tuple[float, float]:
    """(concordant, comparable) pair counts, ties in risk counted one half."""
    r = np.asarray(risks, np.float64)
    cases = np.flatnonzero(np.asarray(events).astype(bool))
    concordant = total = 0.0
    for rows in np.array_split(cases, max(1, math.ceil(len(cases) / ROWS))):
        pairs = comparable(times, events, rows)
        concordant += float((pairs * order_scores(r[rows], r)).sum())
        total += float(pairs.sum())
    return concordant, total
