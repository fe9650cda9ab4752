"""Out-of-fold predictions as records: what every downstream analysis (R, lifelines, a
calibration plot) starts from."""

import numpy as np

from steph_cli.evaluation.folds import FoldResult
from steph_cli.survival.curves import survival_at

# Years at which each patient's survival is reported.
HORIZONS = (1.0, 2.0, 3.0, 5.0, 10.0)
DAYS_PER_YEAR = 365.25


def _label(years: float) -> str:
    return f"S_{years:g}y"


def prediction_records(
    results: list[FoldResult], horizons: tuple[float, ...] = HORIZONS
) -> list[dict[str, object]]:
    """One record per (model, cohort, fold, test patient) of every scored fold."""
    days = np.asarray(horizons, dtype=np.float64) * DAYS_PER_YEAR
    records: list[dict[str, object]] = []
    for r in results:
        if r.skipped is not None or not r.patients:
            continue
        surv = survival_at(np.asarray(r.survival), r.bin_width, days)
        beyond = days > r.train_followup
        for i, patient in enumerate(r.patients):
            record: dict[str, object] = {
                "model": r.model,
                "cohort": r.target,
                "fold": r.fold,
                "patient": patient,
                "time": r.times[i],
                "event": int(r.events[i]),
                "risk": r.risks[i],
                "train_followup_days": r.train_followup,
            }
            for k, years in enumerate(horizons):
                record[_label(years)] = float(surv[i, k])
                record[f"{_label(years)}_beyond_followup"] = bool(beyond[k])
            records.append(record)
    return records
