"""Running one merge for one target fold: validate, merge (training if learned), evaluate,
write the self-describing model file and the run record.

The target expert comes from the run's fold (no test patient of the target leaks in); the
sources from ``source_fold`` (default 0). Learned merges train on the target's train patients
of that fold and every merge is evaluated on its test patients.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import controls, methods
from steph_cli.merging.methods.params import Context, MethodParams
from steph_cli.merging.pool import load_pool
from steph_cli.models import io, provenance
from steph_cli.models.header import read_metadata, recorded_cindex
from steph_cli.training import fold as fold_data
from steph_cli.training.config import TrainConfig
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run
from steph_cli.workspace.settings import resolve_seed


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
    inference_ms: float | None = None  # per test bag, measured while scoring them

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "method": self.method,
            "fold": self.fold,
            "path": str(self.path),
            "skipped": self.skipped,
            "test_harrell_cindex": self.test_cindex,
            "reason": self.test_cindex_reason,
            "expert_harrell_cindex": self.expert_cindex,
            "sources": self.sources,
            "source_stats": self.source_stats,
            "seconds": round(self.seconds, 3),
            "inference_ms_per_bag": self.inference_ms and round(self.inference_ms, 3),
            "run": str(self.run_dir) if self.run_dir else None,
        }


def _existing(ws: Workspace, path: Path, target: str, method: str, fold: int) -> MergeResult:
    model = io.ModelFile({}, read_metadata(path))
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
    params: MethodParams | dict[str, object] | None,
    config: TrainConfig,
    device: torch.device,
    source_fold: int = 0,
    force: bool = False,
    hooks: Hooks = NO_HOOKS,
    label: str | None = None,
    control: str | None = None,
) -> MergeResult:
    """Merge ``target``'s fold-``fold`` expert with the ``sources`` experts (a task), into
    merged/TARGET/LABEL/ (``label``: the method's name unless given, e.g. a grid point's).
    ``control`` (``merging.controls``) merges null sources instead, into LABEL-control-KIND."""
    method = methods.get(method_name)
    chosen = method.params(params)
    config = config.resolved(resolve_seed(ws, config.seed))
    pool = load_pool(ws, target, sources, fold, source_fold, control)  # before any work
    name = label or method.name
    if control is not None:
        name = controls.label(name, control)
    path = ws.merged_file(target, name, fold)
    options = {
        "method": method.name,
        "params": chosen.as_dict(),
        "training": config.as_dict() if method.learned else None,
        "time_bins": fold_data.workspace_bins(ws).as_dict(),
        **({"control": control} if control else {}),
    }
    keys = provenance.merged_inputs(ws, target, fold, sources, source_fold, control)
    made_from = provenance.now(ws, keys, options)
    if provenance.reuse(ws, path, made_from, force):
        return _existing(ws, path, target, name, fold)
    started = time.time()
    data = fold_data.load(ws, target, fold, device, config if method.learned else None)
    run = Run.start(ws, "merge", f"{target}-{name}-fold{fold}")
    call = {
        "target": target,
        "sources": list(sources),
        "method": method.name,
        "fold": fold,
        "params": chosen.as_dict(),
        "training": config.as_dict(),
        "source_fold": source_fold,
        "device": str(device),
        "label": label,
        "control": control,
    }
    run.write("config.json", call)
    merged = method.merge(pool, chosen, Context(ws, data, config, run, hooks))
    scoring = time.perf_counter()
    cindex = data.test_cindex(merged.model)
    inference_ms = 1000 * (time.perf_counter() - scoring) / max(len(data.test), 1)
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
        "merge_options": chosen.as_dict(),
        "time_bins": data.bins.as_dict(),
        "test_metrics": {"harrell_cindex": cindex.value, "reason": cindex.reason},
        "source_stats": merged.source_stats,
        "fingerprint": made_from.to_json(),
        **({"control": control} if control else {}),
    }
    if method.learned:
        meta["training_config"] = config.as_dict()
    meta.update(merged.meta)
    sha = io.write(path, merged.tensors, "merged", pool.arch, **meta)
    run.write(
        "metrics.json",
        {
            "target": target,
            "method": method.name,
            "fold": fold,
            "train_loss": [round(h["loss"], 10) for h in merged.history],
            "test_harrell_cindex": cindex.as_dict(),
            "source_stats": merged.source_stats,
        },
    )
    outputs = {provenance.relative(ws, path): sha}
    run.manifest(call, made_from.inputs, outputs, config.run_seed)
    return MergeResult(
        target,
        name,
        fold,
        path,
        skipped=False,
        test_cindex=cindex.value,
        test_cindex_reason=cindex.reason,
        expert_cindex=recorded_cindex(ws.expert_file(target, fold)),
        seconds=time.time() - started,
        run_dir=run.directory,
        sources=pool.names,
        source_stats=merged.source_stats,
        history=merged.history,
        notes=merged.notes,
        inference_ms=inference_ms,
    )
