"""Matplotlib behind the optional ``plot`` extra, headless; figures saved in any format."""

from pathlib import Path
from types import ModuleType
from typing import Any

from steph_cli.errors import BadInputError

FORMATS = ("png", "svg", "pdf")


def pyplot() -> ModuleType:
    try:
        import matplotlib
    except ImportError:
        raise BadInputError("plotting needs matplotlib: pip install 'steph-cli[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` (its format from the suffix: .png, .svg or .pdf) and close it."""
    path = Path(path)
    if path.suffix.lstrip(".").lower() not in FORMATS:
        raise BadInputError(f"plot {path}: use a .png, .svg or .pdf file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    pyplot().close(fig)
    return path
