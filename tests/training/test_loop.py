"""The shared training loop: schedule, accumulation with a partial last group, decay, NaN stop."""

import math

import pytest
import torch

from steph_cli.errors import RunFailedError
from steph_cli.training.loop import TrainConfig, fit, lr_factor, param_groups
from steph_cli.training.optimiser import AdamW


def test_warmup_then_cosine() -> None:
    # 4 updates per epoch, 3 epochs: linear warm-up over the first 4, cosine over 8.
    factors = [lr_factor(u, 4, 12) for u in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0
    assert factors[8] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert factors[11] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))


def test_no_decay_on_biases() -> None:
    layer = torch.nn.Linear(3, 2)
    groups = param_groups(list(layer.named_parameters()), 0.1)
    assert groups[0]["params"] == [layer.weight] and groups[0]["weight_decay"] == 0.1
    assert groups[1]["params"] == [layer.bias] and groups[1]["weight_decay"] == 0.0


def test_partial_group_updates_and_averages(monkeypatch) -> None:
    """20 bags with groups of 16: two updates per epoch, the second over the last 4 bags."""
    w = torch.nn.Parameter(torch.zeros(1))
    seen_grads, steps = [], []
    real_step = AdamW.step

    def spy(self, *args, **kwargs):
        seen_grads.append(w.grad.clone())
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(AdamW, "step", spy)

    def step(i: int):
        steps.append(i)
        return w.sum(), {}  # d loss / d w = 1 for every bag

    config = TrainConfig(epochs=1, lr=1.0, weight_decay=0.0, accumulate=16, warmup_epochs=0, seed=0)
    fit([("w", w)], 20, step, config)
    assert sorted(steps) == list(range(20))
    # each group's gradient is the mean over its bags (1.0), the partial group included
    assert [g.item() for g in seen_grads] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_history_means_and_determinism() -> None:
    def run():
        torch.manual_seed(123)
        w = torch.nn.Parameter(torch.ones(2))
        data = torch.arange(10.0)
        hist = fit(
            [("w", w)],
            10,
            lambda i: (((w * data[i]) - 1).pow(2).sum(), {"x": float(i)}),
            TrainConfig(epochs=2, lr=0.01, accumulate=3, seed=0),
        )
        return hist, w.detach().clone()

    (h1, w1), (h2, w2) = run(), run()
    assert h1 == h2 and torch.equal(w1, w2)
    assert h1[0]["x"] == pytest.approx(4.5) and h1[1]["epoch"] == 2


def test_nan_loss_names_the_bag() -> None:
    w = torch.nn.Parameter(torch.ones(1))

    def step(i: int):
        return (w * (float("nan") if i == 3 else 1.0)).sum(), {}

    with pytest.raises(RunFailedError, match="loss is nan at epoch 1 on the bag of patient P3"):
        fit([("w", w)], 5, step, TrainConfig(epochs=1, seed=0), item_name=lambda i: f"patient P{i}")
