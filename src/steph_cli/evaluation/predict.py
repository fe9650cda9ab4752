"""Predictions of a model file for new bags: risk score and discrete survival curve."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from steph_cli.errors import BadInputError
from steph_cli.models.io import ModelFile
from steph_cli.survival import curves
from steph_cli.survival.bins import TimeBins
from steph_cli.workspace.features import read_features


@dataclass(frozen=True)
class Prediction:
    model: str  # the model file's name
    patient: str
    slides: list[str]
    patches: int
    risk: float
    days: list[float]  # right edge of each bin
    survival: list[float]  # probability of surviving to that day
    followup_days: float | None  # the model's training follow-up (None: not known here)

    def __repr__(self) -> str:  # the curve's 32 numbers belong in asdict(), not a repr
        return (
            f"Prediction({self.model}: {self.patient}, {self.patches} patches, "
            f"risk {self.risk:.4f})"
        )

    def beyond_followup(self, days: float) -> bool:
        """Whether S at ``days`` extrapolates past what the model's training patients saw."""
        return self.followup_days is not None and days > self.followup_days


def predict(
    model: nn.Module,
    model_file: ModelFile,
    name: str,
    groups: Mapping[str, list[Path]],
    device: torch.device | str = "cpu",
    followup_days: float | None = None,
) -> list[Prediction]:
    """One prediction per patient of ``groups``, its bag being all its files' patches."""
    arch = model_file.arch
    bins = TimeBins(**json.loads(model_file.meta.get("time_bins") or "{}"))
    days = ((np.arange(bins.count) + 1) * bins.width).tolist()
    out = []
    for patient, paths in groups.items():
        bags = [read_features(p).features for p in paths]
        for path, bag in zip(paths, bags, strict=True):
            if bag.shape[1] != arch.in_dim:
                raise BadInputError(
                    f"{path}: features have dimension {bag.shape[1]} but {name} expects "
                    f"{arch.in_dim}; use features from the encoder the model was trained on"
                )
        bag = np.concatenate(bags)
        if len(bag) == 0:
            raise BadInputError(f"patient {patient}: no patches in {', '.join(map(str, paths))}")
        with torch.no_grad():
            logits = model(torch.from_numpy(bag).to(device))
        out.append(
            Prediction(
                name,
                patient,
                [p.stem for p in paths],
                len(bag),
                float(curves.risk(logits).item()),
                days,
                curves.survival(logits).cpu().numpy().astype(float).tolist(),
                followup_days,
            )
        )
    return out
