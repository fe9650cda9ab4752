"""AdamW as ``torch.optim.AdamW`` steps it, without ``torch.optim``'s optimiser classes.

Those classes import ``torch._dynamo`` on first use (their methods are wrapped to keep
``torch.compile`` out), which costs ~1.6 s of every process that trains: a quarter of a
small ``steph train``. The update itself is torch's own functional ``adamw`` with the
arguments and state the class would give it, so the weights are the class's to the bit
(tests/training/test_optimiser.py trains with both).
"""

from collections.abc import Iterable, Mapping

import torch
from torch.optim.adamw import adamw

BETAS = (0.9, 0.999)
EPS = 1e-8


class AdamW:
    """AdamW over parameter groups that differ only in weight decay; the learning rate is
    given to each step, which is how the warm-up and cosine schedule reach it."""

    def __init__(self, groups: Iterable[Mapping[str, object]]) -> None:
        self.groups = [
            (list(g["params"]), float(g["weight_decay"]))  # type: ignore[call-overload,arg-type]
            for g in groups
        ]
        # per parameter: first moment, second moment, step count (a CPU scalar, as torch keeps it)
        self.state: dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self, lr: float) -> None:
        for params, weight_decay in self.groups:
            live = [p for p in params if p.grad is not None]
            if not live:
                continue
            moments = [self._state(p) for p in live]
            adamw(
                live,
                [p.grad for p in live],  # type: ignore[misc]
                [m[0] for m in moments],
                [m[1] for m in moments],
                [],
                [m[2] for m in moments],
                amsgrad=False,
                beta1=BETAS[0],
                beta2=BETAS[1],
                lr=lr,
                weight_decay=weight_decay,
                eps=EPS,
                maximize=False,
            )

    def zero_grad(self) -> None:
        for params, _ in self.groups:
            for p in params:
                p.grad = None

    def _state(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if p not in self.state:
            self.state[p] = (
                torch.zeros_like(p, memory_format=torch.preserve_format),
                torch.zeros_like(p, memory_format=torch.preserve_format),
                torch.tensor(0.0, dtype=_step_dtype()),
            )
        return self.state[p]


def _step_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
