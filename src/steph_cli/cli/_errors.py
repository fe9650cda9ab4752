"""Library errors → one line on stderr and an exit code, in one place.

Library messages name files and values; here each :class:`~steph_cli.errors.Fix` becomes a
flag or a command line (``--force``, ``steph train --cancer LUSC --fold 0``). Exit codes: 2
for bad input (every :class:`StephError` but a failed run, and a path that cannot be
written), 1 for a failed run (or another file-system error) or a bug, 130 for Ctrl-C.
``STEPH_DEBUG=1`` shows the traceback instead.
"""

import os
from types import TracebackType

import typer
from rich.markup import escape

from steph_cli.cli.console import err
from steph_cli.errors import Fix, StephError

# Arguments that the CLI takes positionally (``steph cohort split NAME``).
POSITIONAL = ("name",)


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _words(args: dict[str, object]) -> str:
    parts: list[str] = []
    for key, value in args.items():
        if key in POSITIONAL:
            parts.insert(0, str(value))
        elif value is True:
            parts.append(flag(key))
        else:
            parts.append(f"{flag(key)} {value}")
    return " ".join(parts)


def render(fix: Fix) -> str:
    if fix.option is not None:
        value = "" if fix.value is True else f" {fix.value}"
        return fix.text.format(f"{flag(fix.option)}{value}")
    return fix.text.format(f"`steph {fix.step} {_words(dict(fix.args))}`")


def message(exc: StephError) -> str:
    return exc.message if exc.fix is None else f"{exc.message}; {render(exc.fix)}"


def error_line(text: str) -> None:
    err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


class handle_errors:  # noqa: N801 - used as a context manager
    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Never swallows an exception: lets it through, or replaces it with an exit."""
        if exc is None or isinstance(exc, typer.Exit | typer.Abort | SystemExit):
            return
        if isinstance(exc, KeyboardInterrupt):
            err.print("[red]interrupted[/]; finished files are kept, nothing half-written")
            raise typer.Exit(130) from None
        if os.environ.get("STEPH_DEBUG") == "1" or isinstance(exc, typer.BadParameter):
            return
        if isinstance(exc, StephError):
            error_line(message(exc))
            raise typer.Exit(exc.exit_code) from None
        if isinstance(exc, PermissionError):
            error_line(
                f"cannot write {exc.filename}: permission denied; make it writable or use "
                "another --workspace"
            )
            raise typer.Exit(2) from None
        if isinstance(exc, OSError) and exc.filename:
            error_line(f"{exc.filename}: {exc.strerror}; the run stopped there")
            raise typer.Exit(1) from None
        error_line(
            f"unexpected {type(exc).__name__}: {exc} (a bug in steph; set STEPH_DEBUG=1 for "
            "the traceback)"
        )
        raise typer.Exit(1) from None
