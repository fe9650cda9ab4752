"""How long library work reports to its caller: notes, warnings and named progress bars.

One small protocol for every step. The base class does nothing, so a script passes nothing;
the CLI plugs rich progress bars into it; a notebook can use :class:`TqdmHooks`. Bars are
named by what they count (``"train"``: bags of the model being trained, ``"slides"``,
``"tiles"``, ``"tasks"``, ``"evaluate"``); ``bar`` (re)starts one.
"""

from typing import Any


class Hooks:
    """Receives what long work has to say; every method is optional and does nothing here."""

    def note(self, message: str) -> None:
        """Something worth knowing that needs no action (a skipped step, a written file)."""

    def warn(self, message: str) -> None:
        """Something that may need action (e.g. merging weights that collapsed)."""

    def bar(self, name: str, total: int | None, description: str = "") -> None:
        """Start (or restart) bar ``name`` at 0 of ``total`` (None: unknown)."""

    def advance(self, name: str, steps: int = 1) -> None:
        """Move bar ``name`` on by ``steps``."""

    def status(self, name: str, text: str) -> None:
        """Set the short status text of bar ``name`` (e.g. ``epoch 3/20 loss 0.512``)."""


NO_HOOKS = Hooks()


class TqdmHooks(Hooks):
    """tqdm bars (notebook-aware through ``tqdm.auto``), notes and warnings printed above them.

    Bars are drawn in a terminal and in a notebook only: redirected to a log file, tqdm's
    carriage returns would fill it with every redraw, so there the notes alone are written.
    """

    def __init__(self) -> None:
        import sys

        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bars: dict[str, Any] = {}
        notebook = tqdm.__module__.startswith("tqdm.notebook")
        self._quiet_bars = not (notebook or sys.stderr.isatty())

    def note(self, message: str) -> None:
        self._tqdm.write(message)

    def warn(self, message: str) -> None:
        self._tqdm.write(f"warning: {message}")

    def bar(self, name: str, total: int | None, description: str = "") -> None:
        old = self._bars.pop(name, None)
        if old is not None:
            old.close()
        self._bars[name] = self._tqdm(
            total=total, desc=description or name, leave=False, disable=self._quiet_bars
        )

    def advance(self, name: str, steps: int = 1) -> None:
        if name in self._bars:
            self._bars[name].update(steps)

    def status(self, name: str, text: str) -> None:
        if name in self._bars:
            self._bars[name].set_postfix_str(text, refresh=False)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
