"""Slides to feature files: segment, patch, encode, write one HDF5 per slide.

Each slide is independent: a finished one is skipped on the next run (its file is written
atomically, so "exists" means "complete"), a failing one is recorded and the rest go on, and a
slide without tissue gets an empty (0, D) file and a warning instead of an error.
"""

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from steph_cli import __version__
from steph_cli.errors import RunFailedError, StephError
from steph_cli.slides.encoders import Encoder, load_encoder
from steph_cli.slides.patching import PatchGrid, PatchOptions, Tiles, plan
from steph_cli.slides.preview import save_preview
from steph_cli.slides.reader import Slide
from steph_cli.slides.tissue import TissueOptions, segment_slide
from steph_cli.tasks.graph import DONE, FAILED, Events, Outcome, Report, Task, run_local
from steph_cli.workspace import features as feature_store
from steph_cli.workspace import settings as ws_settings
from steph_cli.workspace.paths import Workspace, validate_name, validate_slide_id
from steph_cli.workspace.runs import Run

# A slide ends done, failed (the task statuses), skipped or empty.
SKIPPED, EMPTY = "skipped", "empty"


@dataclass(frozen=True)
class ExtractOptions:
    patches: PatchOptions = field(default_factory=PatchOptions)
    tissue: TissueOptions = field(default_factory=TissueOptions)
    mpp: float | None = None  # overrides every slide's metadata
    backend: str = "auto"
    batch_size: int = 64
    workers: int = 0
    force: bool = False
    preview: Path | None = None


@dataclass
class SlideResult:
    slide_id: str
    path: Path
    status: str
    patches: int = 0
    seconds: float = 0.0
    message: str = ""


@dataclass
class ExtractHooks:
    """How a front end follows the work: a slide starts (id, tiles), tiles are encoded, it ends."""

    on_slide: Callable[[str, int], None] = lambda slide_id, tiles: None
    on_tiles: Callable[[int], None] = lambda n: None
    on_result: Callable[[SlideResult], None] = lambda result: None


@dataclass
class ExtractReport:
    results: list[SlideResult] = field(default_factory=list)
    run_dir: Path | None = None


