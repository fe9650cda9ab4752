"""Atomic, exclusive file writes: a crash never leaves a half-written model or table.

Each write goes to a temporary file beside the target and is renamed over it only when
complete. A ``.lock`` file beside the target (holding the writer's pid) refuses a second
concurrent writer; a lock left by a dead process is taken over, and the temporary files
(``.NAME.PID.tmp``) of dead processes — killed with ``kill -9``, say — are removed by the
next writer of that path.
"""

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from steph_cli.errors import BusyError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temporary(target: Path) -> Path:
    """This process's temporary name for ``target`` (a file or a folder)."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def reclaim(target: Path) -> None:
    """Remove the temporary files or folders that dead processes left for ``target``."""
    if not target.parent.is_dir():
        return
    for left in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = left.name[len(target.name) + 2 : -len(".tmp")]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
            else:
                left.unlink(missing_ok=True)


def _acquire(lock: Path) -> int:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _pid_alive(pid) and pid != os.getpid():
                raise BusyError(
                    f"{lock.with_suffix('')} is being written by process {pid}; "
                    "wait for it to finish (or delete the .lock file if that process is gone)"
                ) from None
            lock.unlink(missing_ok=True)
            continue
        os.write(fd, str(os.getpid()).encode())
        return fd
    raise BusyError(f"could not lock {lock}; delete it if no steph process is running")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``target`` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(target.name + ".lock")
    fd = _acquire(lock)
    reclaim(target)
    tmp = temporary(target)
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)
        lock.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
