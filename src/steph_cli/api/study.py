"""Studies: every method on the same folds, seeds and (scarce) training sets, then one table.

A study file (TOML) names the targets, folds, seeds, methods (each with an optional grid of
its parameters, or a list of variants that each change one thing from its defaults — an
ablation), the training protocol shared by every method and, optionally, a scarcity axis:
the target's training patients subsampled to fixed counts or fractions. Two reference rows
need no merge of their own: ``family-pooled`` (pooled training on the target's family of
``[families]`` alone: what transfer could reach) and ``oracle`` (the true risk, where known).
``run_study`` makes what is missing — resumable, every step skipped by fingerprint — in one
workspace per cell under ``studies/NAME/``: ``s{SEED}`` with all training patients, and
``s{SEED}-{SIZE}-{TARGET}`` with the target's training patients subsampled (the sources keep
theirs; their experts and permuted-label controls are the full cell's). ``report_study``
scores every cell and compares each model with the baseline on the same (cohort, fold, seed)
pairs.
"""

import csv
import io
import itertools
import json
import shutil
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from steph_cli.api import study_schema
from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.api.evaluate import evaluate
from steph_cli.api.merge import MergeSpec, like_merge, merge_all
from steph_cli.api.train import train
from steph_cli.errors import BadInputError
from steph_cli.evaluation.oracle import ORACLE, oracle_cindex
from steph_cli.evaluation.summary import StudyMean, StudyPair, holm, study_tables
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging import controls, methods
from steph_cli.models import init as model_init
from steph_cli.models.arch import ArchOptions
from steph_cli.tasks.execution import Execution
from steph_cli.training.config import MERGE_LR, TrainConfig
from steph_cli.workspace import atomic, selection, settings, splits
from steph_cli.workspace.cohorts import load_labels
from steph_cli.workspace.paths import Workspace, validate_name

EXPERT = "expert"
# Reference rows: the pooled baseline trained on the target's family only (what transfer
# could reach), and the true risk's C-index where it is known (synthetic cohorts).
FAMILY_POOLED = "family-pooled"
REFERENCES = (FAMILY_POOLED, ORACLE)


@dataclass(frozen=True)
class Model:
    """One column of the study: a method at one point of its grid."""

    label: str  # the merged/ folder and the table's column: "expert", "steph", "steph-top_k-2"
    method: str
    params: dict[str, object] = field(default_factory=dict)
    family: bool = False  # sources: the target's family only (the study's [families])
    training: dict[str, object] = field(default_factory=dict)  # merge options it changes


@dataclass(frozen=True)
class Study:
    name: str
    targets: list[str]
    sources: list[str] | None  # the cohorts merged into each target (minus itself); None: all
    folds: list[int] | None  # None: every fold of each target
    seeds: list[int]
    models: list[Model]
    baseline: str
    training: TrainConfig  # experts
    merging: TrainConfig  # learned methods
    arch: ArchOptions
    sizes: list[float]  # training patients kept: counts (> 1) or fractions (<= 1); 1.0 = all
    source_fold: int = 0
    controls: list[str] = field(default_factory=list)  # merging.controls.KINDS
    families: dict[str, list[str]] = field(default_factory=dict)  # family -> cohorts

    def family_of(self, target: str) -> list[str]:
        """The other cohorts of ``target``'s family (none if it is alone or in none)."""
        for members in self.families.values():
            if target in members:
                return [c for c in members if c != target]
        return []

    def control_labels(self) -> list[tuple[str, str]]:
        """(real model, its control) of every control the study makes: each merge method's
        null-source controls, and the budget control of the learned ones (each model its own,
        matched to its own merges)."""
        out = []
        for model in self.models:
            if model.method in (EXPERT, ORACLE):
                continue
            method = methods.get(model.method)
            for kind in self.controls:
                if _controlled(method, kind):
                    out.append((model.label, controls.label(model.label, kind)))
        return out


