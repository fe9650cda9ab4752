"""Whole-slide images to patch features (one task per slide), or an import of existing ones."""

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError, RunFailedError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.models import provenance
from steph_cli.slides import extract as lib
from steph_cli.slides.encoders import Encoder
from steph_cli.slides.extract import EncoderRef, ExtractOptions, SlideResult
from steph_cli.slides.reader import slide_files
from steph_cli.tasks import execution as runner
from steph_cli.tasks.execution import Execution
from steph_cli.tasks.graph import DONE, FAILED, Events, Outcome, Task
from steph_cli.workspace import settings as ws_settings
from steph_cli.workspace.hashing import Hashes
from steph_cli.workspace.paths import Workspace, validate_name
from steph_cli.workspace.runs import Run


@dataclass
class ExtractReport:
    results: list[SlideResult] = field(default_factory=list)  # one per slide, in input order
    run_dir: Path | None = None

    def failed(self) -> list[SlideResult]:
        return [r for r in self.results if r.status == lib.FAILED]

    def raise_failures(self) -> None:
        failed = self.failed()
        if failed:
            raise RunFailedError(
                f"{len(failed)} of {len(self.results)} slide(s) failed (first: {failed[0].path}: "
                f"{failed[0].message}); fix them and rerun: finished slides are skipped",
                failed[0].fix,
            )

    def to_json(self) -> dict[str, object]:
        return {
            "slides": [
                {
                    "slide_id": r.slide_id,
                    "path": str(r.path),
                    "status": r.status,
                    "patches": r.patches,
                    "seconds": round(r.seconds, 3),
                    "message": r.message,
                }
                for r in self.results
            ],
            "run": str(self.run_dir),
        }


def default_workers() -> int:
    """Tile-reading processes per slide: the CPUs but one, at most 4."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def extract(
    workspace: WorkspaceLike,
    cancer: str,
    slides: str | Path,
    *,
    encoder: str = "uni2-h",
    weights: str | Path | None = None,
    timm_name: str | None = None,
    timm_kwargs: str | None = None,
    options: ExtractOptions = ExtractOptions(),
    execution: Execution = Execution(),
    device: str = "auto",
    hooks: Hooks = NO_HOOKS,
) -> ExtractReport:
    """Every slide in the folder ``slides`` → features/CANCER/SLIDE_ID.h5, recording the run.

    Per slide: tissue segmentation, a patch grid at the target magnification read from the
    best pyramid level, the encoder (local weights only) on each batch of tiles. Finished
    slides are skipped (``options.force`` redoes them); a slide without tissue gets an empty
    file and a warning; a failing slide is reported in the result while the others go on.
    """
    ws = workspace_of(workspace)
    validate_name(cancer)
    paths = lib.slide_ids(slide_files(Path(slides)))
    if options.workers is None:
        options = replace(options, workers=default_workers())
    where = execution.device(device)
    # Loaded here too, so that bad weights fail before any slide; on Ray the GPUs are the
    # workers', so the driver checks it on its CPU.
    here = torch.device("cpu") if execution.ray else where
    ref = EncoderRef(encoder, None if weights is None else Path(weights), timm_name, timm_kwargs)
    model = lib.load(ref, here)
    dim = ws_settings.ensure(ws).feature_dim
    if dim is not None and dim != model.dim:
        raise BadInputError(
            f"the {model.spec.name} encoder gives {model.dim}-d features but this workspace "
            f"uses {dim}; use the same encoder or another workspace"
        )
    if model.spec.note:
        hooks.note(f"{encoder}: {model.spec.note}")
    hooks.note(
        f"extracting {len(paths)} slide(s) with {encoder} ({model.dim}-d) on {where}, "
        f"{options.workers} reader process(es) per slide ({execution.describe()})"
    )
    identity = _identity(ws, model, ref, options)
    kept = {}  # finished slides made the way asked for now; any other is refused before work
    for slide_id, path in paths.items():
        out = ws.feature_file(cancer, slide_id)
        done = None if options.force else lib.finished_patches(out)
        if done is not None:
            expected = lib.made_from(ws, path, identity)
            name = f"features/{cancer}/{slide_id}.h5"
            if provenance.same(name, lib.recorded(out), expected):
                kept[slide_id] = SlideResult(slide_id, path, lib.SKIPPED, done)
    todo = {sid: path for sid, path in paths.items() if sid not in kept}
    run = Run.start(ws, "extract", cancer)
    report = ExtractReport(run_dir=run.directory)
    results: dict[str, SlideResult] = dict(kept)
    hooks.bar("slides", len(paths), "slides")
    for slide_id in kept:
        hooks.note(f"{slide_id}: features exist, skipped (force redoes it)")
        hooks.advance("slides")

    def on_status(outcome: Outcome) -> None:
        if outcome.status not in (DONE, FAILED):
            hooks.status("slides", outcome.key)
            return
        sid = outcome.key
        result = (
            outcome.result
            if outcome.status == DONE
            else SlideResult(sid, paths[sid], lib.FAILED, message=outcome.error, fix=outcome.fix)
        )
        if result.status != lib.FAILED:
            ws_settings.set_feature_dim(ws, model.dim, str(ws.feature_file(cancer, sid)))
        if result.status == lib.EMPTY:
            hooks.warn(f"{sid}: {result.message}")
        results[sid] = result
        run.log("slide", **_plain(result))
        hooks.advance("slides")

    shared = (ref, where, options, identity)
    tasks = [Task(sid, lib.extract_job, (ws, cancer, sid, p, *shared)) for sid, p in todo.items()]
    with _recorded(run, ws, cancer, identity, paths, report):
        runner.run(tasks, execution, where, hooks, Events(on_status))
        report.results = [results[sid] for sid in paths]
    return report


def _identity(
    ws: Workspace, encoder: Encoder, ref: EncoderRef, options: ExtractOptions
) -> dict[str, object]:
    """Everything but the slide that changes a feature file's values: the encoder (and its
    weights' sha256), the patch grid, the tissue mask and the resolution read."""
    hashes = Hashes(ws.cache_dir)
    weights = None if ref.weights is None else hashes(ref.weights)
    hashes.save()
    return json.loads(
        json.dumps(
            {
                "encoder": {**asdict(encoder.spec), "dim": encoder.dim, "weights_sha256": weights},
                "patches": asdict(options.patches),
                "tissue": asdict(options.tissue),
                "mpp": options.mpp,
                "backend": options.backend,
            },
            default=str,
        )
    )


def _plain(result: SlideResult) -> dict[str, object]:
    return {**asdict(result), "path": str(result.path), "seconds": round(result.seconds, 3)}


@contextlib.contextmanager
def _recorded(
    run: Run,
    ws: Workspace,
    cohort: str,
    identity: dict[str, object],
    ids: dict[str, Path],
    report: ExtractReport,
) -> Iterator[None]:
    """Config before the work; per-slide patch counts and the manifest after it."""
    call = {"cohort": cohort, "slides": {sid: str(p) for sid, p in ids.items()}, **identity}
    run.write("config.json", call)
    yield
    run.write(
        "metrics.json",
        {r.slide_id: {"status": r.status, "patches": r.patches} for r in report.results},
    )
    hashes = Hashes(ws.cache_dir)
    outputs = {
        f"features/{cohort}/{r.slide_id}.h5": hashes(ws.feature_file(cohort, r.slide_id))
        for r in report.results
        if r.status in (lib.DONE, lib.EMPTY)
    }
    inputs: dict[str, str | None] = {str(p): hashes(p) for p in ids.values()}
    hashes.save()
    run.manifest(call, inputs, outputs, seed=ws_settings.load(ws).seed)
