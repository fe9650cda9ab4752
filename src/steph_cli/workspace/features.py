"""Patch-feature HDF5 files, interoperable with CLAM and TRIDENT.

One file per slide: dataset ``features`` [N, D] and ``coords`` [N, 2] (level-0 x, y), with the
attributes ``patch_size``, ``patch_size_level0``, ``level0_magnification``,
``target_magnification``, ``encoder`` and ``name``. Their files are read as they are:
float16 is cast to float32, a leading batch axis of 1 is dropped, missing ``coords`` is fine.
"""

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from steph_cli.errors import BadInputError, brief
from steph_cli.workspace import atomic
from steph_cli.workspace.paths import validate_slide_id

FEATURES = "features"
COORDS = "coords"


@dataclass
class SlideFeatures:
    features: np.ndarray  # float32 [N, D]
    coords: np.ndarray | None = None  # int64 [N, 2]
    attrs: dict[str, object] = field(default_factory=dict)


def _open(path: Path) -> h5py.File:
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; give the HDF5 feature files in it")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise BadInputError(
            f"{path}: not a readable HDF5 file ({brief(exc)}); re-extract or re-copy it"
        ) from exc


def _dataset(fh: h5py.File, path: Path) -> h5py.Dataset:
    if FEATURES not in fh or not isinstance(fh[FEATURES], h5py.Dataset):
        raise BadInputError(
            f"{path}: no '{FEATURES}' dataset (found: {', '.join(fh.keys()) or 'nothing'}); "
            "expected a CLAM/TRIDENT feature file"
        )
    return fh[FEATURES]


def _shape(ds: h5py.Dataset, path: Path) -> tuple[int, int]:
    shape = ds.shape[1:] if len(ds.shape) == 3 and ds.shape[0] == 1 else ds.shape
    if len(shape) != 2:
        raise BadInputError(f"{path}: '{FEATURES}' has shape {ds.shape}; expected [patches, dim]")
    _numeric(ds, path, FEATURES)
    return int(shape[0]), int(shape[1])


def _numeric(ds: h5py.Dataset, path: Path, name: str) -> None:
    if ds.dtype.kind not in "fiu":
        raise BadInputError(
            f"{path}: '{name}' holds {ds.dtype} values; expected numbers (float features, "
            "integer coordinates)"
        )


def _coords(fh: h5py.File, path: Path, n: int) -> np.ndarray | None:
    """``coords`` as int64 [N, 2], or None when the file has none (CLAM files may not)."""
    if COORDS not in fh:
        return None
    ds = fh[COORDS]
    if not isinstance(ds, h5py.Dataset):
        raise BadInputError(f"{path}: '{COORDS}' is not a dataset")
    _numeric(ds, path, COORDS)
    coords = np.asarray(ds[()])
    if coords.size != 2 * n or (coords.ndim >= 2 and coords.shape[-1] != 2):
        raise BadInputError(
            f"{path}: '{COORDS}' has shape {coords.shape} but '{FEATURES}' has {n} patches; "
            "expected [patches, 2] (level-0 x, y)"
        )
    return coords.reshape(n, 2).astype(np.int64)


def feature_shape(path: Path) -> tuple[int, int]:
    """(patches, dim) of a feature file, without reading the data."""
    with _open(path) as fh:
        return _shape(_dataset(fh, path), path)


def read_attrs(path: Path) -> dict[str, object]:
    """A feature file's attributes (on the file and on ``coords``), without its data."""
    with _open(path) as fh:
        attrs = {**dict(fh.attrs), **(dict(fh[COORDS].attrs) if COORDS in fh else {})}
    return {k: _plain(v) for k, v in attrs.items()}


def read_features(path: Path) -> SlideFeatures:
    with _open(path) as fh:
        ds = _dataset(fh, path)
        n, d = _shape(ds, path)
        features = np.asarray(ds[()], dtype=np.float32).reshape(n, d)
        coords = _coords(fh, path, n)
        attrs = {**dict(fh.attrs), **(dict(fh[COORDS].attrs) if COORDS in fh else {})}
    if not np.isfinite(features).all():
        raise BadInputError(f"{path}: features contain NaN or inf; re-extract this slide")
    return SlideFeatures(features, coords, {k: _plain(v) for k, v in attrs.items()})


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_features(path: Path, slide: SlideFeatures) -> None:
    """Write atomically; attributes go on the file and on ``coords`` (where TRIDENT looks)."""
    feats = np.asarray(slide.features, dtype=np.float32)
    if feats.ndim != 2:
        raise ValueError(f"features must be [N, D], got {feats.shape}")
    coords = slide.coords
    if coords is None:
        coords = np.zeros((feats.shape[0], 2), dtype=np.int64)
    with atomic.atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.create_dataset(FEATURES, data=feats)
        cds = fh.create_dataset(COORDS, data=np.asarray(coords, dtype=np.int64))
        for key, value in slide.attrs.items():
            fh.attrs[key] = value
            cds.attrs[key] = value


@dataclass(frozen=True)
class FeatureFile:
    slide_id: str
    path: Path
    n_patches: int
    dim: int


def scan(paths: Iterable[Path]) -> tuple[list[FeatureFile], int | None]:
    """Check every file's ``features`` shape and that all share one dimension."""
    files: list[FeatureFile] = []
    dim: int | None = None
    first: Path | None = None
    for path in sorted(paths):
        slide_id = validate_slide_id(path.stem, str(path))
        n, d = feature_shape(path)
        if dim is None:
            dim, first = d, path
        elif d != dim:
            raise BadInputError(
                f"{path}: feature dimension {d} differs from {dim} in {first}; "
                "all slides of a workspace must come from the same encoder"
            )
        files.append(FeatureFile(slide_id, path, n, d))
    return files, dim


def h5_files(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise BadInputError(f"features directory {directory} does not exist")
    return sorted(p for p in directory.iterdir() if p.suffix in (".h5", ".hdf5") and p.is_file())


def install(files: list[FeatureFile], dest_dir: Path, link: bool) -> None:
    """Copy (or symlink) validated feature files into the workspace, atomically each."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        dest = dest_dir / f"{f.slide_id}.h5"
        if link:
            tmp = dest.with_name(f".{dest.name}.link")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(f.path.resolve())
            tmp.replace(dest)
        else:
            with atomic.atomic_path(dest) as tmp:
                shutil.copyfile(f.path, tmp)