def _controlled(method: methods.MergeMethod, kind: str) -> bool:
    """Whether a study makes control ``kind`` of a ``method`` model: a matched budget for the
    learned methods, null sources for those that merge experts."""
    return method.learned if kind == "budget" else method.uses_experts


def _label(method: str, point: dict[str, object]) -> str:
    parts = [
        method,
        *(f"{k}-{str(v).replace('.', 'p').replace('-', 'm')}" for k, v in point.items()),
    ]
    return validate_name("-".join(parts), "study model name")


# Training options a variant may change for its merge alone (the rest is the study's).
VARIANT_TRAINING = ("lr", "epochs")


def _variant(name: str, point: dict[str, object]) -> Model:
    """One change (or a few) from a method's defaults, labelled by what it changes: an
    ablation is the default against each of its variants."""
    training = {k: v for k, v in point.items() if k in VARIANT_TRAINING}
    params = {k: v for k, v in point.items() if k not in VARIANT_TRAINING}
    methods.get(name).params(params)  # refuses a parameter of another method, or a bad value
    TrainConfig(**training)  # type: ignore[arg-type]
    return Model(_label(name, point), name, params, training=training)


def _models(
    names: list[str],
    grids: dict[str, dict[str, list[object]]],
    variants: dict[str, list[dict[str, object]]] | None = None,
) -> list[Model]:
    variants = variants or {}
    unknown = sorted((set(grids) | set(variants)) - set(names))
    if unknown:
        raise BadInputError(
            f"study: grid or variants for {unknown[0]}, which is not among its methods"
        )
    models = []
    for name in names:
        if name in (EXPERT, ORACLE):
            models.append(Model(name, name))
            continue
        if name == FAMILY_POOLED:
            models.append(Model(name, "pooled", family=True))
            continue
        method = methods.get(name)
        grid = grids.get(name, {})
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            method.params(point)  # refuses a parameter of another method, or a bad value
            label = (
                _label(name, point) if len(list(itertools.product(*grid.values()))) > 1 else name
            )
            models.append(Model(label, name, point))
        models.extend(_variant(name, point) for point in variants.get(name, []))
    return models


