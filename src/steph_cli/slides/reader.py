"""One small interface over OpenSlide and tiffslide, so the rest of extraction sees one API.

OpenSlide (with the ``openslide-bin`` wheel) reads the vendor formats (SVS, NDPI, MRXS, SCN,
...); tiffslide is pure Python and reads tiled TIFFs when OpenSlide is missing or refuses a
file. Both are addressed through the OpenSlide API they share.
"""

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from steph_cli.errors import BadInputError, Fix

BACKENDS = ("auto", "openslide", "tiffslide")
# Where each reader reports microns per pixel; TIFF resolution tags surface as the first two.
MPP_KEYS = ("openslide.mpp-x", "tiffslide.mpp-x", "aperio.MPP")
SLIDE_SUFFIXES = frozenset(
    {".svs", ".ndpi", ".mrxs", ".scn", ".tif", ".tiff", ".vms", ".vmu", ".bif", ".svslide"}
)


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except (ImportError, OSError):  # OSError: openslide-python without the C library
        return None


def _open_with(name: str, path: Path) -> Any:
    module = _module(name)
    if module is None:
        raise BadInputError(
            f"{name} is not installed; install the wsi extra: pip install 'steph-cli[wsi]'"
        )
    opener = module.OpenSlide if name == "openslide" else module.TiffSlide
    return opener(str(path))


class Slide:
    """A whole-slide image: pyramid geometry, microns per pixel and RGB region reads."""

    def __init__(self, path: Path, mpp: float | None = None, backend: str = "auto") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BadInputError(f"{self.path}: no such slide file")
        self.backend, self._handle = self._open(backend)
        self.level_dimensions: list[tuple[int, int]] = [
            (int(w), int(h)) for w, h in self._handle.level_dimensions
        ]
        self.level_downsamples: list[float] = [float(d) for d in self._handle.level_downsamples]
        found = mpp if mpp is not None else self._metadata_mpp()
        if found is None:
            raise BadInputError(
                f"{self.path.name}: no microns-per-pixel in its metadata "
                f"({', '.join(MPP_KEYS)} or TIFF resolution)",
                Fix.set("mpp", "give it: {}", 0.25),
            )
        if not 0.01 < found < 100:
            raise BadInputError(f"{self.path.name}: implausible microns per pixel {found}")
        self.mpp: float = found

    def _open(self, backend: str) -> tuple[str, Any]:
        if backend not in BACKENDS:
            raise BadInputError(
                f"unknown slide backend {backend!r}; use one of {', '.join(BACKENDS)}"
            )
        names = ["openslide", "tiffslide"] if backend == "auto" else [backend]
        if backend == "auto" and _module("openslide") is None:
            names = ["tiffslide"]
        errors = []
        for name in names:
            try:
                return name, _open_with(name, self.path)
            except BadInputError:
                raise
            except Exception as exc:  # each reader has its own error types
                errors.append(f"{name}: {exc}")
        raise BadInputError(f"{self.path.name}: cannot open this slide ({'; '.join(errors)})")

    def _metadata_mpp(self) -> float | None:
        props = self._handle.properties
        for key in MPP_KEYS:
            value = props.get(key)
            try:
                if value not in (None, "") and float(value) > 0:
                    return float(value)
            except (TypeError, ValueError):
                continue
        return None

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.level_dimensions[0]

    @property
    def magnification(self) -> float:
        """Level-0 magnification by the usual convention 10 / mpp (0.5 µm/px ≈ 20x)."""
        return 10.0 / self.mpp

    def best_level(self, downsample: float) -> int:
        """The coarsest level at least as fine as ``downsample`` (read it, then shrink)."""
        fits = [i for i, d in enumerate(self.level_downsamples) if d <= downsample * 1.001]
        return max(fits, key=lambda i: self.level_downsamples[i]) if fits else 0

    def read(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """RGB uint8 [height, width, 3] at ``level``; (x, y) in level-0 pixels.

        Transparent pixels (outside a scanned region) become white, as background is.
        """
        region = self._handle.read_region((int(x), int(y)), level, (width, height))
        if region.mode == "RGBA" and region.getchannel("A").getextrema()[0] < 255:
            # OpenSlide returns premultiplied RGBA; compositing onto white adds (255 - alpha).
            rgba = np.asarray(region)
            rgb = rgba[..., :3].astype(np.uint16) + (255 - rgba[..., 3:4])
            return np.minimum(rgb, 255).astype(np.uint8)
        return np.array(region.convert("RGB") if region.mode != "RGB" else region)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "Slide":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def slide_files(directory: Path) -> list[Path]:
    """The slide files directly in ``directory``, by known whole-slide suffixes."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BadInputError(f"slides directory {directory} does not exist")
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SLIDE_SUFFIXES
    )
    if not files:
        raise BadInputError(f"{directory}: no slide files ({', '.join(sorted(SLIDE_SUFFIXES))})")
    return files
