"""SIGTERM and SIGHUP stop a command and every worker it started, leave no temporary file
or lock behind, and exit 128 + the signal."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, register_tiny

SLOW = ["--epochs", "500", "--embed-dim", "16", "--attn-dim", "8", "--threads", "1"]


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def leftovers(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.name.endswith((".tmp", ".lock")))


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
@pytest.mark.parametrize(
    ("sig", "jobs", "code"), [(signal.SIGTERM, "2", 143), (signal.SIGHUP, "1", 129)]
)
def test_a_signal_stops_the_command_and_its_workers(tmp_path, tiny_data, sig, jobs, code):
    ws = tmp_path / "ws"
    register_tiny(Cli(ws), tiny_data)
    command = [sys.executable, "-m", "steph_cli", "--workspace", str(ws), "-q", "train"]
    proc = subprocess.Popen(
        [*command, "--cancer", "all", "--jobs", jobs, *SLOW],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline:  # until the workers are up and training has begun
        workers = [c for c in children(proc.pid) if b"spawn_main" in _cmdline(c)]
        if len(workers) >= int(jobs) - (jobs == "1") and (ws / "cache").is_dir():
            break
        time.sleep(0.2)
    time.sleep(1.0)
    assert len(workers) == (2 if jobs == "2" else 0)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=30) == code
    time.sleep(0.5)
    assert [w for w in workers if alive(w)] == []
    assert leftovers(ws) == []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_a_signal_stops_a_local_ray_run_and_its_cluster(tmp_path, tiny_data):
    """The local Ray executor: its tasks are cancelled (and unwind), the cluster the command
    started goes with it, exit 143, nothing half-written."""
    pytest.importorskip("ray")
    ws = tmp_path / "ws"
    register_tiny(Cli(ws), tiny_data)
    command = [sys.executable, "-m", "steph_cli", "--workspace", str(ws), "-q", "train"]
    proc = subprocess.Popen(
        [*command, "--cancer", "all", "--executor", "ray", *SLOW],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tasks: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and not tasks:  # until Ray runs training tasks
        tasks = [p for p in descendants(proc.pid) if b"ray::_run" in _cmdline(p)]
        time.sleep(0.5)
    assert tasks, proc.stderr.read() if proc.stderr else ""
    time.sleep(2.0)
    cluster = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    deadline = time.time() + 30
    while time.time() < deadline and [p for p in cluster if alive(p)]:
        time.sleep(0.5)
    assert [_cmdline(p) for p in cluster if alive(p)] == []
    assert leftovers(ws) == []
