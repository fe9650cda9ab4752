"""What every command shares: the common options, the run state, and the output channels.

The common options (``--workspace``, ``--device``, ``--seed``, ``--quiet``, ``--json``) are
accepted both before the command (on the root callback) and after it (added to each command
by :func:`command`); a value given after the command wins. stdout carries results (tables or
JSON) only; notes, warnings, progress and errors go to stderr.
"""

import contextvars
import functools
import inspect
import json
import math
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from steph_cli.cli import completion
from steph_cli.cli.console import err
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
        autocompletion=completion.devices,
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Random seed \\[default: the workspace's].", rich_help_panel=PANEL),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress or notes.", rich_help_panel=PANEL, metavar=""),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Machine-readable JSON on stdout only.", rich_help_panel=PANEL, metavar=""
    ),
]
_COMMON = {
    "workspace": (WorkspaceOpt, None),
    "device": (DeviceOpt, None),
    "seed": (SeedOpt, None),
    "quiet": (QuietOpt, False),
    "json_output": (JsonOpt, False),
}


class _Help:
    """Help in the CLI's own notation: ``-h/--help`` listed like every other flag (no
    ``<bool>``), and a repeated argument shown as ``RUN...`` rather than ``<list[str]>``."""

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperArgument) and param.nargs != 1:
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        return params


class Command(_Help, TyperCommand):
    """The class of every ``steph`` command."""


class Group(_Help, TyperGroup):
    """The class of every ``steph`` command group."""


def unwrap(doc: str) -> str:
    """A docstring's paragraphs each on one line, so that the terminal, not the source's
    line breaks, decides where help text wraps."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def examples(*lines: str) -> str:
    """An epilog of example command lines, as ``--help`` ends them."""
    return "Examples:\n\n" + "\n\n".join(lines)


def _merge(base: State, given: dict[str, Any]) -> State:
    return replace(
        base,
        workspace=given["workspace"] if given["workspace"] is not None else base.workspace,
        device=given["device"] or base.device,
        seed=given["seed"] if given["seed"] is not None else base.seed,
        quiet=base.quiet or given["quiet"],
        json=base.json or given["json_output"],
    )


def command(
    fn: Callable[..., Any] | None = None,
    *,
    extra: list[inspect.Parameter] | None = None,
    bundle: str = "",
) -> Any:
    """Give ``fn`` the common options and one-line error handling.

    ``fn`` receives the merged :class:`State` as its ``state`` argument. ``extra`` parameters
    (options generated from data, e.g. merge methods' parameters) reach ``fn`` as one dict
    argument named ``bundle``. A library error becomes one line on stderr and its exit code
    (``cli/_errors.py``).
    """
    if fn is None:
        return lambda f: command(f, extra=extra, bundle=bundle)
    from steph_cli.cli._errors import handle_errors

    hints = typing.get_type_hints(fn, include_extras=True)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(fn).parameters.values()
        if p.name not in ("state", bundle)
    ]
    common = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
        for name, (a, d) in _COMMON.items()
    ]
    generated = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in extra or []]
    ctx_param = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )

    @functools.wraps(fn)
    def wrapper(ctx: typer.Context, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _COMMON}
        if bundle:
            kwargs[bundle] = {p.name: kwargs.pop(p.name) for p in generated}
        state = _merge(ctx.obj if isinstance(ctx.obj, State) else State(), given)
        token = _CONTEXT.set(ctx)
        try:
            with handle_errors():
                return fn(state=state, **kwargs)
        finally:
            _CONTEXT.reset(token)

    params = [ctx_param, *own, *generated, *common]
    wrapper.__doc__ = unwrap(fn.__doc__ or "")
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer must see the new signature, not fn's
    return wrapper


_CONTEXT: contextvars.ContextVar[typer.Context] = contextvars.ContextVar("command context")


def typed(option: str) -> bool:
    """Whether the running command's ``option`` (its parameter name) was given on the
    command line rather than left at its default."""
    source = _CONTEXT.get().get_parameter_source(option)
    return source is not None and source.name == "COMMANDLINE"


def note(state: State, message: str) -> None:
    if not state.quiet:
        err.print(escape(message), highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def emit_json(payload: Any) -> None:
    """JSON on stdout; NaN and infinities (never valid JSON) become null."""
    text = json.dumps(_finite(payload), indent=2, default=_jsonable, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return _finite(value.item())
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def fmt(value: float | None, digits: int = 3) -> str | None:
    """A number for a table cell; None stays None (shown as a dash)."""
    return None if value is None else f"{value:.{digits}f}"
