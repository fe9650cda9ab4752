"""Task functions for executor tests, importable by worker processes (Ray's and the pool's)."""

from pathlib import Path


def boom(path: str) -> None:
    """Fails on its first run, succeeds on the second: a transient fault."""
    marker = Path(path)
    if not marker.exists():
        marker.write_text("failed once")
        raise OSError("transient")


def always(_: str) -> None:
    raise RuntimeError("broken for good")
