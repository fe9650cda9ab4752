"""Patient bags served from a memory-mapped float16 cache, built once per cohort.

Training touches every bag every epoch; parsing HDF5 each time would dominate small models.
The cache holds each patient's patches (all of its slides) contiguously, so a bag is one
slice of one memory map. It is keyed by the labels and by each feature file's size and
modification time, so a changed file or label rebuilds it (what models record is the features'
sha256: ``models.provenance``).
"""

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from steph_cli.errors import BadInputError
from steph_cli.workspace import atomic
from steph_cli.workspace import features as feature_store
from steph_cli.workspace.cohorts import check_feature_coverage
from steph_cli.workspace.labels import Labels
from steph_cli.workspace.paths import Workspace

INDEX = "index.json"
DATA = "bags.f16"
FLOAT16_MAX = float(np.finfo(np.float16).max)


class BagStore:
    """Bags of one cohort's patients: ``bag(patient)`` is an [N, D] float16 view."""

    def __init__(self, directory: Path) -> None:
        index = json.loads((directory / INDEX).read_text())
        self.directory = directory
        self.dim: int = index["dim"]
        self.offsets: dict[str, tuple[int, int]] = {
            p: (a, b) for p, (a, b) in index["offsets"].items()
        }
        total = max((b for _, b in self.offsets.values()), default=0)
        self.data = np.memmap(directory / DATA, dtype=np.float16, mode="r", shape=(total, self.dim))

    def bag(self, patient: str) -> np.ndarray:
        a, b = self.offsets[patient]
        return self.data[a:b]

    def patches(self, patient: str) -> int:
        a, b = self.offsets[patient]
        return b - a

    def tensor(self, patient: str, device: torch.device | str = "cpu") -> torch.Tensor:
        """The bag as float32 on ``device``: one copy on the CPU; on a GPU the float16 bag
        crosses the bus and is widened there, halving the transfer."""
        bag = self.bag(patient)
        if torch.device(device).type == "cpu":
            return torch.from_numpy(bag.astype(np.float32))
        return torch.from_numpy(np.array(bag)).to(device, non_blocking=True).float()


def _key(labels_file: Path, files: list[Path]) -> str:
    digest = hashlib.sha256(labels_file.read_bytes())
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def open_store(
    ws: Workspace,
    cohort: str,
    labels: Labels,
    on_slide: Callable[[int, int], None] | None = None,
) -> BagStore:
    """The cohort's cache, rebuilt first if labels or feature files changed."""
    have = {p.stem: p for p in sorted(ws.features_dir(cohort).glob("*.h5"))}
    check_feature_coverage(labels, set(have), str(ws.features_dir(cohort)))
    slides = [(p, s) for p in labels.patients for s in labels.slides[p] if s in have]
    files = [have[s] for _, s in slides]
    base = ws.cache_dir / cohort
    final = base / _key(ws.labels_file(cohort), files)
    if not (final / INDEX).is_file():
        _build(final, slides, files, on_slide)
        for old in base.iterdir():  # stale caches; other processes' builds start with "."
            if old != final and old.is_dir() and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
    return BagStore(final)


def _build(
    final: Path,
    slides: list[tuple[str, str]],
    files: list[Path],
    on_slide: Callable[[int, int], None] | None,
) -> None:
    shapes = [feature_store.feature_shape(f) for f in files]
    dims = {d for _, d in shapes}
    if len(dims) > 1:
        raise BadInputError(f"{files[0].parent}: feature files disagree on dimension ({dims})")
    dim = dims.pop()
    # Private to this process, so that parallel tasks (one per fold) may build it at once;
    # removed if the build fails or is interrupted, and by the next build if this process dies.
    atomic.reclaim(final)
    tmp = atomic.temporary(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _fill(tmp, slides, files, shapes, dim, on_slide)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if (final / INDEX).is_file():  # another process finished the same cache first
        shutil.rmtree(tmp)
        return
    shutil.rmtree(final, ignore_errors=True)  # an incomplete one (no index) is replaced
    try:
        tmp.rename(final)
    except OSError:  # lost the race between the check and the rename
        shutil.rmtree(tmp)


def _fill(
    tmp: Path,
    slides: list[tuple[str, str]],
    files: list[Path],
    shapes: list[tuple[int, int]],
    dim: int,
    on_slide: Callable[[int, int], None] | None,
) -> None:
    total = sum(n for n, _ in shapes)
    data = np.memmap(tmp / DATA, dtype=np.float16, mode="w+", shape=(max(total, 1), dim))
    offsets: dict[str, list[int]] = {}
    row = 0
    for i, ((patient, _), path, (n, _)) in enumerate(zip(slides, files, shapes, strict=True)):
        feats = feature_store.read_features(path).features
        if np.abs(feats).max(initial=0.0) > FLOAT16_MAX:
            raise BadInputError(f"{path}: feature values exceed the float16 range; rescale them")
        data[row : row + n] = feats
        start, _ = offsets.setdefault(patient, [row, row])
        offsets[patient] = [start, row + n]
        row += n
        if on_slide:
            on_slide(i + 1, len(files))
    empty = [p for p, (a, b) in offsets.items() if a == b]
    if empty:
        raise BadInputError(
            f"patient {empty[0]} has an empty bag (0 patches in all of its slides); "
            "remove it from the labels or re-extract its slides"
        )
    data.flush()
    del data
    index = {"dim": dim, "offsets": offsets}
    (tmp / INDEX).write_text(json.dumps(index))
