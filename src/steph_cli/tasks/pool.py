"""The local process pool: a task graph on every core of this machine (``--jobs N``).

N worker processes, each with ``threads`` torch threads, run the tasks whose dependencies
are done, at most N at a time so that "running" means running. Workers are spawned, not
forked (a forked torch with live thread pools can deadlock), and set their thread count
before the first task, so a task writes the same bytes as it would in this process with as
many threads. As on Ray, a task reads its inputs from the workspace and writes its outputs
there; only its arguments and its small result cross the process boundary.

The workers outlive one call: a command that runs several task graphs (the demo: experts,
then each merge method; a study: every cell) starts them once, as each start costs a
Python interpreter and a torch import. They are shut down when this process exits, and
at once when a run stops on an error.
"""

import atexit
import contextlib
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from steph_cli.errors import RunFailedError, StephError
from steph_cli.signals import stop_on_signals
from steph_cli.tasks.graph import (
    DONE,
    FAILED,
    RETRIES,
    RETRYING,
    RUNNING,
    Events,
    Outcome,
    Report,
    Task,
    blocked_by,
    check,
    fail,
)


class WorkerError(Exception):
    """An exception a worker raised, as text: arbitrary exception types need not unpickle."""


def _start_worker(threads: int) -> None:
    stop_on_signals()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except StephError:
        raise  # pickles with its message and fix
    except Exception as exc:
        raise WorkerError(f"{type(exc).__name__}: {exc}") from None
    return result, time.perf_counter() - started


_WORKERS: dict[tuple[int, int], ProcessPoolExecutor] = {}


def _workers(jobs: int, threads: int) -> ProcessPoolExecutor:
    """The live pool of ``jobs`` workers with ``threads`` threads, started on first use."""
    key = (jobs, threads)
    if key not in _WORKERS:
        context = multiprocessing.get_context("spawn")
        _WORKERS[key] = ProcessPoolExecutor(jobs, context, _start_worker, (threads,))
    return _WORKERS[key]


def _close(jobs: int, threads: int, stop: bool = False) -> None:
    """Shut the pool down; with ``stop`` also end the tasks its workers are running (each
    unwinds as on SIGTERM, so its temporary files and locks go with it)."""
    pool = _WORKERS.pop((jobs, threads), None)
    if pool is None:
        return
    if stop:
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(OSError):
                process.terminate()
    pool.shutdown(cancel_futures=True)


@atexit.register
def _close_all() -> None:
    for jobs, threads in list(_WORKERS):
        _close(jobs, threads)


def run_pool(tasks: list[Task], jobs: int, threads: int, events: Events = Events()) -> Report:
    """Run ``tasks`` in ``jobs`` processes of ``threads`` threads each. A failing task is run
    once more, then reported with its dependents "not run"; bad input (exit 2) stops
    everything, as it stops a one-process run."""
    report = Report({t.key: Outcome(t.key) for t in check(tasks)})
    for outcome in report.outcomes.values():
        events.on_status(outcome)
    pool = _workers(jobs, threads)
    try:
        _drive(pool, tasks, report, events, jobs)
    except BaseException:
        _close(jobs, threads, stop=True)  # stop what still runs; a next run starts afresh
        raise
    return report


def _drive(
    pool: ProcessPoolExecutor, tasks: list[Task], report: Report, events: Events, jobs: int
) -> None:
    """Submit ready tasks, at most ``jobs`` at a time, until every task has an outcome."""
    waiting = list(tasks)
    running: dict[Future[tuple[Any, float]], Task] = {}
    while waiting or running:
        for task in list(waiting):
            states = [report.outcomes[d].status for d in task.deps]
            outcome = report.outcomes[task.key]
            if FAILED in states:
                waiting.remove(task)
                blocked_by(outcome, task.deps[states.index(FAILED)])
                events.on_status(outcome)
            elif len(running) < jobs and all(s == DONE for s in states):
                waiting.remove(task)
                outcome.attempts += 1
                outcome.status = RUNNING if outcome.attempts == 1 else RETRYING
                running[pool.submit(_call, task.fn, task.args, task.kwargs)] = task
                events.on_status(outcome)
        if not running:
            continue  # only blocked tasks were left; the loop ends
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            task = running.pop(future)
            outcome = report.outcomes[task.key]
            try:
                outcome.result, seconds = future.result()
                outcome.seconds += seconds
                outcome.status = DONE
            except StephError as exc:
                if exc.exit_code == 2:
                    raise
                fail(outcome, exc)
            except WorkerError as exc:
                outcome.error = str(exc)
            except BrokenProcessPool as exc:
                raise RunFailedError(
                    f"a worker process died while running {task.key} (out of memory?); "
                    "finished tasks are written and a rerun skips them"
                ) from exc
            if outcome.status != DONE:
                if outcome.attempts > RETRIES:
                    outcome.status = FAILED
                else:
                    waiting.insert(0, task)
            events.on_status(outcome)
