"""Recorded runs: list and show them, re-execute one and compare (CI), verify the workspace.

Every step writes a run folder (``runs/ID``) with a manifest: the step and its arguments
(``call``), the sha256 of every input and output (workspace-relative paths), the seed, the
torch threads and the package versions. ``reproduce`` re-executes the call in a scratch copy
of the workspace — after checking that the inputs are the recorded ones — and compares
every output's sha256 and every metric; ``verify`` re-hashes the workspace's models against
the records.
"""

import contextlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from steph_cli import threads
from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError, MissingArtefactError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.models import io, provenance
from steph_cli.models.arch import ArchOptions
from steph_cli.workspace.hashing import Hashes
from steph_cli.workspace.paths import Workspace

MANIFEST = "manifest.json"
METRICS = "metrics.json"
MODEL_FOLDERS = ("experts", "vectors", "merged")


@dataclass(frozen=True)
class RunRecord:
    id: str
    step: str
    started: str
    seconds: float
    call: dict[str, Any]
    inputs: dict[str, str | None]
    outputs: dict[str, str]
    seed: int
    manifest: dict[str, Any]
    metrics: dict[str, Any] | None  # the run's metrics.json, if any
    directory: Path | None = None

    @classmethod
    def load(cls, manifest_path: Path) -> "RunRecord":
        try:
            raw = json.loads(manifest_path.read_text())
            metrics_file = manifest_path.with_name(METRICS)
            metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
            return cls(
                raw["id"],
                raw["step"],
                raw["started"],
                raw["seconds"],
                raw["call"],
                raw["inputs_sha256"],
                raw["outputs_sha256"],
                raw["seed"],
                raw,
                metrics,
                manifest_path.parent,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadInputError(
                f"{manifest_path}: not a run manifest of this steph ({type(exc).__name__}: {exc})"
            ) from exc

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "step": self.step,
            "started": self.started,
            "seconds": self.seconds,
            "call": self.call,
            "inputs_sha256": self.inputs,
            "outputs_sha256": self.outputs,
            "seed": self.seed,
            "metrics": self.metrics,
        }


def list_runs(workspace: WorkspaceLike = None) -> list[RunRecord]:
    """Every recorded run of the workspace, oldest first."""
    ws = workspace_of(workspace)
    if not ws.runs_dir.is_dir():
        return []
    found = sorted(ws.runs_dir.glob(f"*/{MANIFEST}"))
    return sorted((RunRecord.load(p) for p in found), key=lambda r: (r.started, r.id))


def show_run(workspace: WorkspaceLike, run: str) -> RunRecord:
    """The run whose id is (or starts with) ``run``, the newest run for ``last``, or the
    manifest file at ``run``."""
    path = Path(run)
    if path.is_file():
        return RunRecord.load(path)
    ws = workspace_of(workspace)
    if run == "last":
        runs = list_runs(ws)
        if not runs:
            raise MissingArtefactError(f"{ws.root} has no recorded run yet")
        return runs[-1]
    matches = [r for r in list_runs(ws) if r.id.startswith(run)]
    if len(matches) != 1:
        known = ", ".join(r.id for r in list_runs(ws)[-3:]) or "none"
        problem = "no run" if not matches else f"{len(matches)} runs"
        raise MissingArtefactError(
            f"{problem} of {ws.root} match {run!r} (latest: {known}); give a run id or a "
            "manifest.json"
        )
    return matches[0]


# --- verify ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    path: str  # workspace-relative
    status: str  # ok, modified, missing, unrecorded, corrupt
    detail: str = ""


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status != "ok"]

    def to_json(self) -> dict[str, object]:
        return {
            "checked": len(self.checks),
            "problems": [c.__dict__ for c in self.problems],
            "ok": not self.problems,
        }


