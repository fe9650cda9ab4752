"""Training one cancer-specific expert for one fold, from the shared initialisation."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from steph_cli.errors import StephError
from steph_cli.models import init as model_init
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL, Architecture
from steph_cli.survival import curves
from steph_cli.survival.bins import TimeBins
from steph_cli.survival.loss import nll_loss
from steph_cli.survival.metrics import harrell_cindex
from steph_cli.training.loop import TrainConfig, fit
from steph_cli.workspace import bags, cohorts, settings
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run
from steph_cli.workspace.splits import read_fold


@dataclass(frozen=True)
class ArchOptions:
    """Architecture options; the feature dimension and bins come from the workspace."""

    embed_dim: int = 512
    attn_dim: int = 384
    dropout: float = 0.25

    def build(self, in_dim: int, n_bins: int) -> Architecture:
        return Architecture(in_dim, self.embed_dim, self.attn_dim, n_bins, self.dropout)


@dataclass
class ExpertResult:
    cohort: str
    fold: int
    path: Path
    skipped: bool
    test_cindex: float | None = None
    test_cindex_reason: str | None = None
    final_loss: float | None = None
    seconds: float = 0.0
    run_dir: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Progress:
    """Callbacks a front end may pass to follow long work."""

    on_start: Callable[[str, int], None] = lambda description, total: None
    on_step: Callable[[], None] = lambda: None
    on_epoch: Callable[[dict[str, float]], None] = lambda record: None


def workspace_bins(ws: Workspace) -> TimeBins:
    s = settings.load(ws)
    return TimeBins(s.time_bins, s.max_time_days)


def predict_risk(model: ABMIL, store: bags.BagStore, patients, device) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Risk scores (−Σ S_j) of ``patients`` with the model in eval mode."""
    model.eval()
    with torch.no_grad():
        logits = torch.stack([model(store.tensor(p, device)) for p in patients])
    return curves.risk(logits).cpu().numpy().astype(np.float64)


def _summary_meta(result: ExpertResult) -> dict[str, object]:
    return {"harrell_cindex": result.test_cindex, "reason": result.test_cindex_reason}


def train_expert(
    ws: Workspace,
    cohort: str,
    fold: int,
    config: TrainConfig,
    arch_options: ArchOptions,
    device: torch.device,
    force: bool = False,
    progress: Progress | None = None,
) -> ExpertResult:
    """Train (or, if already done and not ``force``, skip) the expert of ``cohort``/``fold``."""
    progress = progress or Progress()
    out_path = ws.expert_file(cohort, fold)
    if out_path.is_file() and not force:
        meta = io.read_meta(out_path)
        metrics = io.ModelFile({}, meta).json("test_metrics") or {}
        return ExpertResult(
            cohort, fold, out_path, skipped=True, test_cindex=metrics.get("harrell_cindex")
        )
    labels = cohorts.load_labels(ws, cohort)
    split = read_fold(ws.split_file(cohort, fold), fold, labels)
    bins = workspace_bins(ws)
    store = bags.open_store(ws, cohort, labels)
    ws_settings = settings.set_feature_dim(ws, store.dim, f"features of {cohort}")
    arch = arch_options.build(store.dim, bins.count)
    init, init_sha = model_init.ensure(ws, arch, ws_settings.seed)

    started = time.time()
    run = Run.start(ws, "train", f"{cohort}-fold{fold}")
    train = labels.subset(split.train)
    y = torch.as_tensor(bins.index(train.times), device=device)
    e = torch.as_tensor(train.events, device=device)
    model = ABMIL(arch)
    model.load_state_dict(init.tensors)
    model.to(device).train()

    def step(i: int) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(store.tensor(train.patients[i], device)).unsqueeze(0)
        return nll_loss(logits, y[i : i + 1], e[i : i + 1], config.alpha_u), {}

    def on_epoch(record: dict[str, float]) -> None:
        run.log("epoch", **record)
        progress.on_epoch(record)

    options = {"cohort": cohort, "fold": fold, **config.as_dict(), "architecture": arch.to_json()}
    run.write("config.json", options)
    progress.on_start(f"{cohort} fold {fold}", config.epochs * len(train))
    history = fit(
        list(model.named_parameters()),
        len(train),
        step,
        config,
        item_name=lambda i: f"patient {train.patients[i]}",
        on_step=progress.on_step,
        on_epoch=on_epoch,
    )
    test = labels.subset(split.test)
    cindex = harrell_cindex(
        test.events, test.times, predict_risk(model, store, test.patients, device)
    )
    result = ExpertResult(
        cohort,
        fold,
        out_path,
        skipped=False,
        test_cindex=cindex.value,
        test_cindex_reason=cindex.reason,
        final_loss=history[-1]["loss"],
        run_dir=run.directory,
        history=history,
    )
    io.write(
        out_path,
        model.state_dict(),
        "expert",
        arch,
        cohort=cohort,
        fold=str(fold),
        seed=str(config.seed),
        init_sha256=init_sha,
        time_bins=bins.as_dict(),
        training_config=config.as_dict(),
        test_metrics=_summary_meta(result),
    )
    run.write(
        "metrics.json",
        {
            "cohort": cohort,
            "fold": fold,
            "train_loss": [round(h["loss"], 10) for h in history],
            "test_harrell_cindex": cindex.as_dict(),
            "n_train": len(train),
            "n_test": len(test),
        },
    )
    run.manifest(
        options,
        {
            "labels": io.sha256(ws.labels_file(cohort)),
            "split": io.sha256(ws.split_file(cohort, fold)),
            "init": init_sha,
            "features": store.digest,
            "expert": io.sha256(out_path),
        },
        config.seed,
    )
    return replace(result, seconds=time.time() - started)


def check_bins(ws: Workspace, count: int | None, max_days: float | None) -> TimeBins:
    """Apply bin options to a workspace without models yet; refuse to mix bins otherwise."""
    current = workspace_bins(ws)
    wanted = TimeBins(count or current.count, max_days or current.max_days)
    if wanted == current:
        return current
    if ws.init_file.is_file() or any((ws.root / "experts").glob("*/*.safetensors")):
        raise StephError(
            f"this workspace's models use {current.count} bins to {current.max_days:g} days; "
            f"{wanted.count} bins to {wanted.max_days:g} days would mix settings. "
            "Use a new workspace for other bins"
        )
    settings.save(
        ws, replace(settings.ensure(ws), time_bins=wanted.count, max_time_days=wanted.max_days)
    )
    return wanted
