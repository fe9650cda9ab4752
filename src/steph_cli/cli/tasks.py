"""``--executor local|ray``: the option, the task progress display and the failure report."""

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli.common import State, err, progress, table
from steph_cli.errors import RunFailedError
from steph_cli.tasks.graph import EXECUTORS

if TYPE_CHECKING:
    import torch

    from steph_cli.tasks.graph import Events, Outcome, Report, Task
    from steph_cli.training.config import ArchOptions

PANEL = "Execution"


def _check_executor(value: str) -> str:
    if value not in EXECUTORS:
        raise typer.BadParameter("use local or ray")
    return value


ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local: one task after another in this process; ray: one Ray task per unit of "
        "work, on a local Ray or the cluster at --ray-address.",
        callback=_check_executor,
        autocompletion=lambda incomplete: [e for e in EXECUTORS if e.startswith(incomplete)],
        rich_help_panel=PANEL,
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="Ray cluster to join, e.g. ray://head:10001 or auto \\[default: start a local Ray].",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]


CpusPerTaskOpt = Annotated[
    int,
    typer.Option(
        "--cpus-per-task",
        min=1,
        help="Ray: CPUs (and torch threads) per task. Results are byte-identical to a local "
        "run with as many threads (OMP_NUM_THREADS).",
        rich_help_panel=PANEL,
    ),
]


@dataclass(frozen=True)
class Execution:
    """Where the tasks run: the three execution options of train, merge and extract."""

    executor: str = "local"
    address: str | None = None
    cpus_per_task: int = 1

    @property
    def ray(self) -> bool:
        return self.executor == "ray"

    def device(self, spec: str) -> "torch.device":
        """The device the tasks use. On Ray, ``cuda`` is the workers' business (the driver may
        have no GPU): each task is given one and sees it as cuda:0."""
        import torch

        from steph_cli import device as devices

        if self.ray and spec.startswith("cuda"):
            return torch.device("cuda", 0)
        return devices.resolve(spec)


@contextlib.contextmanager
def task_progress(state: State, total: int) -> Iterator["Events"]:
    """One bar over the tasks, with how many are queued, running, done and failed."""
    from steph_cli.tasks.graph import DONE, FAILED, RUNNING, Events

    status: dict[str, str] = {}
    with progress(state) as bar:
        task = bar.add_task("tasks", total=total, info="")

        def on_status(outcome: "Outcome") -> None:
            status[outcome.key] = outcome.status
            counts = Counter(status.values())
            info = " · ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            running = [key for key, s in status.items() if s == RUNNING]
            if running:
                info += f" · {running[-1]}" + (f" +{len(running) - 1}" if len(running) > 1 else "")
            bar.update(task, completed=counts[DONE] + counts[FAILED], info=info)

        yield Events(on_status)


def run_ray(
    state: State,
    tasks: list["Task"],
    execution: Execution,
    device: "torch.device",
    also: "Events | None" = None,
) -> "Report":
    """Run ``tasks`` on Ray with the task bar (and ``also``), then print one row per task."""
    from steph_cli.tasks.graph import Events
    from steph_cli.tasks.ray_executor import run_ray as run

    with task_progress(state, len(tasks)) as shown:

        def on_status(outcome: "Outcome") -> None:
            shown.on_status(outcome)
            if also is not None:
                also.on_status(outcome)

        report = run(
            tasks,
            Events(on_status),
            execution.address,
            gpu=device.type == "cuda",
            cpus_per_task=execution.cpus_per_task,
        )
    if not state.json and not state.quiet:
        rows = [
            [o.key, o.status, o.attempts, f"{o.seconds:.1f}", o.error or None]
            for o in report.outcomes.values()
        ]
        err.print(table("Ray tasks", ["task", "status", "attempts", "s", "error"], rows))
    return report


def run(
    state: State,
    tasks: list["Task"],
    execution: Execution,
    device: "torch.device",
    epochs: int,
    cohorts: list[str],
    arch: "ArchOptions | None",
) -> "Report":
    """Training-type tasks: locally in order under the epoch bar; on Ray, after preparing
    what parallel tasks would race to create (see ``tasks.jobs.prepare``), under the task bar."""
    from steph_cli.cli.common import training_progress
    from steph_cli.tasks.graph import Events, run_local
    from steph_cli.tasks.jobs import prepare

    if execution.ray:
        prepare(state.ws, cohorts, arch)
        return run_ray(state, tasks, execution, device)
    with training_progress(state, epochs) as hooks:
        return run_local(tasks, Events(), progress=hooks)


def raise_if_failed(report: "Report") -> None:
    failures = [(o.key, o.error) for o in report.failed()]
    fail(failures, len(report.outcomes), "task(s)", "Rerun to retry: finished work is skipped")


def fail(failures: list[tuple[str, str]], total: int, noun: str, hint: str) -> None:
    """Name each failure on stderr, then exit 1: the other results are already written."""
    if failures:
        for what, why in failures:
            err.print(f"[red]failed:[/] {what}: {why}", soft_wrap=True)
        raise RunFailedError(
            f"{len(failures)} of {total} {noun} failed; the others' results are written. {hint}"
        )
