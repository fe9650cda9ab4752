"""Training one cancer-specific expert for one fold, from the shared initialisation."""

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from steph_cli.errors import Fix, IncompatibleModelError, MissingArtefactError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.models import init as model_init
from steph_cli.models import io, provenance
from steph_cli.models.abmil import ABMIL
from steph_cli.models.arch import Architecture, ArchOptions
from steph_cli.models.header import recorded_cindex
from steph_cli.survival.bins import TimeBins
from steph_cli.training import fold as fold_data
from steph_cli.training.config import TrainConfig
from steph_cli.workspace import settings
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.runs import Run


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

    def to_json(self) -> dict[str, object]:
        return {
            "cohort": self.cohort,
            "fold": self.fold,
            "path": str(self.path),
            "skipped": self.skipped,
            "final_loss": self.final_loss,
            "test_harrell_cindex": self.test_cindex,
            "reason": self.test_cindex_reason,
            "seconds": round(self.seconds, 3),
            "run": str(self.run_dir) if self.run_dir else None,
        }


def _summary_meta(result: ExpertResult) -> dict[str, object]:
    return {"harrell_cindex": result.test_cindex, "reason": result.test_cindex_reason}


def fingerprint(
    ws: Workspace,
    cohort: str,
    fold: int,
    config: TrainConfig,
    arch: Architecture,
    bins: TimeBins,
    permuted: bool = False,
) -> provenance.Fingerprint:
    """What the expert of ``cohort``/``fold`` would be made from now with these options."""
    options: dict[str, object] = {
        "training": config.as_dict(),
        "architecture": json.loads(arch.to_json()),
        "time_bins": bins.as_dict(),
    }
    if permuted:
        options["control"] = "permuted"
    return provenance.now(ws, provenance.expert_inputs(ws, cohort, fold), options)


def _path(ws: Workspace, cohort: str, fold: int, permuted: bool) -> Path:
    return ws.control_expert_file(cohort, fold) if permuted else ws.expert_file(cohort, fold)


def fresh(
    ws: Workspace,
    cohort: str,
    fold: int,
    config: TrainConfig,
    arch_options: ArchOptions,
    permuted: bool = False,
) -> bool:
    """Whether the expert of ``cohort``/``fold`` exists, made from the inputs and options
    asked for now (``train_expert`` would skip it); a different existing one raises, naming
    what changed."""
    config = config.resolved(settings.resolve_seed(ws, config.seed))
    out_path = _path(ws, cohort, fold, permuted)
    dim = settings.load(ws).feature_dim
    if dim is None or not out_path.is_file():
        return False
    bins = fold_data.workspace_bins(ws)
    arch = model_init.architecture(ws, dim, bins.count, arch_options)
    expected = fingerprint(ws, cohort, fold, config, arch, bins, permuted)
    return provenance.reuse(ws, out_path, expected, force=False)


