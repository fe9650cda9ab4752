"""Slides to feature files: segment, patch, encode, write one HDF5 per slide.

Each slide is independent: a finished one is skipped on the next run (its file is written
atomically, so "exists" means "complete"), a failing one is recorded and the rest go on, and a
slide without tissue gets an empty (0, D) file and a warning instead of an error.
"""

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from steph_cli import __version__
from steph_cli.errors import BadInputError, Fix, RunFailedError, StephError
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.models.provenance import Fingerprint
from steph_cli.slides.encoders import Encoder, load_encoder
from steph_cli.slides.patching import PatchGrid, PatchOptions, Tiles, plan
from steph_cli.slides.preview import save_preview
from steph_cli.slides.reader import Slide
from steph_cli.slides.tissue import TissueOptions, segment_slide
from steph_cli.workspace import features as feature_store
from steph_cli.workspace.hashing import Hashes
from steph_cli.workspace.paths import Workspace, validate_slide_id

# A slide ends done, failed, skipped or empty.
DONE, FAILED, SKIPPED, EMPTY = "done", "failed", "skipped", "empty"
FINGERPRINT = "steph_fingerprint"  # attribute of a feature file: what it was made from


@dataclass(frozen=True)
class ExtractOptions:
    patches: PatchOptions = field(default_factory=PatchOptions)
    tissue: TissueOptions = field(default_factory=TissueOptions)
    mpp: float | None = None  # overrides every slide's metadata
    backend: str = "auto"
    batch_size: int = 64
    workers: int | None = None  # tile-reading processes; None: the API's default_workers()
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
    fix: Fix | None = None  # for a failed slide, what would fix it


def slide_ids(paths: list[Path]) -> dict[str, Path]:
    """Slide id = file name without its suffix; two files with one id are refused."""
    ids: dict[str, Path] = {}
    for path in paths:
        sid = validate_slide_id(path.stem, str(path))
        if sid in ids:
            raise BadInputError(f"{path} and {ids[sid]} would both be slide {sid}; rename one")
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
        num_workers=options.workers or 0,
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


def made_from(ws: Workspace, path: Path, identity: dict[str, object]) -> Fingerprint:
    """What the features of the slide at ``path`` are made from: the slide's sha256 and the
    encoder's ``identity`` (architecture, weights' sha256, patch and tissue options)."""
    hashes = Hashes(ws.cache_dir)
    fingerprint = Fingerprint({"slide": hashes(path)}, identity)
    hashes.save()
    return fingerprint


def recorded(out: Path) -> Fingerprint | None:
    raw = feature_store.read_attrs(out).get(FINGERPRINT)
    return Fingerprint.from_json(json.loads(str(raw))) if raw else None


def extract_slide(
    out: Path,
    slide_id: str,
    path: Path,
    encoder: Encoder,
    device: torch.device,
    options: ExtractOptions,
    hooks: Hooks = NO_HOOKS,
    fingerprint: Fingerprint | None = None,
) -> SlideResult:
    """Segment, patch, encode and write one slide (the ``tiles`` bar of ``hooks`` follows
    the encoder); raises on failure."""
    started = time.perf_counter()
    with Slide(path, mpp=options.mpp, backend=options.backend) as slide:
        tissue = segment_slide(slide, options.tissue)
        grid = plan(slide, tissue, options.patches)
        if options.preview is not None:
            save_preview(options.preview / f"{slide_id}.png", slide, tissue, grid)
        hooks.bar("tiles", len(grid.coords), slide_id)
        tiles = Tiles(path, grid, slide.mpp, slide.backend)
        if len(tiles):
            features = encode(encoder, tiles, device, options, lambda n: hooks.advance("tiles", n))
        else:
            features = np.zeros((0, encoder.dim), dtype=np.float32)
        attrs = attributes(slide_id, slide, grid, encoder, options)
        if fingerprint is not None:
            attrs[FINGERPRINT] = json.dumps(fingerprint.to_json(), sort_keys=True)
    feature_store.write_features(out, feature_store.SlideFeatures(features, grid.coords, attrs))
    status, message = DONE, ""
    if not len(grid.coords):
        status = EMPTY
        message = f"no tissue found (saturation threshold {tissue.threshold}); empty file written"
    return SlideResult(
        slide_id, path, status, len(grid.coords), time.perf_counter() - started, message
    )


def finished_patches(out: Path) -> int | None:
    """Patches in a complete feature file; None when there is none (or only a broken one)."""
    try:
        return feature_store.feature_shape(out)[0]
    except BadInputError:
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
    identity: dict[str, object],
    hooks: Hooks = NO_HOOKS,
) -> SlideResult:
    """One slide as a task. A bad slide is a failed unit of the run (exit 1), not bad usage."""
    try:
        encoder = load(ref, device)
        out = ws.feature_file(cohort, slide_id)
        fingerprint = made_from(ws, path, identity)
        return extract_slide(out, slide_id, path, encoder, device, options, hooks, fingerprint)
    except StephError as exc:
        raise RunFailedError(exc.message, exc.fix) from exc
