"""A real two-node Ray cluster: a head and a second node started as separate processes
(``ray start``, one CPU each), ``train`` and ``merge`` through ``--ray-address``, and the
second node killed while it trains."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, register_tiny
from tests.tasks.test_signals import descendants

pytest.importorskip("ray")
RAY_BIN = Path(sys.executable).parent / "ray"
# A throw-away cluster on this machine: no token to hand to every process; Ray's C-level
# SIGTERM handler (a stack dump) kept out, as steph does for its own local Ray.
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DISABLE_FAILURE_SIGNAL_HANDLER": "1"}
# a lost node is declared dead after 2 missed 1-second health checks, not Ray's 30 s
ENV |= {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "2"}
# ~0.5 s a task (packed); the second node is killed while one of its workers runs a task
TRAIN = ["train", "--cancer", "all", "--folds", "all", "--epochs", "80"]
TRAIN += ["--embed-dim", "16", "--attn-dim", "8", "--accumulate", "4"]
MERGE = ["merge", "--target", "AAA", "--method", "task-arithmetic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpus(address: str) -> float:
    shown = subprocess.run(
        [str(RAY_BIN), "status", "--address", address], capture_output=True, text=True, env=ENV
    ).stdout
    found = re.search(r"/([\d.]+) CPU", shown)
    return float(found.group(1)) if found else 0.0


def _wait_for_cpus(address: str, cpus: float, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _cpus(address) == cpus:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster at {address} never had {cpus} CPUs")


def _start(*args: str) -> subprocess.Popen:
    """``ray start ... --block``: in the foreground, so that its processes are its own
    descendants and can be stopped without touching any other Ray on this machine."""
    return subprocess.Popen(
        [str(RAY_BIN), "start", *args, "--block"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )


@pytest.fixture
def cluster() -> Iterator[tuple[str, subprocess.Popen]]:
    """A head (1 CPU) and a second node (1 CPU)."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    address = f"127.0.0.1:{_free_port()}"
    port = address.split(":")[1]
    head = _start(
        "--head",
        f"--port={port}",
        "--num-cpus=1",
        "--include-dashboard=false",
        f"--temp-dir={temp}",
    )
    nodes = [head]
    try:
        nodes[1:] = [_start(f"--address={address}", "--num-cpus=1")]
        _wait_for_cpus(address, 2.0)
        yield address, nodes[1]
    finally:
        for node in nodes:
            _kill_node(node)
        shutil.rmtree(temp, ignore_errors=True)


def _kill_node(node: subprocess.Popen) -> None:
    """SIGKILL a node: its ``ray start`` process, raylet and workers, at once."""
    for pid in [*descendants(node.pid), node.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    node.wait()


def _running_a_task(node: subprocess.Popen) -> bool:
    """Whether a worker of ``node`` runs a task: Ray titles a worker by the function it runs
    (the executor's ``_run``), ``ray::IDLE`` between tasks."""
    for pid in descendants(node.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_run"):
                return True
    return False


def _bytes(root: Path, folder: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / folder).rglob("*.safetensors"))
    }


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.name.endswith((".tmp", ".lock")))


def test_a_node_lost_mid_run_is_reported_resumed_and_changes_no_byte(
    cluster: tuple[str, subprocess.Popen], tmp_path: Path, tiny_data: Path
) -> None:
    address, node = cluster
    ws = tmp_path / "cluster"
    register_tiny(Cli(ws), tiny_data)
    steph = [sys.executable, "-m", "steph_cli", "--workspace", str(ws)]
    on_cluster = ["--executor", "ray", "--ray-address", address]
    wide = {**ENV, "COLUMNS": "200"}  # the task table as a table
    run = subprocess.Popen(
        [*steph, *TRAIN, *on_cluster],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=wide,
    )
    deadline = time.time() + 180
    while time.time() < deadline and not _running_a_task(node):
        time.sleep(0.02)
    assert run.poll() is None, run.communicate()
    _kill_node(node)
    _, err = run.communicate(timeout=300)
    # the lost node's task is retried on the head, or reported failed: never silently lost
    lost = re.findall(r"│ train \w+ fold \d\s*│\s*(done|failed)\s*│\s*(\d+)\s*│", err)
    assert lost and any(status == "failed" or int(n) > 1 for status, n in lost), err
    assert _leftovers(ws) == []
    # a rerun on the head alone completes what is missing and skips what exists
    _wait_for_cpus(address, 1.0)
    again = subprocess.run([*steph, *TRAIN, *on_cluster], capture_output=True, text=True, env=wide)
    assert again.returncode == 0, again.stderr
    assert len(_bytes(ws, "experts")) == 9
    merged = subprocess.run([*steph, *MERGE, *on_cluster], capture_output=True, text=True, env=wide)
    assert merged.returncode == 0, merged.stderr
    # every output equals a local one-thread run's, byte for byte
    local = register_tiny(Cli(tmp_path / "local"), tiny_data)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args in (TRAIN, MERGE):
        subprocess.run(
            [sys.executable, "-m", "steph_cli", "--workspace", str(local.workspace), *args],
            check=True,
            capture_output=True,
            env=env,
        )
    for folder in ("experts", "vectors", "merged"):
        assert _bytes(ws, folder) == _bytes(local.workspace, folder), folder
    assert (ws / "init.safetensors").read_bytes() == (
        local.workspace / "init.safetensors"
    ).read_bytes()
