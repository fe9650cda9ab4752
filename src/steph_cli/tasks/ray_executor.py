"""The Ray executor: one Ray task per graph task, dependencies as Ray object references.

A task is submitted with its dependencies' object references as arguments, so Ray starts it
only when they are done — no sleeps or polling for ordering. A task that raises is retried
once by Ray (``max_retries=1, retry_exceptions=True``); a task whose dependency failed fails
without running. The driver waits on the references; its short ``ray.wait`` timeout only
refreshes the display of which tasks are running.
"""

import os
import time
from typing import Any

from steph_cli.errors import StephError
from steph_cli.tasks.graph import (
    DONE,
    FAILED,
    RETRIES,
    RUNNING,
    Events,
    Outcome,
    Report,
    Task,
    blocked_by,
    check,
    describe,
)

REFRESH_S = 0.5


def connect(address: str | None) -> Any:
    """Join the cluster at ``address`` (or $RAY_ADDRESS), else start a local Ray."""
    try:
        import ray
    except ImportError as exc:
        raise StephError("--executor ray needs Ray: pip install 'steph-cli[ray]'") from exc
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = os.cpu_count()
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise StephError(f"cannot start or join Ray at {address or 'local'}: {exc}") from exc
    return ray


def _run(fn: Any, args: tuple[Any, ...], key: str, board: Any, *deps: Any) -> tuple[Any, float]:
    """What runs on the worker: report the start, run the task, time it on the worker.

    ``deps`` are the dependencies' results, only waited on: Ray calls this once they exist.
    """
    board.put(key)
    started = time.perf_counter()
    return fn(*args), time.perf_counter() - started


def run_ray(
    tasks: list[Task],
    events: Events = Events(),
    address: str | None = None,
    gpu: bool = False,
    cpus_per_task: int = 1,
) -> Report:
    """Submit every task at once (dependents hold their dependencies' references), then
    collect them as they finish. Ray gives each task ``cpus_per_task`` CPUs and sets its
    thread count (``OMP_NUM_THREADS``) to that many."""
    ray = connect(address)
    available = ray.cluster_resources()
    for resource, need in (("CPU", cpus_per_task), ("GPU", 1 if gpu else 0)):
        if need > available.get(resource, 0):  # Ray would queue such tasks for ever
            raise StephError(
                f"each task asks for {need} {resource}(s) but the Ray cluster has "
                f"{available.get(resource, 0):g} in all; lower --cpus-per-task or use "
                "--device cpu"
            )
    from ray.util.queue import Queue

    board = Queue()
    remote = ray.remote(_run).options(
        num_cpus=cpus_per_task,
        num_gpus=1 if gpu else 0,
        max_retries=RETRIES,
        retry_exceptions=True,
    )
    report = Report({t.key: Outcome(t.key) for t in check(tasks)})
    deps_of = {t.key: t.deps for t in tasks}
    refs: dict[str, Any] = {}
    for task in tasks:
        deps = [refs[d] for d in task.deps]
        refs[task.key] = remote.remote(task.fn, task.args, task.key, board, *deps)
        events.on_status(report.outcomes[task.key])
    pending = {ref: key for key, ref in refs.items()}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=REFRESH_S)
        for key in board.get_nowait_batch(board.qsize()) if board.qsize() else []:
            outcome = report.outcomes[key]
            outcome.attempts += 1
            outcome.status = RUNNING
            events.on_status(outcome)
        for ref in ready:
            key = pending.pop(ref)
            outcome = report.outcomes[key]
            try:
                outcome.result, outcome.seconds = ray.get(ref)
                outcome.status = DONE
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                upstream = deps_of[key]
                if upstream and outcome.attempts == 0:  # never started: a dependency failed
                    blocked_by(
                        outcome,
                        next(
                            (d for d in upstream if report.outcomes[d].status != DONE), upstream[0]
                        ),
                    )
                else:
                    outcome.status = FAILED
                    outcome.error = describe(cause)
            events.on_status(outcome)
    board.shutdown()
    return report
