"""Where a command's tasks run: in this process in order, or as Ray tasks, and how the caller
follows them (its hooks)."""

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import torch

from steph_cli import device as devices
from steph_cli import threads
from steph_cli.errors import BadInputError, Fix
from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.tasks.graph import (
    DONE,
    EXECUTORS,
    FAILED,
    RUNNING,
    Events,
    Outcome,
    Report,
    Task,
    run_local,
)


@dataclass(frozen=True)
class Execution:
    """local: the tasks in this process one after another, or with ``jobs`` > 1 in that many
    worker processes of ``threads`` torch threads each (default: this process's CPUs shared
    out); ray: one Ray task per unit of work on a local Ray (one slot per core) or the
    cluster at ``address``, ``cpus_per_task`` CPUs (and torch threads) each."""

    executor: str = "local"
    address: str | None = None
    cpus_per_task: int = 1
    jobs: int = 1
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise BadInputError(f"executor {self.executor!r}: use {' or '.join(EXECUTORS)}")
        if self.cpus_per_task < 1:
            raise BadInputError(f"cpus per task {self.cpus_per_task}: use 1 or more")
        if self.jobs < 1:
            raise BadInputError(f"jobs {self.jobs}: use 1 or more", Fix.set("jobs", value=1))
        if self.jobs > 1 and self.ray:
            raise BadInputError(
                "jobs apply to the local executor; on Ray every task is its own process",
                Fix.set("jobs", value=1),
            )

    @property
    def pooled(self) -> bool:
        return not self.ray and self.jobs > 1

    @property
    def parallel(self) -> bool:
        """Tasks run in other processes: what they would race to create is made first."""
        return self.ray or self.pooled

    def describe(self) -> str:
        if self.pooled:
            return f"local executor, {self.jobs} jobs × {self.threads_per_job()} thread(s)"
        return f"{self.executor} executor"

    def threads_per_job(self) -> int:
        """``threads``, else the default policy (``steph_cli.threads``) shared by the jobs."""
        return self.threads or threads.default(self.jobs)

    @property
    def ray(self) -> bool:
        return self.executor == "ray"

    def device(self, spec: str) -> torch.device:
        """The device the tasks use. On Ray, ``cuda`` is the workers' business (the driver may
        have no GPU): each task is given one and sees it as cuda:0."""
        if self.ray and spec.startswith("cuda"):
            return torch.device("cuda", 0)
        return devices.resolve(spec)


def task_bar(hooks: Hooks, total: int) -> Events:
    """The ``tasks`` bar: how many tasks are queued, running, done and failed, and which run."""
    status: dict[str, str] = {}
    hooks.bar("tasks", total, "tasks")

    def on_status(outcome: Outcome) -> None:
        before = status.get(outcome.key)
        status[outcome.key] = outcome.status
        counts = Counter(status.values())
        info = " · ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        running = [key for key, s in status.items() if s == RUNNING]
        if running:
            info += f" · {running[-1]}" + (f" +{len(running) - 1}" if len(running) > 1 else "")
        hooks.status("tasks", info)
        if outcome.status in (DONE, FAILED) and before not in (DONE, FAILED):
            hooks.advance("tasks")

    return Events(on_status)


def _threads_decided(task: Task) -> Task:
    """The task with torch's threads decided when it starts, from the CPUs idle then: a long
    run follows the machine rather than what it was doing when the run began."""

    def decided(*args: Any, **kwargs: Any) -> Any:
        with threads.torch_threads(threads.default()):
            return task.fn(*args, **kwargs)

    return replace(task, fn=decided)


def run(
    tasks: list[Task],
    execution: Execution,
    device: torch.device,
    hooks: Hooks = NO_HOOKS,
    events: Events = Events(),
) -> Report:
    """Run ``tasks``: locally each task gets ``hooks`` (its own bars, e.g. training's); on Ray
    the ``tasks`` bar follows them. ``events`` sees every status change either way."""
    if not execution.ray:
        crowded = threads.oversubscribed(execution.threads_per_job(), execution.jobs)
        if crowded:
            hooks.warn(crowded)
    if not execution.ray and not execution.pooled:
        if execution.threads:
            with threads.torch_threads(execution.threads):
                return run_local(tasks, events, hooks=hooks)
        return run_local([_threads_decided(t) for t in tasks], events, hooks=hooks)
    bar = task_bar(hooks, len(tasks))

    def on_status(outcome: Outcome) -> None:
        bar.on_status(outcome)
        events.on_status(outcome)

    if execution.pooled:
        from steph_cli.tasks.pool import run_pool

        return run_pool(tasks, execution.jobs, execution.threads_per_job(), Events(on_status))
    from steph_cli.tasks.ray_executor import run_ray

    return run_ray(
        tasks,
        Events(on_status),
        execution.address,
        gpu=device.type == "cuda",
        cpus_per_task=execution.cpus_per_task,
    )