def slide_ids(paths: list[Path]) -> dict[str, Path]:
    """Slide id = file name without its suffix; two files with one id are refused."""
    ids: dict[str, Path] = {}
    for path in paths:
        sid = validate_slide_id(path.stem, str(path))
        if sid in ids:
            raise StephError(f"{path} and {ids[sid]} would both be slide {sid}; rename one")
        ids[sid] = path
    return ids


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bf16 (fp16 where bf16 is unsupported) on GPUs; exact float32 on the CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def encode(
    encoder: Encoder,
    tiles: Tiles,
    device: torch.device,
    options: ExtractOptions,
    on_tiles: Callable[[int], None],
) -> np.ndarray:
    """Features [N, D] float32 of all tiles, in grid order, batched through a DataLoader."""
    loader = DataLoader(
        tiles,
        batch_size=options.batch_size,
        num_workers=options.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    out = np.empty((len(tiles), encoder.dim), dtype=np.float32)
    start = 0
    with torch.inference_mode(), autocast(device):
        for batch in loader:
            feats = encoder(batch.to(device, non_blocking=True)).float().cpu().numpy()
            out[start : start + len(feats)] = feats
            start += len(feats)
            on_tiles(len(feats))
    return out


def attributes(
    slide_id: str, slide: Slide, grid: PatchGrid, encoder: Encoder, options: ExtractOptions
) -> dict[str, object]:
    """CLAM/TRIDENT attributes, plus what it takes to redo the extraction."""
    return {
        "patch_size": grid.patch_size,
        "patch_size_level0": grid.patch_size_level0,
        "level0_magnification": round(grid.level0_magnification, 4),
        "target_magnification": grid.target_magnification,
        "encoder": encoder.spec.name if encoder.spec.name != "custom" else encoder.spec.timm_name,
        "name": slide_id,
        "mpp": slide.mpp,
        "overlap": options.patches.overlap,
        "min_tissue": options.patches.min_tissue,
        "steph_version": __version__,
    }


def extract_slide(
    out: Path,
    slide_id: str,
    path: Path,
    encoder: Encoder,
    device: torch.device,
    options: ExtractOptions,
    hooks: ExtractHooks,
) -> SlideResult:
    """Segment, patch, encode and write one slide; raises on failure."""
    started = time.perf_counter()
    with Slide(path, mpp=options.mpp, backend=options.backend) as slide:
        tissue = segment_slide(slide, options.tissue)
        grid = plan(slide, tissue, options.patches)
        if options.preview is not None:
            save_preview(options.preview / f"{slide_id}.png", slide, tissue, grid)
        hooks.on_slide(slide_id, len(grid.coords))
        tiles = Tiles(path, grid, slide.mpp, slide.backend)
        if len(tiles):
            features = encode(encoder, tiles, device, options, hooks.on_tiles)
        else:
            features = np.zeros((0, encoder.dim), dtype=np.float32)
        attrs = attributes(slide_id, slide, grid, encoder, options)
    feature_store.write_features(out, feature_store.SlideFeatures(features, grid.coords, attrs))
    status, message = DONE, ""
    if not len(grid.coords):
        status = EMPTY
        message = f"no tissue found (saturation threshold {tissue.threshold}); empty file written"
    return SlideResult(
        slide_id, path, status, len(grid.coords), time.perf_counter() - started, message
    )


def _finished(out: Path) -> int | None:
    """Patches in a complete feature file; None when there is none (or only a broken one)."""
    try:
        return feature_store.feature_shape(out)[0]
    except StephError:
        return None


@dataclass(frozen=True)
class EncoderRef:
    """How a worker rebuilds the encoder: the arguments of ``load_encoder``, not the weights."""

    name: str
    weights: Path | None
    timm_name: str | None = None
    timm_kwargs: str | None = None


@lru_cache(maxsize=1)
def load(ref: EncoderRef, device: torch.device) -> Encoder:
    """Built once per process, so every slide a worker extracts shares one encoder."""
    return load_encoder(ref.name, ref.weights, ref.timm_name, ref.timm_kwargs).to(device)


def extract_job(
    ws: Workspace,
    cohort: str,
    slide_id: str,
    path: Path,
    ref: EncoderRef,
    device: torch.device,
    options: ExtractOptions,
    hooks: ExtractHooks | None = None,
) -> SlideResult:
    """One slide as a task. A bad slide is a failed unit of the run (exit 1), not bad usage."""
    try:
        encoder = load(ref, device)
        out = ws.feature_file(cohort, slide_id)
        return extract_slide(out, slide_id, path, encoder, device, options, hooks or ExtractHooks())
    except StephError as exc:
        raise RunFailedError(str(exc)) from exc


Runner = Callable[[list[Task], Events], Report]


def extract(
    ws: Workspace,
    cohort: str,
    slides: list[Path],
    ref: EncoderRef,
    device: torch.device,
    options: ExtractOptions = ExtractOptions(),
    hooks: ExtractHooks = ExtractHooks(),
    runner: Runner | None = None,
    task_device: torch.device | None = None,
) -> ExtractReport:
    """Extract every slide into features/COHORT/, recording the run; never stops at one failure.

    ``runner`` executes the per-slide tasks (default: in this process, in order, with tile
    progress) on ``task_device`` (default ``device``; a Ray worker's GPU is its cuda:0);
    finished slides are not tasks at all.
    """
    validate_name(cohort)
    ids = slide_ids(slides)
    encoder = load(ref, device)  # on the driver too: bad weights fail before any slide
    settings = ws_settings.ensure(ws)
    if settings.feature_dim is not None and settings.feature_dim != encoder.dim:
        raise StephError(
            f"the {encoder.spec.name} encoder gives {encoder.dim}-d features but this workspace "
            f"uses {settings.feature_dim}; use the same encoder or another workspace"
        )
    runner = runner or (lambda tasks, events: run_local(tasks, events, hooks=hooks))
    run = Run.start(ws, "extract", cohort)
    report = ExtractReport(run_dir=run.directory)
    results: dict[str, SlideResult] = {}
    tasks = []
    for slide_id, path in ids.items():
        out = ws.feature_file(cohort, slide_id)
        done = None if options.force else _finished(out)
        if done is not None:
            results[slide_id] = SlideResult(slide_id, path, SKIPPED, done)
            hooks.on_result(results[slide_id])
        else:
            args = (ws, cohort, slide_id, path, ref, task_device or device, options)
            tasks.append(Task(slide_id, extract_job, args))

    def on_status(outcome: Outcome) -> None:
        if outcome.status in (DONE, FAILED):
            sid = outcome.key
            result = (
                outcome.result
                if outcome.status == DONE
                else SlideResult(sid, ids[sid], FAILED, message=outcome.error)
            )
            if result.status != FAILED:
                ws_settings.set_feature_dim(ws, encoder.dim, str(ws.feature_file(cohort, sid)))
            results[sid] = result
            run.log("slide", **_plain(result))
            hooks.on_result(result)

    with _recorded(run, ws, cohort, encoder, options, ids, ref.weights, report):
        runner(tasks, Events(on_status))
        report.results = [results[sid] for sid in ids]
    return report


def _plain(result: SlideResult) -> dict[str, object]:
    return {**asdict(result), "path": str(result.path), "seconds": round(result.seconds, 3)}


@contextlib.contextmanager
def _recorded(
    run: Run,
    ws: Workspace,
    cohort: str,
    encoder: Encoder,
    options: ExtractOptions,
    ids: dict[str, Path],
    weights: Path | None,
    report: ExtractReport,
) -> Iterator[None]:
    """Config before the work, per-slide patch counts and the manifest after it."""
    spec = encoder.spec
    config = {
        "cohort": cohort,
        "encoder": {**asdict(spec), "dim": encoder.dim},
        "options": {k: v for k, v in asdict(options).items() if k not in ("force", "preview")},
    }
    run.write("config.json", _json_safe(config))
    yield
    run.write(
        "metrics.json",
        {r.slide_id: {"status": r.status, "patches": r.patches} for r in report.results},
    )
    inputs = {}
    if weights is not None:
        with Path(weights).open("rb") as fh:
            inputs[str(weights)] = hashlib.file_digest(fh, "sha256").hexdigest()
    run.manifest(
        {
            "slides": {sid: str(p) for sid, p in ids.items()},
            "features_dir": str(ws.features_dir(cohort)),
        },
        inputs,
        seed=ws_settings.load(ws).seed,
    )


def _json_safe(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
