"""What every command shares: common options, output channels, progress and error mapping.

The common options (``--workspace``, ``--device``, ``--seed``, ``--quiet``, ``--json``) are
accepted both before the command (on the root callback) and after it (added to each command
by :func:`command`); a value given after the command wins.
"""

import contextlib
import functools
import inspect
import json
import os
import re
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from steph_cli.errors import StephError
from steph_cli.progress import Progress as LibProgress
from steph_cli.workspace import Workspace

PANEL = "Common options"
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class State:
    workspace: Path | None = None
    device: str = "auto"
    seed: int | None = None
    quiet: bool = False
    json: bool = False

    @property
    def ws(self) -> Workspace:
        return Workspace.at(self.workspace)


def check_device(value: str | None) -> str | None:
    if value is not None and not DEVICE_PATTERN.match(value):
        raise typer.BadParameter("use auto, cpu, cuda, cuda:N or mps")
    return value


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        help="Workspace folder \\[default: $STEPH_WORKSPACE, else the user data dir].",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="auto (first CUDA GPU, else MPS, else CPU), cpu, cuda, cuda:N or mps.",
        callback=check_device,
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Random seed \\[default: the workspace's].", rich_help_panel=PANEL),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or notes.", rich_help_panel=PANEL)
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Machine-readable JSON on stdout only.", rich_help_panel=PANEL),
]
_COMMON = {
    "workspace": (WorkspaceOpt, None),
    "device": (DeviceOpt, None),
    "seed": (SeedOpt, None),
    "quiet": (QuietOpt, False),
    "json_output": (JsonOpt, False),
}


def _merge(base: State, given: dict[str, Any]) -> State:
    return replace(
        base,
        workspace=given["workspace"] if given["workspace"] is not None else base.workspace,
        device=given["device"] or base.device,
        seed=given["seed"] if given["seed"] is not None else base.seed,
        quiet=base.quiet or given["quiet"],
        json=base.json or given["json_output"],
    )


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``fn`` the common options and one-line error handling.

    ``fn`` receives the merged :class:`State` as its ``state`` argument. A :class:`StephError`
    becomes a one-line message on stderr and its exit code (2 for bad input, 1 for a failed
    run); ``STEPH_DEBUG=1`` re-raises it with the full traceback.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(fn).parameters.values()
        if p.name != "state"
    ]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
        for name, (a, d) in _COMMON.items()
    ]
    ctx_param = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )

    @functools.wraps(fn)
    def wrapper(ctx: typer.Context, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _COMMON}
        state = _merge(ctx.obj if isinstance(ctx.obj, State) else State(), given)
        with handle_errors(state):
            return fn(state=state, **kwargs)

    params = [ctx_param, *own, *extra]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer must see the new signature, not fn's
    return wrapper


class handle_errors:  # noqa: N801 - used as a context manager
    """Map library errors to exit codes and one-line messages, in one place."""

    def __init__(self, state: State) -> None:
        self.state = state

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        """Never swallows an exception: lets it through, or replaces it with an exit."""
        if exc is None or isinstance(exc, typer.Exit | typer.Abort | SystemExit):
            return
        if isinstance(exc, KeyboardInterrupt):
            err.print("[red]interrupted[/]; finished files are kept, nothing half-written")
            raise typer.Exit(130) from None
        if os.environ.get("STEPH_DEBUG") == "1" or isinstance(exc, typer.BadParameter):
            return
        if isinstance(exc, StephError):
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        err.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {exc} "
            "(a bug in steph; set STEPH_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


# stdout carries results (tables or JSON); everything else goes to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def note(state: State, message: str) -> None:
    if not state.quiet:
        err.print(message, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def fmt(value: float | None, digits: int = 3) -> str | None:
    """A number for a table cell; None stays None (shown as a dash)."""
    return None if value is None else f"{value:.{digits}f}"


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*("–" if v is None else str(v) for v in row))
    return t


@contextlib.contextmanager
def training_progress(state: State, epochs: int) -> Iterator[LibProgress]:
    """A progress bar that follows the library's per-model training callbacks."""
    with progress(state) as bar:
        task = bar.add_task("", total=None, info="")

        def on_start(description: str, total: int) -> None:
            bar.reset(task, total=total, description=description, info="")

        def on_epoch(record: dict[str, float]) -> None:
            info = f"epoch {record['epoch']:.0f}/{epochs} loss {record['loss']:.4f}"
            bar.update(task, info=info)

        yield LibProgress(on_start, lambda: bar.advance(task), on_epoch)


def progress(state: State) -> Progress:
    """A rich progress display on stderr, hidden with --quiet, --json or a non-TTY stderr."""
    return Progress(
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
