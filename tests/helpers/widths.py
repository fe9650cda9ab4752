"""What "a table keeps its identifiers, numbers and headers whole" means, checkable.

Rich folds a cell that does not fit by cutting it between characters and carrying the rest
to the next line. So a split run id, model name or number shows as a word at the end of a
cell on one line and another on the next line that, joined, make a word (or the start of
one) of the same output printed wide. Words wrapped between words never join into one.
Rich's other answer, cutting a cell with "…", leaves a word the wide output does not have.
Lines of a table must also be no wider than the terminal (notes are soft-wrapped: the
terminal breaks them, between words).
"""

import itertools
import re

WIDE = 1000
_BOX = re.compile(r"[\u2500-\u257f]")
_WORD = re.compile(r"[^\s\u2500-\u257f]+")  # between spaces and box drawing
# The shortest first piece looked at: rich gives a folded column at least this much, and
# shorter words ("3" above "3%") join into words by chance.
_PIECE = 3


def _spans(line: str) -> list[tuple[str, int, int]]:
    """The words of a line with the columns they start and end at."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(line)]


def _ruled(line: str) -> bool:
    """A line of a table, or of a table printed as records (indented)."""
    return bool(_BOX.search(line)) or line.startswith("  ")


def split_words(narrow: str, wide: str, columns: int) -> list[str]:
    """What in ``narrow`` (printed at ``columns``) is not whole: lines of a table wider than
    the terminal, then pieces of one word of ``wide`` found on two consecutive lines."""
    too_wide = [line for line in narrow.splitlines() if len(line) > columns and _ruled(line)]
    whole = set(_WORD.findall(wide))
    starts = {w[:k] for w in whole for k in range(2, len(w))}
    lines = [_spans(line) for line in narrow.splitlines()]
    broken = {
        f"{a}|{b}"
        for above, below in itertools.pairwise(lines)
        for a, a0, a1 in above
        for b, b0, b1 in below
        # a folded cell goes on in the same column: the pieces overlap across the lines
        if len(a) >= _PIECE and b0 < a1 and a0 < b1 and (a + b in whole or a + b in starts)
    }
    cut = {w for line in lines for w, _, _ in line if w.endswith("…") and w not in whole}
    return too_wide + sorted(broken | cut)
