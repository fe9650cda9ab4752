"""Typed failures of the library, and what would fix them.

Messages name files and values, never command-line flags: the same error reaches a notebook
and the shell. What would fix an error is a :class:`Fix` — an option to set or a step to run
first — which each front end renders in its own terms: Python prints ``force=True`` or
``train(cancer='LUSC', fold=0)``, the CLI ``--force`` or ``steph train --cancer LUSC --fold 0``
(see ``cli/_errors.py``). The CLI maps each error type to its exit code in one place.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Pipeline steps whose Python call is not simply the step's name.
_CALLS = {"cohort add": "add_cohort", "cohort split": "split_cohort", "vector": "vectors"}


@dataclass(frozen=True)
class Fix:
    """What would fix an error: set ``option`` (to ``value``) or run ``step`` with ``args``.

    ``text`` holds ``{}`` where the option or the step goes, e.g. ``"{} retrains it"``.
    """

    text: str
    option: str | None = None
    value: object = True
    step: str | None = None
    args: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def set(cls, option: str, text: str = "use {}", value: object = True) -> "Fix":
        return cls(text, option=option, value=value)

    @classmethod
    def run(cls, step: str, text: str = "run {} first", **args: object) -> "Fix":
        return cls(text, step=step, args=args)

    def python(self) -> str:
        """The fix as a Python keyword argument or call."""
        if self.option is not None:
            return self.text.format(f"{self.option}={self.value!r}")
        call = _CALLS.get(self.step or "", (self.step or "").replace(" ", "_"))
        params = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return self.text.format(f"{call}({params})")


class StephError(Exception):
    """Base of every error the library raises on purpose; never shown with a traceback."""

    exit_code = 2

    def __init__(self, message: str, fix: Fix | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if self.fix is None else f"{self.message}; {self.fix.python()}"

    def __reduce__(self) -> tuple[type["StephError"], tuple[str, Fix | None]]:
        # with its fix, from a worker process (Exception pickles only ``args``)
        return type(self), (self.message, self.fix)


class BadInputError(StephError):
    """A file, value or option that cannot be used as given: it names it and the fix."""


class MissingArtefactError(StephError):
    """A step needs something an earlier step makes (an expert, splits, a cohort)."""


class StaleArtefactError(StephError):
    """An output exists but was made from other inputs or options than those asked for now."""


class IncompatibleModelError(StephError):
    """Models that do not belong together: another initialisation, architecture or bins."""


class BusyError(StephError):
    """Another process is writing the same file."""


class RunFailedError(StephError):
    """The input was fine but the work failed, e.g. a diverging loss or a failing slide."""

    exit_code = 1


def brief(exc: BaseException) -> str:
    """A third-party error (torch, safetensors, h5py) in a few words for one line: their
    texts run to several lines, repeat the path, or advise what steph never does
    (``weights_only=False``)."""
    text = str(exc).strip()
    said = re.search(r"error message = '([^']*)'", text)  # h5py's errno dump
    if said:
        return said.group(1)
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= 120 else line[:119] + "…"