def verify(workspace: WorkspaceLike = None) -> Verification:
    """Re-hash every model file (θ_init, experts, merged models) and every extracted feature
    file against the run that last wrote it; task vectors against their expert and θ_init.

    modified: not the bytes its run wrote; missing: recorded but gone; unrecorded: no run
    wrote it (copied in from elsewhere); corrupt: not a readable model file.
    """
    ws = workspace_of(workspace)
    written: dict[str, tuple[str, str]] = {}  # path -> (sha256, run id), newest run last
    for record in list_runs(ws):
        for path, sha in record.outputs.items():
            written[path] = (sha, record.id)
    hashes = Hashes(ws.cache_dir)
    result = Verification()
    present = sorted(
        provenance.relative(ws, p)
        for p in [
            ws.init_file,
            *(f for d in MODEL_FOLDERS for f in (ws.root / d).rglob("*.safetensors")),
        ]
        if p.is_file()
    )
    for path in present:
        result.checks.append(_check_model(ws, path, written, hashes))
    for path, (_, run) in sorted(written.items()):
        if not (ws.root / path).exists():
            result.checks.append(Check(path, "missing", f"written by run {run}"))
        elif path.startswith("features/"):
            sha = hashes(ws.root / path)
            ok = sha == written[path][0]
            detail = "" if ok else f"sha256 {sha[:12]}… is not what run {run} wrote"
            result.checks.append(Check(path, "ok" if ok else "modified", detail))
    result.checks.extend(_missing_vectors(ws, present))
    hashes.save()
    return result


def _missing_vectors(ws: Workspace, present: list[str]) -> list[Check]:
    """Task vectors a merge's graph wrote (one per expert the merge read) that are gone.
    Vectors are remade rather than recorded, so the merges' records say which existed."""
    expected: dict[str, str] = {}  # vector -> the merge run that read its expert
    for record in list_runs(ws):
        if record.step != "merge":
            continue
        for key in record.inputs:
            if key.startswith("experts/") and key.endswith(".safetensors"):
                expected.setdefault("vectors/" + key.removeprefix("experts/"), record.id)
    checks = []
    for path, run in sorted(expected.items()):
        _, cohort, name = path.split("/")  # vectors/COHORT/foldK.safetensors
        fold = int(Path(name).stem.removeprefix("fold"))
        if path not in present and ws.expert_file(cohort, fold).is_file():
            checks.append(
                Check(
                    path,
                    "missing",
                    f"the task vector of a source of run {run}; steph vector --cancer {cohort} "
                    f"--fold {fold} remakes it",
                )
            )
    return checks


def _check_model(
    ws: Workspace, path: str, written: dict[str, tuple[str, str]], hashes: Hashes
) -> Check:
    try:
        model = io.read(ws.root / path)
    except BadInputError as exc:
        return Check(path, "corrupt", exc.message.removeprefix(f"{ws.root / path}: "))
    if model.meta["kind"] == "vector":
        return _check_vector(ws, path, model)
    if path not in written:
        return Check(path, "unrecorded", "no run of this workspace wrote it")
    sha, run = written[path]
    actual = hashes(ws.root / path)
    if actual != sha:
        return Check(path, "modified", f"sha256 {actual[:12]}… is not what run {run} wrote")
    return Check(path, "ok")


def _check_vector(ws: Workspace, path: str, vector: io.ModelFile) -> Check:
    """A task vector must equal its expert minus θ_init (it is remade, never recorded)."""
    record = provenance.Fingerprint.from_json(vector.json("fingerprint") or {})  # type: ignore[arg-type]
    expert = next((k for k in record.inputs if k.startswith("experts/")), None)
    if expert is None or not (ws.root / expert).is_file() or not ws.init_file.is_file():
        return Check(path, "unrecorded", "its expert or θ_init is not in the workspace")
    try:
        init, made_from = io.read(ws.init_file).tensors, io.read(ws.root / expert).tensors
    except BadInputError:
        return Check(path, "unchecked", f"{expert} or θ_init cannot be read")
    same = all(torch.equal(t, made_from[k] - init[k]) for k, t in vector.tensors.items())
    return Check(path, "ok") if same else Check(path, "modified", f"is not {expert} − θ_init")


# --- reproduce ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    kind: str  # output (reproduced bytes), input (made by an earlier run), workspace, metric
    what: str  # a path, or a metric's dotted name
    recorded: object
    reproduced: object
    within_tolerance: bool = False


