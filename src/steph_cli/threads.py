"""How many CPU threads this process may use, and how many torch should use.

``os.cpu_count()`` counts the machine's cores, not this process's share: a container, a
SLURM allocation or ``taskset`` gives fewer, and intra-op threads beyond that share are
worse than useless — they wait on each other (seconds per bag grew 5–30× on a busy 2-core
machine). The share is the CPU affinity mask capped by the cgroup's CPU quota (v2
``cpu.max``, v1 ``cpu.cfs_quota_us``).
"""

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)


def _quota(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> float | None:
    """The cgroup's CPU quota in CPUs, or None when there is none (or it cannot be read)."""
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        if v1[0].is_file():
            quota_us, period_us = (int(p.read_text()) for p in v1)
            return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
    return None


def available_cpus(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> int:
    """CPUs this process may run on: its affinity mask, capped by the cgroup quota (a quota
    of 1.5 CPUs is one CPU's worth of threads and a half that would only contend)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = _quota(v2, v1)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def requested() -> int | None:
    """Threads asked for through the environment (``OMP_NUM_THREADS``), if any."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def per_task(jobs: int, cpus: int | None = None) -> int:
    """Threads for each of ``jobs`` processes sharing this process's CPUs."""
    return max(1, (cpus or available_cpus()) // max(1, jobs))


def oversubscribed(threads: int, jobs: int = 1, cpus: int | None = None) -> str | None:
    """Why ``jobs`` processes of ``threads`` threads each are too many for the CPUs this
    process may use, or None when they fit."""
    cpus = cpus or available_cpus()
    if threads * jobs <= cpus:
        return None
    asked = f"{jobs} jobs × {threads} threads" if jobs > 1 else f"{threads} threads"
    return (
        f"{asked} on {cpus} usable CPU(s) (affinity and cgroup quota): threads would wait on "
        f"each other; use {per_task(jobs, cpus)} thread(s) per job"
    )


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` (None: left as they are) for the block."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
