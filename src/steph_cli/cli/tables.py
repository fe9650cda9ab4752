"""Tables that keep every identifier, number and header whole at any terminal width.

A table is laid out when it is printed, against the width it is given: as it was built
when that fits; else without its optional columns (least important first); else as one
record per row (the row's names on a line, then a ``header  value`` line per column).
Rich's own answer to a narrow terminal, folding cells character by character, splits run
ids and numbers over lines, which is what this module exists to prevent.
"""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

# Wide enough that rich lays a table out at its natural width rather than squeezing it.
_UNBOUNDED = 10_000
# The indent of a record's lines under its name, and the gap between header and value.
_INDENT = 2


class Fitted:
    """A table that chooses its layout at render time (see the module docstring)."""

    def __init__(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: Sequence[Sequence[Text | str]],
        names: int,
        optional: Sequence[str],
    ) -> None:
        self.title, self.columns, self.rows = title, list(columns), rows
        self.names, self.optional = names, [c for c in optional if c in columns]

    def layouts(self) -> Iterator[Table]:
        """The tabular layouts, most complete first: optional columns dropped one at a time."""
        for dropped in range(len(self.optional) + 1):
            yield self._table(set(self.optional[:dropped]))

    def _table(self, dropped: set[str]) -> Table:
        keep = [i for i, c in enumerate(self.columns) if c not in dropped]
        title = self.title
        if dropped:
            gone = ", ".join(c for c in self.columns if c in dropped)
            title = f"{title or ''}{' ' if title else ''}(not shown here: {gone}; see --json)"
        t = Table(title=title and escape(title), title_justify="left", header_style="bold")
        for i in keep:
            t.add_column(escape(self.columns[i]), justify="left" if i == 0 else "right")
        for i, column in enumerate(t.columns[: self.names]):
            column.no_wrap = True
            column.min_width = max((_width(r[i]) for r in self.rows if len(r) > i), default=0)
        for row in self.rows:
            t.add_row(*(row[i] for i in keep if i < len(row)))
        return t

    def records(self, width: int) -> Group:
        """One block per row: its names in bold, then every other column as a line, aligned;
        a value with a word too long for the value column goes whole under its header."""
        parts: list[Any] = []
        if self.title:
            parts.append(Text(self.title, style="italic"))
        heads = self.columns[self.names :]
        room = width - max((len(h) for h in heads), default=0) - 2 * _INDENT
        for row in self.rows:
            name = Text("  ").join(_text(v) for v in row[: self.names])
            name.stylize("bold")
            name.no_wrap, name.overflow = True, "ignore"  # a name longer than the line stays whole
            grid = Table.grid(padding=(0, _INDENT))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            below = []
            for head, value in zip(heads, row[self.names :], strict=False):
                if max((len(w) for w in _text(value).plain.split()), default=0) <= room:
                    grid.add_row(Text(" " * _INDENT + head, style="dim"), value)
                else:
                    below += [
                        Text(" " * _INDENT + head, style="dim"),
                        Padding(_text(value), (0, 0, 0, 2 * _INDENT)),
                    ]
            parts.extend([name, grid, *below])
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for layout in self.layouts():
            if _natural(console, options, layout) <= options.max_width:
                yield layout
                return
        yield self.records(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """The narrowest tabular layout's natural width: a caller choosing between tables
        (e.g. more or less detail) asks whether this one can stay a table."""
        widths = [_natural(console, options, layout) for layout in self.layouts()]
        return Measurement(min(widths), min(widths))


def _natural(console: Console, options: ConsoleOptions, layout: Table) -> int:
    return Measurement.get(console, options.update_width(_UNBOUNDED), layout).maximum


def cell(value: Any) -> Text | str:
    """A table cell: None as a dash; text shown as it is (never read as markup), styled
    :class:`Text` kept."""
    if isinstance(value, Text):
        return value
    return "–" if value is None else escape(str(value))


def _text(value: Text | str) -> Text:
    return value if isinstance(value, Text) else Text.from_markup(value)


def _width(value: Text | str) -> int:
    return _text(value).cell_len


def table(
    title: str | None,
    columns: Iterable[str],
    rows: Iterable[Iterable[Any]],
    names: int = 1,
    optional: Sequence[str] = (),
) -> Fitted:
    """A table whose first ``names`` columns name the row (a patient, a model, a run) and
    whose ``optional`` columns may be left out, in that order, to keep it a table."""
    return Fitted(title, list(columns), [[cell(v) for v in row] for row in rows], names, optional)
