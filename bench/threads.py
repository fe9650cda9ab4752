"""Seconds per bag of an expert training step against torch threads, alone and beside a
second process doing the same: the numbers behind the default thread policy.

For each bag size N and thread count (1, 2, ..., the CPUs this process may use), a fresh
process times forward + backward (and a sixteenth of an update) of the paper's expert
(E 512, A 384) on N × D features; "busy" runs two such processes at once and reports the
slower. Rounds are interleaved and the best of each is kept, so machine noise hits every
cell alike. Ratios are against one thread alone at the same N.
"After a busy minute" keeps every CPU busy for --busy-seconds (default 60), stops, and at
once decides the threads the way the policy used to (the CPUs minus the rounded 1-minute
load average, which still counts the finished minute) and the way it does now (a sample of
/proc/stat), then times one process at each choice.
Usage: python bench/threads.py [--sizes 100 500 2000 10000] [--rounds 2] [--seconds 1.5]
                               [--busy-seconds 60]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

D, E, A, T = 1536, 512, 384, 32


def worker(n: int, seconds: float) -> None:
    """Print the median seconds per bag over about ``seconds`` of steps: forward and
    backward of one bag, plus a sixteenth of an AdamW update (one per 16 bags, as training
    accumulates)."""
    import torch

    from steph_cli.models.abmil import ABMIL, Architecture
    from steph_cli.training.loop import param_groups
    from steph_cli.training.optimiser import AdamW

    torch.manual_seed(0)
    model = ABMIL(Architecture(D, E, A, T)).train()
    optimiser = AdamW(param_groups(list(model.named_parameters()), 1e-4))
    bag = torch.randn(n, D)

    def timed(fn: Callable[[], None]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def bag_pass() -> None:
        model(bag).logsumexp(0).backward()

    def update() -> None:
        optimiser.step(1e-4)

    bag_pass()  # warm-up
    update()
    passes, updates = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(passes) < 3:
        passes.append(timed(bag_pass))
        updates.append(timed(update))
    print(statistics.median(passes) + statistics.median(updates) / 16)


def launch(n: int, threads: int, seconds: float, copies: int) -> float:
    """Seconds per step of the slowest of ``copies`` simultaneous processes."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--worker", str(n), "--seconds", str(seconds)]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(copies)
    ]
    return max(float(p.communicate()[0]) for p in procs)


def after_busy(cpus: int, busy_seconds: float, n: int, seconds: float) -> None:
    """Threads chosen right after every CPU was busy, old policy and new, and their times."""
    from steph_cli import threads

    spin = f"import time\nend = time.time() + {busy_seconds}\nwhile time.time() < end: pass"
    for proc in [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(cpus)]:
        proc.wait()
    load = os.getloadavg()[0]
    old = max(1, cpus - round(load))
    busy = threads.busy_cpus()
    new = max(1, cpus - round(busy))
    timed = {t: launch(n, t, seconds, 1) for t in sorted({old, new})}
    print(f"right after {busy_seconds:g} s with all {cpus} CPU(s) busy (N={n}):")
    print(f"  old policy: load average {load:.2f} -> {old} thread(s), {timed[old]:.4f} s per bag")
    print(f"  new policy: busy now {busy:.2f} -> {new} thread(s), {timed[new]:.4f} s per bag")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000, 10000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--busy-seconds", type=float, default=60.0)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.seconds)
        return
    from steph_cli.threads import available_cpus

    cpus = available_cpus()
    counts = sorted({1, min(2, cpus), cpus})
    cells = [(n, t, c) for n in args.sizes for t in counts for c in (1, 2)]
    best = dict.fromkeys(cells, float("inf"))
    for _ in range(args.rounds):
        for cell in cells:
            best[cell] = min(best[cell], launch(*cell[:2], args.seconds, cell[2]))
    print(f"seconds per bag (expert step, D={D} E={E} A={A}) on {cpus} usable CPU(s)")
    head = "".join(f"{f'{t} thr alone':>14}{f'{t} thr busy':>14}" for t in counts)
    print(f"{'N':>6}{head}")
    for n in args.sizes:
        base = best[(n, 1, 1)]
        row = "".join(
            f"{best[(n, t, c)]:>8.4f} {best[(n, t, c)] / base:>4.2f}×"
            for t in counts
            for c in (1, 2)
        )
        print(f"{n:>6}{row}")
    after_busy(cpus, args.busy_seconds, max(args.sizes), args.seconds)


if __name__ == "__main__":
    main()
