"""Wall time of ``steph train --cancer all --folds all``: one process, ``--jobs`` processes on
this machine, and Ray.

Builds the demo workspace (``steph demo --data-only``), copies it, and times the real CLI as
a subprocess on each copy: one process with every usable thread, one process with one
thread, ``--jobs N`` (N = the usable CPUs, one thread each) and ``--executor ray`` (a local
Ray started by the command, one single-threaded task per expert and core; start-up inside
the figure). Experts of the parallel runs are compared byte for byte with the one-thread
run. From the one-thread run's per-expert seconds it projects the wall time of ``--jobs``
on more cores (longest-task-first scheduling plus the measured process start-up). Then the
per-task overhead of Ray: N tasks that do nothing, (Ray − local) / N, with Ray running.
Usage: python bench/scale.py [--epochs 5] [--noop 200]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from steph_cli.tasks.graph import Task, run_local
from steph_cli.tasks.ray_executor import connect, run_ray


def noop() -> None:
    return None


def steph(*args: str, threads: int | None = None) -> tuple[float, str]:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "steph_cli", "--quiet", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return time.perf_counter() - start, done.stdout


def makespan(seconds: list[float], workers: int) -> float:
    """Longest-task-first on ``workers`` processes: the wall time of a --jobs run."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def same_experts(a: Path, b: Path) -> bool:
    files = sorted((a / "experts").rglob("*.safetensors"))
    return bool(files) and all(f.read_bytes() == (b / f.relative_to(a)).read_bytes() for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--noop", type=int, default=200, help="tasks for the overhead figure")
    parser.add_argument("--cancers", type=int, default=7, help="demo cohorts (3 folds each)")
    parser.add_argument("--patients", type=int, default=90, help="demo patients per cohort")
    args = parser.parse_args()
    from steph_cli.threads import available_cpus

    cpus = available_cpus()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        size = ["--cancers", str(args.cancers), "--patients", str(args.patients)]
        steph("--workspace", str(base), "demo", "--data-only", *size)
        names = ("local", "local1", "jobs", "ray")
        for name in names:
            shutil.copytree(base, Path(tmp) / name, symlinks=True)
        train = ["train", "--cancer", "all", "--folds", "all", "--epochs", str(args.epochs)]
        ws = {name: ["--workspace", str(Path(tmp) / name)] for name in names}
        t_local, _ = steph(*ws["local"], *train, "--threads", str(cpus))
        t_local1, shown = steph(*ws["local1"], *train, "--threads", "1", "--json")
        t_jobs, _ = steph(*ws["jobs"], *train, "--jobs", str(cpus), "--threads", "1")
        t_ray, _ = steph(*ws["ray"], *train, "--executor", "ray")
        per_task = [e["seconds"] for e in json.loads(shown)]
        same_jobs = same_experts(Path(tmp) / "local1", Path(tmp) / "jobs")
        same_ray = same_experts(Path(tmp) / "local1", Path(tmp) / "ray")
    tasks = [Task(f"noop {i}", noop) for i in range(args.noop)]
    start = time.perf_counter()
    connect(None)
    t_init = time.perf_counter() - start
    run_ray(tasks[:4])  # warm the workers
    start = time.perf_counter()
    run_local(tasks)
    t_noop_local = time.perf_counter() - start
    start = time.perf_counter()
    run_ray(tasks)
    t_noop_ray = time.perf_counter() - start
    experts = len(per_task)
    startup = max(t_jobs - makespan(per_task, cpus), 0.0)
    print(f"train --cancer all --folds all ({experts} experts, {args.epochs} epochs), {cpus} CPUs")
    print(f"  one process, {cpus} threads   {t_local:7.1f} s")
    print(f"  one process, 1 thread     {t_local1:7.1f} s")
    print(
        f"  --jobs {cpus}, 1 thread each   {t_jobs:7.1f} s   speed-up {t_local / t_jobs:.2f} "
        f"({cpus} threads), {t_local1 / t_jobs:.2f} (1 thread); experts identical to the "
        f"1-thread run: {same_jobs}"
    )
    print(
        f"  ray, 1 CPU per task       {t_ray:7.1f} s   speed-up {t_local / t_ray:.2f} "
        f"({cpus} threads), {t_local1 / t_ray:.2f} (1 thread); identical: {same_ray}"
    )
    print(
        f"  per expert {min(per_task):.2f}–{max(per_task):.2f} s (1 thread); --jobs start-up "
        f"{startup:.1f} s; projected --jobs wall time: "
        + ", ".join(
            f"{n} cores {makespan(per_task, n) + startup:.1f} s "
            f"({t_local1 / (makespan(per_task, n) + startup):.1f}×)"
            for n in (2, 4, 8, 16)
        )
    )
    print(
        f"Ray start-up {t_init:.2f} s; per-task overhead "
        f"{(t_noop_ray - t_noop_local) / args.noop * 1e3:.1f} ms "
        f"({args.noop} no-op tasks: ray {t_noop_ray:.2f} s, local {t_noop_local:.4f} s)"
    )


if __name__ == "__main__":
    main()
