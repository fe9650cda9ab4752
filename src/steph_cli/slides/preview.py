"""A PNG to check segmentation and patching by eye: tissue contour and patch grid on a thumbnail."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import measure

from steph_cli.slides.patching import PatchGrid
from steph_cli.slides.reader import Slide
from steph_cli.slides.tissue import TissueMask
from steph_cli.workspace import atomic

CONTOUR = (0, 170, 0)
GRID = (30, 60, 220)


def save_preview(path: Path, slide: Slide, tissue: TissueMask, grid: PatchGrid) -> None:
    """Draw on the segmentation thumbnail (``tissue.mpp`` µm/px): contours green, patches blue."""
    image = Image.fromarray(tissue.thumbnail)
    draw = ImageDraw.Draw(image)
    for contour in measure.find_contours(np.pad(tissue.mask, 1).astype(np.uint8), 0.5):
        draw.line([(x - 1, y - 1) for y, x in contour], fill=CONTOUR, width=2)
    scale = slide.mpp / tissue.mpp
    side = grid.patch_size_level0 * scale
    for x, y in grid.coords * scale:
        draw.rectangle([x, y, x + side, y + side], outline=GRID)
    with atomic.atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
