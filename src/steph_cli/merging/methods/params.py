"""The values a merge method and its training share: parameter dataclasses (their fields
checked when made), what a merge made, and what it may use besides its pool.

They live apart from :mod:`.base` so that the training code of a method
(``merging.learned``, ``merging.steph_training``) can name them without importing the
method classes, whose ``merge`` imports that training code: each import points one way.
"""

from __future__ import annotations

import math
from dataclasses import Field, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from steph_cli.errors import BadInputError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from steph_cli.hooks import Hooks
    from steph_cli.training.config import TrainConfig
    from steph_cli.training.fold import FoldData
    from steph_cli.workspace.paths import Workspace
    from steph_cli.workspace.runs import Run

HEAD_INITS = ("target", "fresh")


def param(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    low: float | None = None,
    high: float | None = None,
) -> Any:
    """A parameter field: its default, one line of help, and the values it accepts
    (``choices``, or numbers in [``low``, ``high``]; numbers must always be finite)."""
    return field(default=default, metadata={"help": help, "choices": choices, "range": (low, high)})


@dataclass(frozen=True)
class MethodParams:
    """Parameters of a method, checked when made: the error names the field and the value."""

    def __post_init__(self) -> None:
        for f in fields(self):
            check(f, getattr(self, f.name))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check(f: Field[Any], value: object) -> None:
    choices = f.metadata.get("choices")
    low, high = f.metadata.get("range", (None, None))
    if choices is not None and value not in choices:
        raise BadInputError(f"{f.name} = {value!r}: use one of {', '.join(choices)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadInputError(f"{f.name} = {value!r}: must be a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low:g}" if low is not None else ""
            bounds += f" to {high:g}" if high is not None else " up"
            raise BadInputError(f"{f.name} = {value!r}: use a value {bounds.strip()}")


@dataclass(frozen=True)
class LearnedParams(MethodParams):
    """Shared by every method that trains (with the training options of ``TrainConfig``)."""

    head_init: str = param(
        "target",
        "the new head starts as the target expert's (target) or freshly initialised (fresh)",
        choices=HEAD_INITS,
    )


@dataclass
class Merged:
    """What a method made: the model to evaluate (in eval mode), the tensors to write, what it
    learned per source, the per-epoch log, extra file metadata and notes for the user."""

    model: nn.Module
    tensors: dict[str, torch.Tensor]
    source_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What a merge may use besides its pool: the workspace (other cohorts' training data),
    the target fold's data (to train on its train patients and choose on its validation
    patients — never its test patients), the training options, the run's log and hooks."""

    ws: Workspace
    data: FoldData
    config: TrainConfig
    run: Run
    hooks: Hooks
