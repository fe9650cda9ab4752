"""Running one merge for one target fold: validate, build, train if learned, evaluate, write.

The target expert comes from the run's fold (no test patient of the target leaks in); the
sources from ``source_fold`` (default 0). Learned merges train on the target's train patients
of that fold and every merge is evaluated on its test patients.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from steph_cli.errors import StephError
from steph_cli.merging import methods
from steph_cli.merging.learned import ScalarMerge
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool, load_pool
from steph_cli.models import io
from steph_cli.models.abmil import ABMIL
from steph_cli.models.header import recorded_cindex
from steph_cli.progress import Progress
from steph_cli.survival.metrics import Metric
from steph_cli.training import fold as fold_data
from steph_cli.training.config import TrainConfig
from steph_cli.workspace import selection
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run


@dataclass
class MergeResult:
    target: str
    method: str
    fold: int
    path: Path
    skipped: bool
    test_cindex: float | None = None
    test_cindex_reason: str | None = None
    expert_cindex: float | None = None
    seconds: float = 0.0
    run_dir: Path | None = None
    sources: list[str] = field(default_factory=list)
    # per source: mean merging weight (and, for STEPH, λ and how often selected)
    source_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings for the user, e.g. collapse


def _existing(ws: Workspace, path: Path, target: str, method: str, fold: int) -> MergeResult:
    model = io.ModelFile({}, io.read_meta(path))
    return MergeResult(
        target,
        method,
        fold,
        path,
        skipped=True,
        test_cindex=recorded_cindex(path),
        expert_cindex=recorded_cindex(ws.expert_file(target, fold)),
        sources=list(model.json("sources") or []),  # type: ignore[call-overload]
        source_stats=dict(model.json("source_stats") or {}),  # type: ignore[call-overload]
    )


def merge(
    ws: Workspace,
    target: str,
    sources: list[str],
    method_name: str,
    fold: int,
    options: MergeOptions,
    config: TrainConfig,
    device: torch.device,
    source_fold: int = 0,
    force: bool = False,
    progress: Progress | None = None,
) -> MergeResult:
    method = methods.get(method_name)
    pool = load_pool(ws, target, sources, fold, source_fold)  # validates before any work
    path = ws.merged_file(target, method.name, fold)
    if path.is_file() and not force:
        return _existing(ws, path, target, method.name, fold)
    progress = progress or Progress()
    started = time.time()
    data = fold_data.load(ws, target, fold, device)
    run = Run.start(ws, "merge", f"{target}-{method.name}-fold{fold}")
    settings = {
        "target": target,
        "method": method.name,
        "fold": fold,
        "source_fold": source_fold,
        "sources": pool.names,
        "options": options.as_dict(),
        "training": config.as_dict(),
    }
    run.write("config.json", settings)
    history: list[dict[str, float]] = []
    notes: list[str] = []
    if method.kind == "static":
        tensors = _static(pool, method, options)
        model = ABMIL(pool.arch)
        model.load_state_dict(tensors)
        model.to(device).eval()
        cindex = data.test_cindex(model)
        stats = {name: {"weight": options.gamma} for name in pool.names}
    elif method.kind == "scalar":
        tensors, cindex, stats, history = _scalar(
            pool, method, options, config, data, run, progress
        )
    else:  # hyper
        from steph_cli.merging.hyper import train_steph

        tensors, cindex, stats, history, extra_meta = train_steph(
            pool, options, config, data, run, progress
        )
        if extra_meta["collapsed_epochs"]:
            notes.append(
                f"{target} fold {fold}: the merging weights collapsed (selected weights summed "
                f"to under 0.01 of a task vector in epochs {extra_meta['collapsed_epochs']}): the "
                "merged encoder is θ_init and the model only a head on its features. Use "
                "--weight-activation softplus, --beta-w 0, --head-init target or a lower --lr"
            )
    meta: dict[str, object] = {
        "method": method.name,
        "cohort": target,
        "target": target,
        "fold": str(fold),
        "source_fold": str(source_fold),
        "seed": str(config.seed),
        "init_sha256": pool.init_sha256,
        "target_expert_sha256": pool.target.sha256,
        "sources": pool.names,
        "sources_sha256": {m.cohort: m.sha256 for m in pool.sources},
        "merge_options": options.as_dict(),
        "time_bins": data.bins.as_dict(),
        "test_metrics": {"harrell_cindex": cindex.value, "reason": cindex.reason},
        "source_stats": stats,
    }
    if method.kind != "static":
        meta["training_config"] = config.as_dict()
    if method.kind == "hyper":
        meta.update(extra_meta)
    io.write(path, tensors, "merged", pool.arch, **meta)
    run.write(
        "metrics.json",
        {
            "target": target,
            "method": method.name,
            "fold": fold,
            "train_loss": [round(h["loss"], 10) for h in history],
            "test_harrell_cindex": cindex.as_dict(),
            "source_stats": stats,
        },
    )
    inputs = {**data.inputs(ws), "init": pool.init_sha256, "target_expert": pool.target.sha256}
    inputs.update({f"source_expert:{m.cohort}": m.sha256 for m in pool.sources})
    run.manifest(settings | {"merged": io.sha256(path)}, inputs, config.seed)
    return MergeResult(
        target,
        method.name,
        fold,
        path,
        skipped=False,
        test_cindex=cindex.value,
        test_cindex_reason=cindex.reason,
        expert_cindex=recorded_cindex(ws.expert_file(target, fold)),
        seconds=time.time() - started,
        run_dir=run.directory,
        sources=pool.names,
        source_stats=stats,
        history=history,
        notes=notes,
    )


def _static(pool: Pool, method: methods.Method, options: MergeOptions) -> dict[str, torch.Tensor]:
    assert method.build is not None
    encoder = method.build(pool, options)
    tensors = {k: v.clone() for k, v in pool.target.state.items()}  # target head kept
    tensors.update(pool.layout.unflatten(encoder))
    return tensors


def _scalar(
    pool: Pool,
    method: methods.Method,
    options: MergeOptions,
    config: TrainConfig,
    data: fold_data.FoldData,
    run: Run,
    progress: Progress,
) -> tuple[dict[str, torch.Tensor], Metric, dict[str, dict[str, float]], list[dict[str, float]]]:
    assert method.build is not None
    rows = method.build(pool, options)
    head = pool.target.state if options.head_init == "target" else None
    model = ScalarMerge(pool.arch, pool.layout, pool.base, rows, seed=config.seed, head=head)
    model.to(data.device).train()

    def with_weights(record: dict[str, float]) -> dict[str, float]:
        weights = model.weights.detach().cpu().tolist()
        return {**record, **{f"w:{n}": w for n, w in zip(pool.names, weights, strict=True)}}

    history = data.fit(
        model.trainable(),
        lambda bag: (model(bag), None, {}),
        config,
        run,
        progress,
        f"{pool.target.cohort} {method.name} fold {data.fold}",
        annotate=with_weights,
    )
    model.eval()
    cindex = data.test_cindex(model)
    weights = model.weights.detach().cpu().tolist()
    stats = {n: {"weight": w} for n, w in zip(pool.names, weights, strict=True)}
    return model.export(model.encoder()), cindex, stats, history


def resolve_sources(ws: Workspace, target: str, spec: str) -> list[str]:
    """``all`` = every other cohort; else a comma list, which must not contain the target."""
    if spec == "all":
        names = [c for c in ws.cohorts() if c != target]
        if not names:
            raise StephError(f"no other cohort than {target} to merge from; add source cohorts")
        return names
    names = selection.cohorts(ws, spec)
    if target in names:
        raise StephError(f"target {target} is among its own sources; remove it from --sources")
    return names