@dataclass
class Reproduction:
    run: str
    step: str
    outputs: int  # outputs compared
    metrics: int  # metric values compared
    differences: list[Difference] = field(default_factory=list)
    tolerance: float | None = None

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def passed(self) -> bool:
        """Identical, or (with a tolerance) only bytes of models and metrics within it."""
        return all(
            d.within_tolerance or (self.tolerance is not None and d.kind in ("output", "input"))
            for d in self.differences
        )

    def to_json(self) -> dict[str, object]:
        return {
            "run": self.run,
            "step": self.step,
            "outputs_compared": self.outputs,
            "metrics_compared": self.metrics,
            "identical": self.identical,
            "passed": self.passed,
            "tolerance": self.tolerance,
            "differences": [d.__dict__ for d in self.differences],
        }


def reproduce(
    workspace: WorkspaceLike,
    runs: str | Sequence[str],
    *,
    tolerance: float | None = None,
    device: str = "cpu",
    keep: str | Path | None = None,
    hooks: Hooks = NO_HOOKS,
) -> list[Reproduction]:
    """Re-execute recorded runs (ids in the workspace, or ``manifest.json`` paths) in one
    scratch copy of the workspace, oldest first, and compare every output's sha256 and every
    metric with the record.

    Each run's inputs must be in the workspace with the recorded sha256 (refused otherwise,
    naming the file) or be made by an earlier run of the list — so a pipeline's manifests
    (train, merge, evaluate) reproduce from its data alone. Each run is repeated with its
    recorded arguments, seed and torch threads. ``tolerance`` accepts metric differences up
    to that bound when bytes cannot match (another CPU, thread count or a GPU); ``keep``
    keeps the scratch workspace in that folder.
    """
    ws = workspace_of(workspace)
    names = [runs] if isinstance(runs, str) else list(runs)
    records = _in_order([show_run(ws, r) for r in names])
    made: dict[str, str] = {}  # outputs of the earlier runs of the list
    for record in records:
        if record.step not in REPEAT:
            raise BadInputError(
                f"run {record.id} is a {record.step} run; reproduce repeats "
                f"{', '.join(sorted(REPEAT))} runs (extraction reads slides outside the "
                "workspace)"
            )
        _check_inputs(ws, record, made)
        made.update(record.outputs)
    results = []
    with _scratch(ws, records, keep) as scratch:
        for record in records:
            hooks.note(f"reproducing {record.step} run {record.id}")
            results.append(_repeat(ws, scratch, record, tolerance, device, hooks))
    return results


def _in_order(records: list[RunRecord]) -> list[RunRecord]:
    """Oldest first, but never before a run of the list that made one of its inputs."""
    left = sorted(records, key=lambda r: (r.started, r.id))
    ordered: list[RunRecord] = []
    while left:
        ready = next(
            (
                r
                for r in left
                if not any(set(r.inputs) & set(o.outputs) for o in left if o is not r)
            ),
            left[0],  # a cycle cannot come from real runs; keep the time order
        )
        ordered.append(ready)
        left.remove(ready)
    return ordered


def _repeat(
    ws: Workspace,
    scratch: Workspace,
    record: RunRecord,
    tolerance: float | None,
    device: str,
    hooks: Hooks,
) -> Reproduction:
    result = Reproduction(record.id, record.step, len(record.outputs), 0, tolerance=tolerance)
    here, there = Hashes(ws.cache_dir), Hashes(scratch.cache_dir)
    for key, sha in sorted(record.inputs.items()):  # made by an earlier run of the list
        if (scratch.root / key).is_file() and (got := there(scratch.root / key)) != sha:
            result.differences.append(Difference("input", key, sha, got))
    for path, sha in sorted(record.outputs.items()):  # the workspace's copy is the record's
        if (ws.root / path).is_file() and (kept := here(ws.root / path)) != sha:
            result.differences.append(Difference("workspace", path, sha, kept))
    here.save()
    with threads.torch_threads(record.manifest["torch_threads"]):
        redone = REPEAT[record.step](scratch, record.call, torch.device(device), _Bars(hooks))
    for path, sha in sorted(record.outputs.items()):
        again = there(scratch.root / path) if (scratch.root / path).is_file() else None
        if again != sha:
            result.differences.append(Difference("output", path, sha, again))
    there.save()
    if record.metrics is not None and redone is not None:
        _compare_metrics(record.metrics, json.loads((redone / METRICS).read_text()), result)
    return result


