"""The CLI's :class:`~steph_cli.hooks.Hooks`: rich progress bars, notes and warnings on stderr.

Bars are hidden with ``--quiet``, ``--json`` or when stderr is not a terminal (CI logs);
notes are hidden with ``--quiet``; warnings always show.
"""

from types import TracebackType

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from steph_cli.cli.common import State, note, warn
from steph_cli.cli.console import err
from steph_cli.hooks import Hooks


class RichHooks(Hooks):
    def __init__(self, state: State) -> None:
        self.state = state
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=state.quiet or state.json or not err.is_terminal,
            transient=False,
        )
        self.bars: dict[str, TaskID] = {}

    def __enter__(self) -> "RichHooks":
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def note(self, message: str) -> None:
        note(self.state, message)

    def warn(self, message: str) -> None:
        warn(message)

    def bar(self, name: str, total: int | None, description: str = "") -> None:
        label = escape(description or name)
        if name in self.bars:
            self.progress.reset(self.bars[name], total=total, description=label, info="")
        else:
            self.bars[name] = self.progress.add_task(label, total=total, info="")

    def advance(self, name: str, steps: int = 1) -> None:
        if name in self.bars:
            self.progress.advance(self.bars[name], steps)

    def status(self, name: str, text: str) -> None:
        if name in self.bars:
            self.progress.update(self.bars[name], info=escape(text))
