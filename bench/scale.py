"""Wall time of ``steph train --cancer all --folds all`` with the local executor vs Ray.

Builds the demo workspace (``steph demo --data-only``: 7 cohorts × 3 folds = 21 experts),
copies it, and times the real CLI as a subprocess on each copy: ``--executor local`` (one
expert after another, torch using every core, then with ``OMP_NUM_THREADS=1``) and
``--executor ray`` (a local Ray started by the command, one single-threaded task per expert
and core). Ray's start-up is inside the Ray
figure. Then the per-task overhead of Ray: N tasks that do nothing, through the same
executors, (Ray − local) / N, with Ray already running.
Usage: python bench/scale.py [--epochs 5] [--noop 200]
"""

import argparse
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


def steph(*args: str, threads: int | None = None) -> float:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "steph_cli", "--quiet", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--noop", type=int, default=200, help="tasks for the overhead figure")
    parser.add_argument("--cancers", type=int, default=7, help="demo cohorts (3 folds each)")
    parser.add_argument("--patients", type=int, default=90, help="demo patients per cohort")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        size = ["--cancers", str(args.cancers), "--patients", str(args.patients)]
        steph("--workspace", str(base), "demo", "--data-only", *size)
        for name in ("local", "local1", "ray"):
            shutil.copytree(base, Path(tmp) / name, symlinks=True)
        train = ["train", "--cancer", "all", "--folds", "all", "--epochs", str(args.epochs)]
        t_local = steph("--workspace", str(Path(tmp) / "local"), *train)
        t_local1 = steph("--workspace", str(Path(tmp) / "local1"), *train, threads=1)
        t_ray = steph("--workspace", str(Path(tmp) / "ray"), *train, "--executor", "ray")
        same = all(
            a.read_bytes() == (Path(tmp) / "ray" / a.relative_to(Path(tmp) / "local1")).read_bytes()
            for a in (Path(tmp) / "local1" / "experts").rglob("*.safetensors")
        )
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
    cores = os.cpu_count()
    experts = 3 * args.cancers
    print(
        f"train --cancer all --folds all ({experts} experts, {args.epochs} epochs) on {cores} cores"
    )
    print(f"  local executor, {cores} threads {t_local:7.1f} s")
    print(f"  local executor, 1 thread  {t_local1:7.1f} s")
    print(
        f"  ray executor, 1 CPU/task  {t_ray:7.1f} s   speed-up vs local: "
        f"{t_local / t_ray:.2f} ({cores} threads), {t_local1 / t_ray:.2f} (1 thread)"
    )
    print(f"  experts byte-identical, ray vs local with 1 thread: {same}")
    print(
        f"Ray start-up {t_init:.2f} s; per-task overhead "
        f"{(t_noop_ray - t_noop_local) / args.noop * 1e3:.1f} ms "
        f"({args.noop} no-op tasks: ray {t_noop_ray:.2f} s, local {t_noop_local:.4f} s)"
    )


if __name__ == "__main__":
    main()