def _check_inputs(ws: Workspace, record: RunRecord, made: dict[str, str]) -> None:
    """Every input is in the workspace as recorded, or made by an earlier run of the list."""
    digests = provenance.Digests(ws)
    for key, sha in sorted(record.inputs.items()):
        if key in made:
            continue
        now = digests(key)
        if now != sha:
            state = "missing" if now is None else f"sha256 {now[:12]}…"
            raise BadInputError(
                f"input {key} of run {record.id} is not the recorded one (recorded "
                f"{str(sha)[:12]}…, here {state}); reproduce needs the run's inputs in "
                f"{ws.root}, or the run that made it in the list"
            )
    digests.hashes.save()


@contextlib.contextmanager
def _scratch(
    ws: Workspace, records: list[RunRecord], keep: str | Path | None
) -> Iterator[Workspace]:
    """A workspace with the runs' inputs: settings, cohorts and (linked) features, and the
    model files they read; none of their outputs."""
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="steph-reproduce-"))
    if keep and root.exists() and any(root.iterdir()):
        raise BadInputError(f"scratch folder {root} is not empty; give a new or empty folder")
    outputs = {path for r in records for path in r.outputs}
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ws.settings_file, root / ws.settings_file.name)
        shutil.copytree(ws.root / "cohorts", root / "cohorts")
        for key in sorted({k for r in records for k in r.inputs} - outputs):
            source, copy = ws.root / key, root / key
            copy.parent.mkdir(parents=True, exist_ok=True)
            if key.startswith(provenance.FEATURES):
                copy.symlink_to(source.resolve(), target_is_directory=True)
            elif source.is_file() and key.endswith(".safetensors"):
                shutil.copy2(source, copy)
        yield Workspace.at(root)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _leaves(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): value}


def _compare_metrics(old: dict[str, Any], new: dict[str, Any], result: Reproduction) -> None:
    before, after = _leaves(old), _leaves(new)
    result.metrics = len(before)
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        close = (
            result.tolerance is not None
            and isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isfinite(a)
            and math.isfinite(b)
            and abs(a - b) <= result.tolerance
        )
        result.differences.append(Difference("metric", key, a, b, close))


class _Bars(Hooks):
    """The caller's progress bars, without the repeated step's notes about its scratch copy."""

    def __init__(self, hooks: Hooks) -> None:
        self.bar, self.advance, self.status = hooks.bar, hooks.advance, hooks.status  # type: ignore[method-assign]
        self.warn = hooks.warn  # type: ignore[method-assign]


# The steps reproduce repeats: (scratch workspace, recorded call, device, hooks) -> run folder


def _train(ws: Workspace, call: dict[str, Any], device: torch.device, hooks: Hooks) -> Path | None:
    from steph_cli.training.config import TrainConfig
    from steph_cli.training.expert import train_expert

    arch = call["architecture"]
    options = ArchOptions(arch["embed_dim"], arch["attn_dim"], arch["dropout"])
    config = TrainConfig(**call["training"])
    result = train_expert(
        ws,
        call["cohort"],
        call["fold"],
        config,
        options,
        device,
        True,
        hooks,
        permuted=call.get("permuted", False),
    )
    return result.run_dir


def _merge(ws: Workspace, call: dict[str, Any], device: torch.device, hooks: Hooks) -> Path | None:
    from steph_cli.merging.run import merge
    from steph_cli.training.config import TrainConfig

    result = merge(
        ws,
        call["target"],
        call["sources"],
        call["method"],
        call["fold"],
        call["params"],
        TrainConfig(**call["training"]),
        device,
        call["source_fold"],
        force=True,
        hooks=hooks,
        label=call.get("label"),
        control=call.get("control"),
    )
    return result.run_dir


def _evaluate(
    ws: Workspace, call: dict[str, Any], device: torch.device, hooks: Hooks
) -> Path | None:
    from steph_cli.api.evaluate import evaluate

    evaluation = evaluate(
        ws,
        call["target"],
        call["model"],
        fold=call["fold"],
        folds=call["folds"],
        baseline=call["baseline"],
        risk_groups=call.get("risk_groups", False),
        bootstrap=call.get("bootstrap", 0),
        seed=call.get("seed"),
        device=str(device),
        hooks=hooks,
    )
    return evaluation.run_dir


REPEAT = {"train": _train, "merge": _merge, "evaluate": _evaluate}
