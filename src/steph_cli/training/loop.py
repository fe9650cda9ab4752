"""The training loop shared by experts and learned merges (METHOD §2, §4).

One bag at a time; each bag's backward runs right after its forward with the loss divided by
its group's size, so memory does not grow with accumulation; an update every ``accumulate``
bags, the last partial group included. AdamW with no weight decay on biases; a learning
rate warmed up linearly over the first ``warmup_epochs`` and then cosine-annealed to zero
over the remaining updates; the last epoch's weights are kept.
"""

import math
from collections.abc import Callable, Sequence

import torch

from steph_cli.errors import RunFailedError
from steph_cli.training.config import TrainConfig
from steph_cli.training.optimiser import AdamW

# A step maps an item (bag) index to its loss and any named loss terms to log.
__all__ = ["StepFn", "TrainConfig", "fit", "lr_factor", "param_groups"]

StepFn = Callable[[int], tuple[torch.Tensor, dict[str, float]]]
# A group step maps a group of items, in one forward, to each item's loss [len(group)] and
# the terms to log summed over the group.
GroupFn = Callable[[list[int]], tuple[torch.Tensor, dict[str, float]]]


def param_groups(
    named: Sequence[tuple[str, torch.nn.Parameter]], weight_decay: float
) -> list[dict[str, object]]:
    decay = [p for n, p in named if not n.endswith("bias")]
    no_decay = [p for n, p in named if n.endswith("bias")]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_factor(update: int, warmup: int, total: int) -> float:
    """Multiplier of the base learning rate for the ``update``-th optimiser step (0-based)."""
    if update < warmup:
        return (update + 1) / warmup
    span = max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * (update - warmup) / span))


def fit(
    named_params: Sequence[tuple[str, torch.nn.Parameter]],
    n_items: int,
    step: StepFn,
    config: TrainConfig,
    item_name: Callable[[int], str] = str,
    on_step: Callable[[], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    group_step: GroupFn | None = None,
) -> list[dict[str, float]]:
    """Train ``named_params`` with ``step``; return per-epoch means of the loss and its terms.

    With ``group_step`` each accumulation group is one forward and one backward of the mean
    of its losses — the gradient of the bag-by-bag path, for packed batches on accelerators.
    """
    if n_items < 1:
        raise RunFailedError("no training bags")
    per_epoch = math.ceil(n_items / config.accumulate)
    total = per_epoch * config.epochs
    warmup = per_epoch * config.warmup_epochs
    optimiser = AdamW(param_groups(named_params, config.weight_decay))
    update = 0
    order_rng = torch.Generator().manual_seed(config.run_seed)
    history: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.run_seed)  # dropout masks
        for epoch in range(config.epochs):
            order = torch.randperm(n_items, generator=order_rng).tolist()
            sums: dict[str, float] = {}
            for start in range(0, n_items, config.accumulate):
                group = order[start : start + config.accumulate]
                if group_step is not None:
                    losses, terms = group_step(group)
                    for i, loss in zip(group, losses.tolist(), strict=True):
                        _check(loss, epoch, item_name(i))
                    losses.mean().backward()
                    for key, value in {"loss": float(losses.detach().sum()), **terms}.items():
                        sums[key] = sums.get(key, 0.0) + value
                    if on_step:
                        for _ in group:
                            on_step()
                else:
                    for i in group:
                        loss, terms = step(i)
                        _check(loss.item(), epoch, item_name(i))
                        (loss / len(group)).backward()
                        for key, value in {"loss": loss.item(), **terms}.items():
                            sums[key] = sums.get(key, 0.0) + value
                        if on_step:
                            on_step()
                optimiser.step(config.lr * lr_factor(update, warmup, total))
                optimiser.zero_grad()
                update += 1
            record = {"epoch": epoch + 1, **{k: v / n_items for k, v in sums.items()}}
            history.append(record)
            if on_epoch:
                on_epoch(record)
    return history


def _check(loss: float, epoch: int, item: str) -> None:
    if not math.isfinite(loss):
        raise RunFailedError(
            f"loss is {loss} at epoch {epoch + 1} on the bag of {item}; check its features or "
            "lower --lr"
        )
