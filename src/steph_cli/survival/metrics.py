"""Survival metrics through scikit-survival, returning a value or the reason there is none."""

from dataclasses import dataclass

import numpy as np
from sksurv.metrics import concordance_index_censored


@dataclass(frozen=True)
class Metric:
    value: float | None
    reason: str | None = None

    def as_dict(self) -> dict[str, float | str | None]:
        return {"value": self.value, "reason": self.reason}


def harrell_cindex(events: np.ndarray, times: np.ndarray, risks: np.ndarray) -> Metric:
    """Harrell's C with continuous follow-up times (higher risk should mean earlier event)."""
    events = np.asarray(events).astype(bool)
    if len(events) < 2:
        return Metric(None, f"{len(events)} patient(s): need at least 2")
    if not events.any():
        return Metric(None, "no events among these patients")
    try:
        value = concordance_index_censored(
            events, np.asarray(times, float), np.asarray(risks, float)
        )[0]
    except ValueError as exc:  # e.g. no comparable pairs
        return Metric(None, str(exc))
    return Metric(float(value))