def _config(raw: dict[str, Any], base: TrainConfig, where: str) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)} - {"seed"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BadInputError(
            f"study [{where}]: unknown option {unknown[0]} ({', '.join(sorted(known))})"
        )
    return TrainConfig(**{**asdict(base), **raw})


def load_study(path: str | Path) -> Study:
    """Read and check a study file: every name, method, parameter and value before any work."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"study file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"study file {path}: not valid TOML ({exc})") from exc
    study_schema.check(path, raw)
    protocol = raw.get("protocol", {})
    training = _config({**raw.get("training", {}), **protocol}, TrainConfig(), "training")
    merging = _config({**raw.get("merging", {}), **protocol}, TrainConfig(lr=MERGE_LR), "merging")
    arch = raw.get("architecture", {})
    names = list(raw.get("methods", [EXPERT, "steph"]))
    baseline = raw.get("baseline", EXPERT)
    models = _models(names, raw.get("grid", {}), raw.get("variants", {}))
    if baseline not in {m.label for m in models}:
        raise BadInputError(f"study file {path}: baseline {baseline} is not one of its models")
    sizes = [float(s) for s in raw.get("scarcity", {}).get("train_patients", [1.0])]
    if any(not s > 0 for s in sizes):
        raise BadInputError(f"study file {path}: training-set sizes must be positive, got {sizes}")
    folds = raw.get("folds", "all")
    kinds = [str(k) for k in raw.get("controls", [])]
    unknown_kinds = [k for k in kinds if k not in controls.KINDS]
    if unknown_kinds:
        raise BadInputError(
            f"study file {path}: control {unknown_kinds[0]!r}; use {', '.join(controls.KINDS)}"
        )
    families = {str(k): [str(c) for c in v] for k, v in raw.get("families", {}).items()}
    if any(m.family for m in models) and not families:
        raise BadInputError(
            f"study file {path}: {FAMILY_POOLED} needs a [families] table "
            '(e.g. squamous = ["BLCA", "HNSC", "LUSC"])'
        )
    return Study(
        name=validate_name(str(raw.get("name", path.stem)), "study name"),
        targets=raw.get("targets", "all"),
        sources=None if raw.get("sources", "all") == "all" else list(raw["sources"]),
        folds=None if folds == "all" else [int(k) for k in folds],
        seeds=[settings.check_seed(int(s)) for s in raw.get("seeds", [0])],
        models=models,
        baseline=baseline,
        training=training,
        merging=merging,
        arch=ArchOptions(**arch),
        sizes=sorted(set(sizes), key=lambda s: (s > 1, s)),
        source_fold=int(raw.get("source_fold", 0)),
        controls=kinds,
        families=families,
    )


# --- cells ----------------------------------------------------------------------------------


def _size_name(size: float) -> str:
    return f"n{int(size)}" if size > 1 else f"f{str(size).replace('.', 'p')}"


def _full(size: float) -> bool:
    return size == 1.0


def subsample(
    train: tuple[str, ...], events: dict[str, int], size: float, seed: int, fold: int
) -> list[str]:
    """``size`` of the training patients (a count, or a fraction), drawn within each event
    group in proportion, from the seed and the fold alone; in their original order."""
    keep = min(len(train), round(size if size > 1 else size * len(train)))
    rng = np.random.default_rng([seed, fold, 7919])
    chosen: list[str] = []
    groups = [[p for p in train if events[p] == e] for e in (1, 0)]
    quotas = [round(keep * len(g) / len(train)) for g in groups]
    quotas[1] = keep - quotas[0]
    for group, quota in zip(groups, quotas, strict=True):
        chosen.extend(
            group[i] for i in rng.permutation(len(group))[: max(0, min(quota, len(group)))]
        )
    picked = set(chosen)
    return [p for p in train if p in picked]


def _cell(ws: Workspace, study: Study, seed: int, size: float, target: str | None) -> Workspace:
    """The cell's workspace, made on first use: the workspace's settings, cohorts, (linked)
    features and bag caches, the study's θ_init; with a target, its training patients
    subsampled."""
    root = (
        ws.root
        / "studies"
        / study.name
        / (f"s{seed}" if target is None else f"s{seed}-{_size_name(size)}-{target}")
    )
    cell = Workspace(root)
    if cell.settings_file.is_file():
        return cell
    building = root.with_name(f".{root.name}.build")
    shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(ws.root / "cohorts", building / "cohorts")
    shutil.copy2(ws.settings_file, building / ws.settings_file.name)
    shutil.copy2(
        ws.root / "studies" / study.name / "init.safetensors", building / "init.safetensors"
    )
    # every cell has the same labels and feature files, so the same bag caches: one copy
    # per study, built by the first cell that needs it (a build is atomic, so cells running
    # at once may race to build it, never to read half of it)
    shared = ws.root / "studies" / study.name / "cache"
    (building / "features").mkdir()
    (building / "cache").mkdir()
    for name in ws.cohorts():
        (building / "features" / name).symlink_to(
            ws.features_dir(name).resolve(), target_is_directory=True
        )
        (shared / name).mkdir(parents=True, exist_ok=True)
        (building / "cache" / name).symlink_to(shared / name, target_is_directory=True)
    if target is not None:
        scarce = Workspace(building)
        labels = load_labels(scarce, target)
        events = dict(zip(labels.patients, labels.events.tolist(), strict=True))
        for k in scarce.folds(target):
            fold = splits.read_fold(scarce.split_file(target, k), k, labels)
            kept = tuple(subsample(fold.train, events, size, seed, k))
            splits.write_fold(
                scarce.split_file(target, k), splits.Fold(k, kept, fold.val, fold.test)
            )
    building.rename(root)
    return cell


def _study_init(ws: Workspace, study: Study) -> None:
    """The study's θ_init, shared by all its cells (architecture from the study file)."""
    home = Workspace(ws.root / "studies" / study.name)
    if home.init_file.is_file():
        return
    s = settings.load(ws)
    if s.feature_dim is None:
        raise BadInputError(f"{ws.root}: no features yet; add cohorts before a study")
    arch = model_init.architecture(home, s.feature_dim, s.time_bins, study.arch)
    home.root.mkdir(parents=True, exist_ok=True)
    model_init.ensure(home, arch, s.seed)


@dataclass
class Cell:
    seed: int
    size: float
    target: str | None
    workspace: Workspace


def cells(ws: Workspace, study: Study) -> list[Cell]:
    out = []
    for seed in study.seeds:
        out.append(Cell(seed, 1.0, None, _cell(ws, study, seed, 1.0, None)))
        for size in study.sizes:
            if not _full(size):
                out.extend(
                    Cell(seed, size, t, _cell(ws, study, seed, size, t))
                    for t in _targets(ws, study)
                )
    return out


def _targets(ws: Workspace, study: Study) -> list[str]:
    spec = study.targets if isinstance(study.targets, str) else ",".join(study.targets)
    return selection.cohorts(ws, spec)


def _pool(ws: Workspace, study: Study) -> list[str]:
    """The cohorts whose experts are merged (each target's sources are the others)."""
    return selection.cohorts(ws, ",".join(study.sources)) if study.sources else ws.cohorts()


def _folds(study: Study) -> str:
    return "all" if study.folds is None else ",".join(map(str, study.folds))


# --- run ------------------------------------------------------------------------------------


def run_study(
    workspace: WorkspaceLike,
    path: str | Path,
    *,
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> list[Cell]:
    """Make every model the study names that is missing; finished ones are skipped by
    fingerprint, so an interrupted study resumes where it stopped."""
    ws = workspace_of(workspace)
    study = load_study(path)
    targets = _targets(ws, study)
    _study_init(ws, study)
    made = cells(ws, study)
    pool = _pool(ws, study)
    scored_in_full = any(_full(s) for s in study.sizes)
    for cell in made:
        hooks.note(f"study {study.name}: cell {cell.workspace.root.name}")
        who = [cell.target] if cell.target else targets
        if cell.target is not None:  # the sources' experts are the full cell's, not retrained
            _share_sources(ws, study, cell)
        expert = TrainConfig(**{**asdict(study.training), "seed": cell.seed})
        if cell.target is None:  # every source's source-fold expert, for the merges
            train(
                cell.workspace,
                ",".join(pool),
                fold=study.source_fold,
                training=expert,
                arch=study.arch,
                execution=execution,
                device=device,
                hooks=hooks,
            ).raise_failures()
            if not scored_in_full:  # the full cell only lends its sources to the scarce ones
                _source_controls(cell.workspace, study, pool, device, hooks)
                continue
        report = train(
            cell.workspace,
            ",".join(who),
            folds=_folds(study),
            training=expert,
            arch=study.arch,
            execution=execution,
            device=device,
            hooks=hooks,
        )
        report.raise_failures()
        config = TrainConfig(**{**asdict(study.merging), "seed": cell.seed})
        specs, budgets = _merges(study, who, pool, config)
        folds = _folds(study)
        where: dict[str, Any] = {"execution": execution, "device": device, "hooks": hooks}
        if specs:  # one graph: with --jobs no worker idles between methods and targets
            merge_all(
                cell.workspace, specs, folds=folds, source_fold=study.source_fold, **where
            ).raise_failures()
        for target, method, label in budgets:  # from the records of the merges they match
            like_merge(
                cell.workspace, target, method, label=label, folds=folds, **where
            ).raise_failures()
    return made


def _merges(
    study: Study, who: list[str], pool: list[str], config: TrainConfig
) -> tuple[list[MergeSpec], list[tuple[str, str, str | None]]]:
    """A cell's merges (each model, target and null-source control) and its matched-budget
    controls as (target, method, label)."""
    specs: list[MergeSpec] = []
    budgets: list[tuple[str, str, str | None]] = []
    for model in study.models:
        if model.method in (EXPERT, ORACLE):
            continue
        method = methods.get(model.method)
        training = TrainConfig(**{**asdict(config), **model.training})
        for target in who:
            mates = study.family_of(target) if model.family else pool
            sources = ",".join(c for c in mates if c != target)
            if not sources:
                continue  # alone in its family: no family-pooled model
            for kind in (None, *study.controls):
                if kind is not None and not _controlled(method, kind):
                    continue
                if kind == "budget":
                    budgets.append((target, model.method, model.label))
                else:
                    specs.append(
                        MergeSpec(
                            target, sources, model.method, model.params, model.label, kind, training
                        )
                    )
    return specs, budgets


def _source_controls(
    cell: Workspace, study: Study, pool: list[str], device: str, hooks: Hooks
) -> None:
    """The sources' permuted-label experts, where a study's merges have that control."""
    from steph_cli import device as devices
    from steph_cli.training.expert import train_control

    if "permuted" not in study.controls:
        return
    where = devices.resolve(device)
    for name in pool:
        if not cell.control_expert_file(name, study.source_fold).is_file():
            train_control(cell, name, study.source_fold, where, hooks=hooks)


def _share_sources(ws: Workspace, study: Study, cell: Cell) -> None:
    """The sources' experts and their permuted-label controls, made once in the full cell:
    a source's data and options are the same in every cell, so are its models."""
    full = _cell(ws, study, cell.seed, 1.0, None)
    for name in _pool(ws, study):
        if name == cell.target:
            continue
        for file in (Workspace.expert_file, Workspace.control_expert_file):
            source = file(full, name, study.source_fold)
            copy = file(cell.workspace, name, study.source_fold)
            if source.is_file() and not copy.is_file():
                copy.parent.mkdir(parents=True, exist_ok=True)
                with atomic.atomic_path(copy) as tmp:
                    shutil.copy2(source, tmp)


# --- report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One model on one fold of one cell."""

    target: str
    model: str
    size: float  # as asked (count or fraction)
    train_patients: int  # the target's training patients in that fold
    seed: int
    fold: int
    harrell_c: float | None
    skipped: str | None
    # the other metrics of the fold (the report's tests use Harrell's C; rows.csv has all)
    uno_c: float | None = None
    td_auc: float | None = None
    ibs: float | None = None


@dataclass
class StudyReport:
    study: str
    baseline: str
    rows: list[Row]
    summary: list[StudyMean]  # per size, cohort (and "mean"), model: over folds × seeds
    paired: list[StudyPair]  # per size, each model against the baseline
    transfer: list[StudyPair] = field(default_factory=list)  # per size, merge − each control
    plot: Path | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "study": self.study,
            "baseline": self.baseline,
            "rows": [asdict(r) for r in self.rows],
            "summary": [asdict(m) for m in self.summary],
            "paired": [asdict(p) for p in self.paired],
            "transfer": [asdict(p) for p in self.transfer],
            "plot": str(self.plot) if self.plot else None,
        }


def report_study(
    workspace: WorkspaceLike,
    path: str | Path,
    *,
    plot: bool = True,
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> StudyReport:
    """Score every cell's models on their test folds and compare them; writes report.json,
    rows.csv and (``plot``) the C-index against training-set size under studies/NAME/."""
    ws = workspace_of(workspace)
    study = load_study(path)
    targets = _targets(ws, study)
    rows: list[Row] = []
    pairs = study.control_labels()
    labels = [m.label for m in study.models if m.method != ORACLE]
    labels += sorted({c for _, c in pairs})
    oracle = any(m.method == ORACLE for m in study.models)
    for cell in cells(ws, study):
        if cell.target is None and not any(_full(s) for s in study.sizes):
            continue  # the full cell only lends its source experts to the scarce ones
        who = [cell.target] if cell.target else targets
        alone = not any(study.family_of(t) for t in who)  # no family-pooled model to score
        family = {m.label for m in study.models if m.family}
        family |= {control for real, control in pairs if real in family}
        result = evaluate(
            cell.workspace,
            ",".join(who),
            ",".join(m for m in labels if not (alone and m in family)),
            folds=_folds(study),
            baseline=study.baseline,
            bootstrap=0,  # the study's intervals are over (cohort, fold, seed) pairs
            seed=cell.seed,
            device=device,
            hooks=hooks,
        )
        sizes = _train_sizes(cell.workspace, who)
        rows.extend(
            Row(
                r.target,
                r.model,
                cell.size,
                sizes[(r.target, r.fold)],
                cell.seed,
                r.fold,
                r.metrics["harrell_c"].value if r.metrics else None,
                r.skipped,
                *(r.metrics[m].value if r.metrics else None for m in ("uno_c", "td_auc", "ibs")),
            )
            for r in result.folds
        )
        if oracle:
            rows.extend(_oracle_rows(cell, who, study, sizes))
    summary, paired = study_tables(rows, study.baseline)
    transfer = _transfer(rows, pairs, _target_groups(study, targets))
    home = ws.root / "studies" / study.name
    report = StudyReport(study.name, study.baseline, rows, summary, paired, transfer)
    if plot and len({r.size for r in rows}) > 1:  # one size is a point, not a curve
        from steph_cli.evaluation.plots import scarcity_curve

        report.plot = scarcity_curve(rows, home / "scarcity.png", study.name)
    atomic.write_text(
        home / "report.json", json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"
    )
    atomic.write_text(home / "rows.csv", _csv(rows))
    return report


def _target_groups(study: Study, targets: list[str]) -> dict[str, list[str]]:
    """Targets with family in the pool and those alone: transfer should help the first and
    must not hurt the second, so each is tested on its own."""
    if not study.families:
        return {"all": targets}
    groups = {
        "family": [t for t in targets if study.family_of(t)],
        "alone": [t for t in targets if not study.family_of(t)],
    }
    return {k: v for k, v in groups.items() if v}


def _transfer(
    rows: list[Row], pairs: list[tuple[str, str]], groups: dict[str, list[str]]
) -> list[StudyPair]:
    """Each real merge − each of its controls, per size and group of targets; Holm's
    adjustment over all of them at one size."""
    out = []
    for group, members in groups.items():
        for real, control in pairs:
            chosen = [r for r in rows if r.model in (real, control) and r.target in members]
            for pair in study_tables(chosen, control)[1]:
                pair.group = group
                out.append(pair)
    for size in {p.size for p in out}:
        block = [p for p in out if p.size == size]
        for pair, adjusted in zip(block, holm([b.p_value for b in block]), strict=True):
            pair.p_holm = adjusted
    return out


def _oracle_rows(
    cell: Cell, targets: list[str], study: Study, sizes: dict[tuple[str, int], int]
) -> list[Row]:
    out = []
    for t in targets:
        for k in selection.folds(cell.workspace, t, None, _folds(study)):
            metric = oracle_cindex(cell.workspace, t, k)
            out.append(
                Row(t, ORACLE, cell.size, sizes[(t, k)], cell.seed, k, metric.value, metric.reason)
            )
    return out


def _csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(Row)])
    writer.writerows([getattr(r, f.name) for f in fields(Row)] for r in rows)
    return out.getvalue()


def _train_sizes(cell: Workspace, targets: list[str]) -> dict[tuple[str, int], int]:
    out = {}
    for t in targets:
        labels = load_labels(cell, t)
        for k in cell.folds(t):
            out[(t, k)] = len(splits.read_fold(cell.split_file(t, k), k, labels).train)
    return out
