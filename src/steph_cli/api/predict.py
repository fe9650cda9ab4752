"""Predictions of any model file for new patients."""

from collections.abc import Sequence
from pathlib import Path

from steph_cli import device as devices
from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.evaluation import predict as lib
from steph_cli.evaluation.predict import Prediction


def predict(
    model: str | Path,
    features: Sequence[str | Path],
    *,
    patient_id: str | None = None,
    device: str = "auto",
    workspace: WorkspaceLike = None,
) -> list[Prediction]:
    """Risk score (−Σ S_j, higher = worse) and discrete survival curve per patient: one per
    feature file, or one for all files as ``patient_id``'s bag. Works with expert files and
    every merged file (STEPH files are self-contained), wherever they were made. A relative
    path not found in the current folder is looked up in ``workspace``."""
    ws = workspace_of(workspace)
    found = ws.find(Path(model), "model file")
    paths = [ws.find(Path(f), "feature file") for f in features]
    return lib.predict(found, paths, patient_id, devices.resolve(device))
