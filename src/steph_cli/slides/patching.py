"""The patch grid at a target magnification, and the tiles read from it.

Patches are defined physically: ``patch_size`` pixels at the target magnification cover
``patch_size * target_mpp`` µm whatever the scan resolution, so a 40x and a 20x scan of the same
tissue give the same patches. Each tile is read from the coarsest pyramid level that is at least
as fine as the target and resized; coordinates are always level-0 pixels (CLAM/TRIDENT).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from steph_cli.errors import BadInputError, Fix
from steph_cli.slides.reader import Slide
from steph_cli.slides.tissue import TissueMask

# A scan counts as reaching a magnification within this tolerance (40x scanners report 0.2525).
MAG_TOLERANCE = 0.05


@dataclass(frozen=True)
class PatchOptions:
    magnification: float = 20.0
    patch_size: int = 256  # pixels at the target magnification
    overlap: int = 0  # pixels at the target magnification
    min_tissue: float = 0.5  # fraction of a patch that must be tissue


@dataclass(frozen=True)
class PatchGrid:
    coords: np.ndarray  # int64 [N, 2], level-0 (x, y) of each patch's top-left corner
    tissue: np.ndarray  # float [N], tissue fraction of each kept patch
    patch_size: int
    patch_size_level0: int
    level: int  # pyramid level the tiles are read from
    read_size: int  # tile size in pixels at that level
    level0_magnification: float
    target_magnification: float


def box_means(mask: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray):
    """Mean of ``mask`` over many boxes at once, via one integral image."""
    integral = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    x0, x1 = np.clip(x0, 0, mask.shape[1]), np.clip(x1, 0, mask.shape[1])
    y0, y1 = np.clip(y0, 0, mask.shape[0]), np.clip(y1, 0, mask.shape[0])
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    return total / area


def plan(slide: Slide, tissue: TissueMask, options: PatchOptions = PatchOptions()) -> PatchGrid:
    """All patches of the grid whose tissue fraction reaches ``options.min_tissue``."""
    if options.overlap < 0 or options.overlap >= options.patch_size:
        raise BadInputError(
            f"patch overlap {options.overlap} pixels: must be in [0, {options.patch_size}), "
            "less than the patch size"
        )
    level0_mag = slide.magnification
    if options.magnification > level0_mag * (1 + MAG_TOLERANCE):
        raise BadInputError(
            f"{slide.path.name}: scanned at {level0_mag:.1f}x ({slide.mpp:g} µm/px); "
            f"magnification {options.magnification:g} would upsample",
            Fix.set("mag", "use {} or lower", round(level0_mag)),
        )
    scale = level0_mag / options.magnification  # level-0 pixels per target pixel
    size0 = round(options.patch_size * scale)
    step0 = round((options.patch_size - options.overlap) * scale)
    width0, height0 = slide.dimensions
    xs = np.arange(0, width0 - size0 + 1, step0, dtype=np.int64)
    ys = np.arange(0, height0 - size0 + 1, step0, dtype=np.int64)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))  # row-major: y, then x
    to_mask = slide.mpp / tissue.mpp
    frac = box_means(
        tissue.mask,
        np.round(gx * to_mask).astype(np.int64),
        np.round(gy * to_mask).astype(np.int64),
        np.round((gx + size0) * to_mask).astype(np.int64),
        np.round((gy + size0) * to_mask).astype(np.int64),
    )
    keep = frac >= options.min_tissue
    level = slide.best_level(scale)
    return PatchGrid(
        coords=np.stack([gx[keep], gy[keep]], axis=1),
        tissue=frac[keep],
        patch_size=options.patch_size,
        patch_size_level0=size0,
        level=level,
        read_size=round(size0 / slide.level_downsamples[level]),
        level0_magnification=level0_mag,
        target_magnification=options.magnification,
    )


class Tiles(Dataset):
    """The grid's tiles as uint8 [size, size, 3] tensors; each worker opens its own slide."""

    def __init__(self, path: Path, grid: PatchGrid, mpp: float, backend: str) -> None:
        self.path, self.grid, self.mpp, self.backend = path, grid, mpp, backend
        self._slide: Slide | None = None

    def __len__(self) -> int:
        return len(self.grid.coords)

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._slide is None:
            self._slide = Slide(self.path, mpp=self.mpp, backend=self.backend)
        g = self.grid
        x, y = g.coords[index]
        tile = self._slide.read(x, y, g.level, g.read_size, g.read_size)
        if g.read_size != g.patch_size:
            size = (g.patch_size, g.patch_size)
            tile = np.array(Image.fromarray(tile).resize(size, Image.Resampling.BILINEAR))
        return torch.from_numpy(tile)
