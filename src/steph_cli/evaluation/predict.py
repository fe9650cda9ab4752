"""Predictions of a model file for new bags: risk score and discrete survival curve."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from steph_cli.errors import BadInputError
from steph_cli.evaluation.inference import load_model
from steph_cli.survival import curves
from steph_cli.survival.bins import TimeBins
from steph_cli.workspace.features import read_features


@dataclass(frozen=True)
class Prediction:
    patient: str
    slides: list[str]
    patches: int
    risk: float
    days: list[float]  # right edge of each bin
    survival: list[float]  # probability of surviving to that day


def predict(
    model_path: Path,
    features: list[Path],
    patient_id: str | None = None,
    device: torch.device | str = "cpu",
) -> list[Prediction]:
    """One prediction per feature file, or one for all files as ``patient_id``'s bag."""
    model, model_file = load_model(model_path, device)
    arch = model_file.arch
    bins = TimeBins(**json.loads(model_file.meta.get("time_bins") or "{}"))
    groups = {patient_id: features} if patient_id else {p.stem: [p] for p in features}
    out = []
    for patient, paths in groups.items():
        bags = [read_features(p).features for p in paths]
        for path, bag in zip(paths, bags, strict=True):
            if bag.shape[1] != arch.in_dim:
                raise BadInputError(
                    f"{path}: features have dimension {bag.shape[1]} but {model_path} expects "
                    f"{arch.in_dim}; use features from the encoder the model was trained on"
                )
        bag = np.concatenate(bags)
        if len(bag) == 0:
            raise BadInputError(f"patient {patient}: no patches in {', '.join(map(str, paths))}")
        with torch.no_grad():
            logits = model(torch.from_numpy(bag).to(device))
        surv = curves.survival(logits).cpu().numpy().astype(float)
        out.append(
            Prediction(
                patient,
                [p.stem for p in paths],
                len(bag),
                float(curves.risk(logits).item()),
                ((np.arange(bins.count) + 1) * bins.width).tolist(),
                surv.tolist(),
            )
        )
    return out
