"""Tissue segmentation on a low-resolution view of the slide.

Stained tissue is coloured and background glass is white or grey, so the HSV saturation
channel separates them: median blur (removes pen specks and JPEG noise), a threshold (Otsu by
default), a morphological closing (joins fragmented tissue), then small objects and small holes
removed. The mask is computed at a fixed physical resolution, so a 20x and a 40x scan of the
same tissue give the same mask.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage import color, filters, morphology

from steph_cli.slides.reader import Slide

# Otsu on a nearly blank image splits background noise; below this saturation (of 255) nothing
# is tissue, which keeps an empty slide empty.
OTSU_FLOOR = 20


@dataclass(frozen=True)
class TissueOptions:
    """Segmentation settings; sizes are physical so they mean the same at any scan resolution."""

    mpp: float = 8.0  # resolution of the mask, µm per pixel (≈ 1.25x)
    threshold: int | None = None  # saturation threshold 0–255; None: Otsu
    median_um: float = 56.0  # median blur window
    closing_um: float = 16.0  # radius of the closing disk
    min_object_um2: float = 20_000.0  # smaller tissue fragments are dropped
    max_hole_um2: float = 20_000.0  # smaller holes in tissue are filled


@dataclass(frozen=True)
class TissueMask:
    mask: np.ndarray  # bool [rows, cols] at ``mpp``
    thumbnail: np.ndarray  # RGB uint8, same grid as ``mask``
    mpp: float
    threshold: int


def thumbnail(slide: Slide, mpp: float) -> np.ndarray:
    """The whole slide at ``mpp`` µm per pixel, read from the best level and resized."""
    width0, height0 = slide.dimensions
    size = (max(1, round(width0 * slide.mpp / mpp)), max(1, round(height0 * slide.mpp / mpp)))
    level = slide.best_level(mpp / slide.mpp)
    image = slide.read(0, 0, level, *slide.level_dimensions[level])
    if image.shape[1::-1] != size:
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
    return image


def segment(rgb: np.ndarray, mpp: float, options: TissueOptions = TissueOptions()) -> TissueMask:
    """Tissue mask of an RGB image whose pixels are ``mpp`` µm wide."""
    saturation = (color.rgb2hsv(rgb)[..., 1] * 255).astype(np.uint8)
    size = max(1, round(options.median_um / mpp)) | 1
    saturation = filters.median(saturation, footprint=np.ones((size, size), dtype=bool))
    if options.threshold is not None:
        threshold = int(options.threshold)
    elif saturation.min() == saturation.max():
        threshold = max(int(saturation.max()), OTSU_FLOOR)
    else:
        threshold = max(int(filters.threshold_otsu(saturation)), OTSU_FLOOR)
    mask = saturation > threshold
    radius = round(options.closing_um / mpp)
    if radius > 0:
        mask = morphology.closing(mask, morphology.disk(radius))
    px_area = mpp * mpp
    mask = morphology.remove_small_objects(mask, max_size=int(options.min_object_um2 / px_area))
    mask = morphology.remove_small_holes(mask, max_size=int(options.max_hole_um2 / px_area))
    return TissueMask(mask, rgb, mpp, threshold)


def segment_slide(slide: Slide, options: TissueOptions = TissueOptions()) -> TissueMask:
    return segment(thumbnail(slide, options.mpp), options.mpp, options)
