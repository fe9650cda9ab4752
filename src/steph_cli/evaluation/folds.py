"""Metrics of one model on one fold's test patients (METHOD §6)."""

import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from steph_cli.evaluation import bootstrap
from steph_cli.evaluation.inference import load_model
from steph_cli.survival import curves
from steph_cli.survival.metrics import (
    Cohort,
    Metric,
    evaluation_times,
    harrell_cindex,
    ibs,
    td_auc,
    uno_cindex,
)
from steph_cli.training import fold as fold_data
from steph_cli.workspace.paths import Workspace

METRICS = ("harrell_c", "uno_c", "td_auc", "ibs")
HIGHER_IS_BETTER = {"harrell_c": True, "uno_c": True, "td_auc": True, "ibs": False}


@dataclass
class FoldResult:
    target: str
    model: str
    fold: int
    metrics: dict[str, Metric] = field(default_factory=dict)
    n_test: int = 0
    skipped: str | None = None  # why this fold has no metrics (e.g. no model trained)
    patients: list[str] = field(default_factory=list)
    risks: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    train_median_risk: float | None = None  # splits test patients into low / high risk
    survival: list[list[float]] = field(default_factory=list)  # S at each bin's right edge
    bin_width: float = 0.0  # days per bin of ``survival``
    train_followup: float = 0.0  # the training patients' longest follow-up, days
    replicates: dict[str, np.ndarray] = field(default_factory=dict)  # bootstrap, per metric
    training: dict[str, object] | None = None  # a learned model's recorded training options

    def __repr__(self) -> str:  # counts: a notebook should not print every patient and risk
        head = f"FoldResult({self.target} {self.model} fold {self.fold}"
        if self.skipped:
            return f"{head}: skipped, {self.skipped})"
        c = self.metrics["harrell_c"].value if "harrell_c" in self.metrics else None
        shown = "none" if c is None else f"{c:.3f}"
        return f"{head}: {self.n_test} test patients, Harrell's C {shown})"


def resample_seed(seed: int, target: str, fold: int) -> list[int]:
    """The bootstrap's seed for one fold: every model of the fold is scored on the same
    resamples, so their intervals (and a mean over folds) are comparable."""
    return [seed, fold, zlib.crc32(target.encode())]


def model_path(ws: Workspace, target: str, model: str, fold: int) -> Path:
    if model == "expert":
        return ws.expert_file(target, fold)
    return ws.merged_file(target, model, fold)


def available_models(ws: Workspace, target: str) -> list[str]:
    merged = ws.root / "merged" / target
    methods = sorted(p.name for p in merged.iterdir() if p.is_dir()) if merged.is_dir() else []
    return ["expert", *methods]


def evaluate_fold(
    ws: Workspace,
    target: str,
    model: str,
    fold: int,
    device: torch.device,
    risk_groups: bool = False,
    data: fold_data.FoldData | None = None,
    resamples: int = 0,
    seed: int = 0,
) -> FoldResult:
    """Metrics of ``model`` on the fold's test patients; with ``risk_groups`` also the median
    risk of the fold's training patients (a forward pass over them), for Kaplan–Meier plots.
    ``data`` lets several models of one fold share its loaded bags and labels. With
    ``resamples``, each concordance metric gets a percentile bootstrap interval over the
    test patients, and its replicates are kept for the interval of a mean over folds."""
    path = model_path(ws, target, model, fold)
    if not path.is_file():
        return FoldResult(target, model, fold, skipped=f"no {model} model for fold {fold}")
    net, model_file = load_model(path, device)
    recorded = model_file.json("training_config")
    data = data or fold_data.load(ws, target, fold, device)
    logits = data.logits(net, data.test.patients)
    risks = curves.risk(logits).cpu().numpy().astype(np.float64)
    surv = curves.survival(logits).cpu().numpy()
    train = Cohort(data.train.times, data.train.events)
    test = Cohort(data.test.times, data.test.events)
    times, why = evaluation_times(train, test)
    tau = float(times[-1]) if len(times) else None
    metrics = {
        "harrell_c": harrell_cindex(test.events, test.times, risks),
        "uno_c": uno_cindex(train, test, risks, tau),
        "td_auc": td_auc(train, test, risks, times) if why is None else Metric(None, why),
        "ibs": (
            ibs(train, test, curves.survival_at(surv, data.bins.width, times), times)
            if why is None
            else Metric(None, why)
        ),
    }
    replicates: dict[str, np.ndarray] = {}
    if resamples:
        weights = bootstrap.resamples(len(test.times), resamples, resample_seed(seed, target, fold))
        replicates = _replicates(train, test, risks, times, tau, metrics, weights)
        for name, values in replicates.items():
            metrics[name] = replace(metrics[name], ci=bootstrap.interval(values))
    median = float(np.median(data.risks(net, data.train.patients))) if risk_groups else None
    return FoldResult(
        target,
        model,
        fold,
        metrics,
        len(data.test),
        patients=list(data.test.patients),
        risks=risks.tolist(),
        times=data.test.times.tolist(),
        events=data.test.events.tolist(),
        train_median_risk=median,
        survival=surv.tolist(),
        bin_width=data.bins.width,
        train_followup=float(train.times.max()),
        replicates=replicates,
        training=recorded if isinstance(recorded, dict) else None,
    )


def _replicates(
    train: Cohort,
    test: Cohort,
    risks: np.ndarray,
    times: np.ndarray,
    tau: float | None,
    metrics: dict[str, Metric],
    weights: np.ndarray,
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each concordance metric the fold has a value for."""
    made = {
        "harrell_c": lambda: bootstrap.harrell(test, risks, weights),
        "uno_c": lambda: bootstrap.uno(train, test, risks, tau, weights),
        "td_auc": lambda: bootstrap.td_auc(train, test, risks, times, weights),
    }
    return {name: make() for name, make in made.items() if metrics[name].value is not None}
