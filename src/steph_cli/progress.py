"""Callbacks through which long library work reports progress to a front end (no deps)."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    on_start: Callable[[str, int], None] = lambda description, total: None
    on_step: Callable[[], None] = lambda: None
    on_epoch: Callable[[dict[str, float]], None] = lambda record: None
