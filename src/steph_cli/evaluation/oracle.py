"""The oracle: Harrell's C of the true risk on a fold's test patients, where the true risk is
known (synthetic cohorts). It is the ceiling a model can reach on those patients — censoring
and the randomness of event times keep it below 1 — so a study can say how much room a
target's expert leaves for transfer to fill."""

import csv

import numpy as np

from steph_cli.survival.metrics import Metric, harrell_cindex
from steph_cli.workspace import splits
from steph_cli.workspace.cohorts import load_labels
from steph_cli.workspace.paths import Workspace

ORACLE = "oracle"


def true_risks(ws: Workspace, cohort: str) -> dict[str, float] | None:
    """The cohort's true risk per patient, or None where it is not known."""
    path = ws.true_risk_file(cohort)
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["patient_id"]: float(row["risk"]) for row in csv.DictReader(fh)}


def oracle_cindex(ws: Workspace, cohort: str, fold: int) -> Metric:
    """Harrell's C of the true risk on the fold's test patients."""
    risks = true_risks(ws, cohort)
    if risks is None:
        return Metric(None, f"the true risk of {cohort} is not known (synthetic cohorts only)")
    labels = load_labels(ws, cohort)
    test = labels.subset(splits.read_fold(ws.split_file(cohort, fold), fold, labels).test)
    return harrell_cindex(test.events, test.times, np.array([risks[p] for p in test.patients]))
