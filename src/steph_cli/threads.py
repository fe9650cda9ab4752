"""How many CPU threads this process may use, and how many torch should use.

``os.cpu_count()`` counts the machine's cores, not this process's share: a container, a
SLURM allocation or ``taskset`` gives fewer, and intra-op threads beyond that share are
worse than useless — they wait on each other. The share is the CPU affinity mask capped by
the cgroup's CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``).

The default follows ``bench/threads.py`` (expert step, 2 CPUs, seconds per bag relative to
one thread alone, N = 100 … 10,000 patches): two threads alone 0.54–0.67×; two threads
beside another busy process 1.40–1.68× (slower than one thread); one thread beside it
1.03–1.08×. So a run takes every usable CPU that is idle *now* and never more; ``--jobs``
share that out. "Now" is a short sample of this process's CPUs in ``/proc/stat``, not the
1-minute load average, which still counts work that finished a minute ago (a test suite
just before a demo halved the demo's threads); a long run decides again between tasks.
"""

import contextlib
import contextvars
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 0.1
# A decision is reused this long: a run of many short tasks samples once, a long one again.
DECISION_SECONDS = 20.0

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


_PINNED: contextvars.ContextVar[int | None] = contextvars.ContextVar("threads", default=None)


def requested() -> int | None:
    """Threads asked for through the environment (``OMP_NUM_THREADS``), if any."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _cpu_jiffies(stat: Path, cpus: set[int]) -> tuple[float, float]:
    """(busy, total) time of ``cpus`` so far, from their ``cpuN`` lines of /proc/stat."""
    busy = total = 0.0
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        values = [float(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(values)
        busy += sum(values) - values[3] - values[4]
    return busy, total


def busy_cpus(seconds: float = SAMPLE_SECONDS, stat: Path = PROC_STAT) -> float:
    """How many of this process's CPUs other work keeps busy now: the busy share of each CPU
    of its affinity mask over ``seconds`` (this process sleeps meanwhile). Where there is no
    /proc/stat (macOS), the 1-minute load average stands in."""
    try:
        cpus = os.sched_getaffinity(0)
        busy0, total0 = _cpu_jiffies(stat, cpus)
        time.sleep(seconds)
        busy1, total1 = _cpu_jiffies(stat, cpus)
    except (AttributeError, OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if total1 <= total0:
        return 0.0
    return len(cpus) * (busy1 - busy0) / (total1 - total0)


_DECIDED: dict[str, float] = {}  # the last sample: {"at": monotonic seconds, "busy": CPUs}


def _busy_recently() -> float:
    now = time.monotonic()
    if not _DECIDED or now - _DECIDED["at"] > DECISION_SECONDS:
        _DECIDED.update(at=now, busy=busy_cpus())
    return _DECIDED["busy"]


def occupied(busy: float) -> int:
    """Whole CPUs taken by ``busy`` CPUs' worth of other work: a CPU counts when at least
    three quarters of it is used. A 0.1 s sample catches flickers (a process exiting, a
    daemon waking); rounding 0.6 of one up halved the demo on 2 CPUs after the suite."""
    return int(busy + 0.25)


def idle_cpus() -> int:
    """Usable CPUs not busy now (at least one)."""
    return max(1, available_cpus() - occupied(_busy_recently()))


def default(jobs: int = 1, cpus: int | None = None, busy: float | None = None) -> int:
    """Threads for each of ``jobs`` processes when none were asked for: those pinned by the
    caller (``torch_threads``), else ``OMP_NUM_THREADS``, else the usable CPUs not busy now
    (at least one), shared out. ``busy`` overrides the measurement (tests, benchmarks)."""
    asked = _PINNED.get() or requested()
    if asked:
        return asked
    cpus = cpus or available_cpus()
    if busy is None:
        busy = _busy_recently()
    return per_task(jobs, max(1, cpus - occupied(busy)))


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
def torch_threads(n: int) -> Iterator[None]:
    """Torch's intra-op threads pinned to ``n`` for the block: runs inside it use ``n``
    whatever the machine's load (a reproduction, a comparison of bytes)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    token = _PINNED.set(n)
    try:
        yield
    finally:
        _PINNED.reset(token)
        torch.set_num_threads(before)
