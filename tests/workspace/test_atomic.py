"""Atomic writes: nothing half-written, a concurrent writer refused, a stale lock taken over."""

import os
from pathlib import Path

import pytest

from steph_cli.errors import StephError
from steph_cli.workspace import atomic


def test_failure_leaves_old_file(tmp_path: Path) -> None:
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin"]


def test_concurrent_writer_refused(tmp_path: Path) -> None:
    target = tmp_path / "m.bin"
    (tmp_path / "m.bin.lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(StephError, match=f"being written by process {os.getppid()}"):
        atomic.write_bytes(target, b"new")
    assert not target.exists()


def test_stale_lock_taken_over(tmp_path: Path) -> None:
    target = tmp_path / "m.bin"
    (tmp_path / "m.bin.lock").write_text("999999999")  # no such process
    atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert not (tmp_path / "m.bin.lock").exists()