def train_expert(
    ws: Workspace,
    cohort: str,
    fold: int,
    config: TrainConfig,
    arch_options: ArchOptions,
    device: torch.device,
    force: bool = False,
    hooks: Hooks = NO_HOOKS,
    permuted: bool = False,
    records_init: bool = False,
) -> ExpertResult:
    """Train the expert of ``cohort``/``fold`` (a task: module-level, plain arguments).

    An existing expert made from the same inputs and options is kept (skipped); one made
    from others is refused, naming what changed, unless ``force``. ``permuted``: the control
    expert, trained on the training patients' survival labels permuted among them.
    ``records_init``: this run's record claims θ_init as an output although it existed
    (a parallel run created it for every task: ``tasks.jobs.claim_init``).
    """
    config = config.resolved(settings.resolve_seed(ws, config.seed))
    out_path = _path(ws, cohort, fold, permuted)
    if not force and fresh(ws, cohort, fold, config, arch_options, permuted):
        return ExpertResult(
            cohort, fold, out_path, skipped=True, test_cindex=recorded_cindex(out_path)
        )
    data = fold_data.load(ws, cohort, fold, device, config)
    if permuted:
        data = data.permuted(config.run_seed)
    arch = model_init.architecture(ws, data.store.dim, data.bins.count, arch_options)
    created = records_init or not ws.init_file.is_file()
    init, init_sha = model_init.ensure(ws, arch, settings.load(ws).seed)
    made_from = fingerprint(ws, cohort, fold, config, arch, data.bins, permuted)

    started = time.time()
    run = Run.start(ws, "train", f"{cohort}-fold{fold}" + ("-control-permuted" if permuted else ""))
    model = ABMIL(arch)
    model.load_state_dict(init.tensors)
    model.to(device).train()

    call = {
        "cohort": cohort,
        "fold": fold,
        "training": config.as_dict(),
        "architecture": json.loads(arch.to_json()),
        "device": str(device),
        "permuted": permuted,
    }
    run.write("config.json", call)
    history = data.fit(
        model,
        list(model.named_parameters()),
        fold_data.plain(model),
        config,
        run,
        hooks,
        f"{cohort} fold {fold}",
        packed=fold_data.plain_packed(model, data),
    )
    cindex = data.test_cindex(model)
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
    sha = io.write(
        out_path,
        model.state_dict(),
        "expert",
        arch,
        cohort=cohort,
        fold=str(fold),
        seed=str(config.seed),
        init_sha256=init_sha,
        time_bins=data.bins.as_dict(),
        training_config=config.as_dict(),
        test_metrics=_summary_meta(result),
        fingerprint=made_from.to_json(),
        **({"control": "permuted"} if permuted else {}),
    )
    run.write(
        "metrics.json",
        {
            "cohort": cohort,
            "fold": fold,
            "train_loss": [round(h["loss"], 10) for h in history],
            "test_harrell_cindex": cindex.as_dict(),
            "n_train": len(data.train),
            "n_test": len(data.test),
        },
    )
    outputs = {provenance.relative(ws, out_path): sha}
    if created:
        outputs[provenance.relative(ws, ws.init_file)] = init_sha
    inputs = {k: v for k, v in made_from.inputs.items() if k not in outputs}
    run.manifest(call, inputs, outputs, config.run_seed)
    return replace(result, seconds=time.time() - started)


def train_control(
    ws: Workspace,
    cohort: str,
    fold: int,
    device: torch.device,
    force: bool = False,
    hooks: Hooks = NO_HOOKS,
) -> ExpertResult:
    """The permuted-label control of ``cohort``'s fold-``fold`` expert (a task): trained with
    the real expert's recorded options, so that only the labels differ."""
    real = ws.expert_file(cohort, fold)
    if not real.is_file():
        raise MissingArtefactError(
            f"the permuted control of {cohort} fold {fold} copies its expert's options, and "
            f"there is no expert yet ({real})",
            Fix.run("train", cancer=cohort, fold=fold),
        )
    recorded = io.read(real, kind="expert").json("training_config")
    config = TrainConfig(**recorded)  # type: ignore[arg-type]
    return train_expert(ws, cohort, fold, config, ArchOptions(), device, force, hooks, True)


def check_bins(ws: Workspace, count: int | None, max_days: float | None) -> TimeBins:
    """Apply bin options to a workspace without models yet; refuse to mix bins otherwise."""
    current = fold_data.workspace_bins(ws)
    wanted = TimeBins(count or current.count, max_days or current.max_days)
    if wanted == current:
        return current
    if ws.init_file.is_file() or any((ws.root / "experts").glob("*/*.safetensors")):
        raise IncompatibleModelError(
            f"this workspace's models use {current.count} bins to {current.max_days:g} days; "
            f"{wanted.count} bins to {wanted.max_days:g} days would mix settings. "
            "Use a new workspace for other bins"
        )
    settings.save(
        ws, replace(settings.ensure(ws), time_bins=wanted.count, max_time_days=wanted.max_days)
    )
    return wanted
