"""The two consoles every command writes to: results on stdout, notes, progress and errors
on stderr (so ``--json`` and pipes get results alone)."""

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)
