"""Small pyramidal tiled TIFFs with tissue-like regions, and a tiny timm encoder on disk.

The drawing is defined on a 20x grid (0.5 µm/px); a 40x slide of the same drawing doubles
every pixel, so both scans hold the same tissue at the same physical place.
"""

from pathlib import Path

import numpy as np
import tifffile
import torch
from safetensors.torch import save_file

from steph_cli.slides import encoders

MPP_20X = 0.5
TISSUE_RGB = (200, 80, 160)  # eosin-pink: saturation ≈ 0.6
# (x, y, width, height) at 20x, multiples of the 256 px patch: 4 x 3 + 2 x 1 = 14 patches.
RECTS = ((256, 512, 1024, 768), (1536, 256, 512, 256))
SIZE_20X = (2048, 1536)  # width, height
TINY_VIT = "vit_tiny_patch16_224"
TINY_VIT_KWARGS = '{"img_size": 32, "patch_size": 16, "embed_dim": 16, "depth": 1, "num_heads": 2}'
TINY_DIM = 16


def drawing(rects=RECTS, size=SIZE_20X, seed: int = 0, colour=TISSUE_RGB) -> np.ndarray:
    """RGB uint8 at 20x: white glass with faint noise and textured tissue rectangles."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = np.full((height, width, 3), 245, dtype=np.int16)
    image += rng.integers(-6, 7, size=image.shape, dtype=np.int16)
    for x, y, w, h in rects:
        texture = rng.integers(-25, 26, size=(h, w, 1), dtype=np.int16)
        image[y : y + h, x : x + w] = np.asarray(colour, dtype=np.int16) + texture
    return np.clip(image, 0, 255).astype(np.uint8)


def write_pyramid(path: Path, image: np.ndarray, mpp: float | None, levels: int = 3) -> Path:
    """A tiled TIFF with ``levels`` halvings; MPP as TIFF resolution tags (or none)."""
    with tifffile.TiffWriter(path) as tif:
        for i in range(levels):
            level = image[:: 2**i, :: 2**i]
            extra = {}
            if mpp is not None:
                per_cm = 1e4 / (mpp * 2**i)
                extra = {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}
            tif.write(
                level,
                tile=(128, 128),
                photometric="rgb",
                compression="zlib",
                subfiletype=0 if i == 0 else 1,
                **extra,
            )
    return path


def write_20x(path: Path, image: np.ndarray | None = None, **kw) -> Path:
    return write_pyramid(path, drawing() if image is None else image, MPP_20X, **kw)


def write_40x(path: Path, image: np.ndarray | None = None) -> Path:
    image = drawing() if image is None else image
    return write_pyramid(path, image.repeat(2, axis=0).repeat(2, axis=1), MPP_20X / 2, levels=4)


def expected_coords(rects=RECTS, patch: int = 256, scale: int = 1) -> set[tuple[int, int]]:
    """Level-0 corners of the patches the drawing should yield."""
    return {
        (px * scale, py * scale)
        for x, y, w, h in rects
        for px in range(x, x + w, patch)
        for py in range(y, y + h, patch)
    }


def tiny_encoder_weights(path: Path, seed: int = 0) -> Path:
    """Random weights of a one-block ViT, saved as safetensors like a real checkpoint."""
    torch.manual_seed(seed)
    spec = encoders.custom_spec(TINY_VIT, TINY_VIT_KWARGS)
    model, _ = encoders.build_model(spec)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


def tiny_encoder_args(weights: Path) -> list[str]:
    return [
        "--encoder",
        "custom",
        "--timm-name",
        TINY_VIT,
        "--timm-kwargs",
        TINY_VIT_KWARGS,
        "--weights",
        str(weights),
    ]
