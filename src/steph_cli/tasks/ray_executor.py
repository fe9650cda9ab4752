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

from steph_cli import signals, threads
from steph_cli.errors import BadInputError, Fix
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
    fail,
)

REFRESH_S = 0.5
# The resource Ray gives the head node alone.
HEAD = "node:__internal_head__"


def connect(address: str | None) -> Any:
    """Join the cluster at ``address`` (or $RAY_ADDRESS), else start a local Ray."""
    # Ray's core would take SIGTERM for a stack dump and an abort (read when Ray is imported):
    # the command's own handler (steph_cli.signals) keeps it, to cancel the tasks and unwind
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError as exc:
        raise BadInputError("the Ray executor needs Ray: pip install 'steph-cli[ray]'") from exc
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = os.cpu_count()
        try:
            with signals.kept():
                ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BadInputError(f"cannot start or join Ray at {address or 'local'}: {exc}") from exc
    return ray


# A start note: the task's key and Ray's attempt number (0 first; None where Ray hides it).
Note = tuple[str, int | None]


class _Board:
    """Where tasks note that they started; the driver drains it to show what is running."""

    def __init__(self) -> None:
        self.started: list[Note] = []

    def start(self, key: str, attempt: int | None) -> None:
        self.started.append((key, attempt))

    def drain(self) -> list[Note]:
        started, self.started = self.started, []
        return started


def _drain(ray: Any, board: Any) -> list[Note]:
    """The tasks that noted a start since the last drain; none while the board is restarting."""
    try:
        return list(ray.get(board.drain.remote(), timeout=30))
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return []


def _attempt_number() -> int | None:
    """Ray's attempt number of the running task. It counts a retry whose first attempt died
    with its node before that attempt's note left it; Ray has it only on its core worker
    (not in the public runtime context), so a Ray without it falls back to counting notes."""
    import ray

    try:
        core = ray._private.worker.global_worker.core_worker  # type: ignore[attr-defined]
        return int(core.get_current_task_attempt_number())
    except Exception:  # a Ray that moved or changed it: never fail the task over a count
        return None


def _count(outcome: Outcome, attempt: int | None) -> None:
    outcome.attempts = (
        outcome.attempts + 1 if attempt is None else max(outcome.attempts, attempt + 1)
    )


def _run(
    fn: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    key: str,
    board: Any,
    cpus: int,
    *deps: Any,
) -> tuple[Any, float]:
    """What runs on the worker: note the start, run the task on as many torch threads as it
    has CPUs (Ray's OMP_NUM_THREADS yields to one inherited from the driver), time it.

    ``deps`` are the dependencies' results, only waited on: Ray calls this once they exist.
    The note is sent without waiting for it: a task blocked in ``ray.get`` lends its CPU to
    another task, which would run more tasks at once than there are CPUs.
    """
    board.start.remote(key, _attempt_number())
    started = time.perf_counter()
    with threads.torch_threads(cpus):
        result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


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
            have = available.get(resource, 0)
            fix = (
                Fix.set("device", value="cpu")
                if resource == "GPU"
                else Fix.set("cpus_per_task", "use {} or fewer", int(have))
            )
            raise BadInputError(
                f"each task asks for {need} {resource}(s) but the Ray cluster has {have:g} in all",
                fix,
            )
    # the board lives on the head node (the last a cluster loses: without it there is no
    # cluster) and comes back if it is lost anyway; its notes only count attempts
    board = (
        ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(_Board)
        .options(resources={HEAD: 0.001})
        .remote()
    )
    remote = ray.remote(_run).options(
        num_cpus=cpus_per_task,
        num_gpus=1 if gpu else 0,
        max_retries=RETRIES,
        retry_exceptions=True,
    )
    report = Report({t.key: Outcome(t.key) for t in check(tasks)})
    order = {t.key: i for i, t in enumerate(tasks)}
    deps_of = {t.key: t.deps for t in tasks}
    refs: dict[str, Any] = {}
    for task in tasks:
        deps = [refs[d] for d in task.deps]
        refs[task.key] = remote.remote(
            task.fn, task.args, task.kwargs, task.key, board, cpus_per_task, *deps
        )
        events.on_status(report.outcomes[task.key])
    pending = {ref: key for key, ref in refs.items()}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=REFRESH_S)
        started = _drain(ray, board)
        for key, attempt in started:
            _count(report.outcomes[key], attempt)
        # In submission order, so a failed dependency is known before its dependents.
        for key in sorted((pending.pop(ref) for ref in ready), key=order.__getitem__):
            outcome = report.outcomes[key]
            try:
                outcome.result, outcome.seconds = ray.get(refs[key])
                outcome.status = DONE
            except ray.exceptions.RayError as exc:
                failed_dep = next(
                    (d for d in deps_of[key] if report.outcomes[d].status == FAILED), None
                )
                if failed_dep is not None:  # Ray did not run it: it got the dependency's error
                    blocked_by(outcome, failed_dep)
                else:
                    outcome.status = FAILED
                    fail(outcome, getattr(exc, "cause", None) or exc)
            events.on_status(outcome)
        for key, _ in started:  # shown after the finished ones: a done task never shows running
            outcome = report.outcomes[key]
            if outcome.status not in (DONE, FAILED):
                outcome.status = RUNNING
                events.on_status(outcome)
    for key, attempt in _drain(ray, board):  # notes still in flight at the end
        _count(report.outcomes[key], attempt)
    ray.kill(board)
    return report
