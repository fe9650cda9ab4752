"""Tasks, their outcomes, and the local executor (in order, in this process)."""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from steph_cli.errors import Fix, RunFailedError, StephError

QUEUED, RUNNING, RETRYING, DONE, FAILED = "queued", "running", "retrying", "done", "failed"
EXECUTORS = ("local", "ray")
RETRIES = 1  # a failed task is run once more before it is reported


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args)``, a module-level function (so Ray can ship it by name).

    ``deps`` are keys of tasks that must finish first; ``fn`` receives nothing from them —
    it reads what they wrote from the workspace.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    deps: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    key: str
    status: str = QUEUED
    result: Any = None
    error: str = ""
    fix: Fix | None = None  # what would fix the error, if known
    attempts: int = 0
    seconds: float = 0.0


@dataclass
class Events:
    """How a front end follows the tasks: every change of a task's status."""

    on_status: Callable[[Outcome], None] = lambda outcome: None


T = TypeVar("T")


@dataclass
class Report:
    """Every task's outcome, in submission order."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def results(self, kind: type[T] = object) -> list[T]:  # type: ignore[assignment]
        """Results of the finished tasks (only those of type ``kind``, if given)."""
        return [
            o.result
            for o in self.outcomes.values()
            if o.status == DONE and isinstance(o.result, kind)
        ]

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.status == FAILED]

    def raise_failures(self, noun: str = "task(s)") -> None:
        """One error for the failed tasks (each named in ``failed()``); the others' results
        are written, and a rerun skips them."""
        failed = self.failed()
        if failed:
            first = failed[0]
            raise RunFailedError(
                f"{len(failed)} of {len(self.outcomes)} {noun} failed (first: {first.key}: "
                f"{first.error}); the others' results are written and a rerun skips them",
                first.fix,
            )


def check(tasks: Iterable[Task]) -> list[Task]:
    """Every dependency names an earlier task (so the list is already in a runnable order)."""
    seen: set[str] = set()
    ordered = list(tasks)
    for task in ordered:
        if task.key in seen:
            raise ValueError(f"two tasks are called {task.key!r}")
        missing = [d for d in task.deps if d not in seen]
        if missing:
            raise ValueError(f"task {task.key!r} depends on {missing}, not an earlier task")
        seen.add(task.key)
    return ordered


def fail(outcome: Outcome, exc: BaseException) -> None:
    """Record why ``outcome``'s task failed: a library error's message and fix, or the type
    and text of any other exception."""
    if isinstance(exc, StephError):
        outcome.error, outcome.fix = exc.message, exc.fix
    else:
        outcome.error = f"{type(exc).__name__}: {exc}"


def blocked_by(outcome: Outcome, failed: str) -> None:
    outcome.status = FAILED
    outcome.error = f"not run: {failed} failed"


def run_local(tasks: list[Task], events: Events = Events(), **local: Any) -> Report:
    """Run in list order in this process; ``local`` keyword arguments go to every ``fn``
    (progress hooks, which cannot travel to another process)."""
    report = Report({t.key: Outcome(t.key) for t in check(tasks)})
    for outcome in report.outcomes.values():
        events.on_status(outcome)
    for task in tasks:
        outcome = report.outcomes[task.key]
        failed = next((d for d in task.deps if report.outcomes[d].status == FAILED), None)
        if failed is not None:
            blocked_by(outcome, failed)
            events.on_status(outcome)
            continue
        started = time.perf_counter()
        while outcome.status not in (DONE, FAILED):
            outcome.attempts += 1
            outcome.status = RUNNING if outcome.attempts == 1 else RETRYING
            events.on_status(outcome)
            try:
                outcome.result = task.fn(*task.args, **task.kwargs, **local)
                outcome.status = DONE
            except Exception as exc:  # reported with the others' results kept
                if isinstance(exc, StephError) and exc.exit_code == 2:
                    raise  # bad input: no retry heals it; stop as any command does
                fail(outcome, exc)
                if outcome.attempts > RETRIES:
                    outcome.status = FAILED
        outcome.seconds = time.perf_counter() - started
        events.on_status(outcome)
    return report
