"""Timing helper shared by the benchmarks: best of a few runs after a warm-up."""

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()  # warm-up: allocations, thread pools, lazy initialisation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
