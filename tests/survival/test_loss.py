"""The discrete-time NLL against an independent derivation and hand-computed cases."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from steph_cli.survival.bins import TimeBins
from steph_cli.survival.curves import risk, survival
from steph_cli.survival.loss import nll_loss


def logistic_hazard_reference(logits, bins, events):
    """Kvamme & Borgan's logistic-hazard NLL, written as pycox does: binary cross-entropy
    over bins 0..y, with target 1 at bin y for an event and 0 everywhere else."""
    n, t = logits.shape
    target = torch.zeros(n, t, dtype=logits.dtype)
    target[torch.arange(n), bins] = events.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    mask = torch.arange(t).unsqueeze(0) <= bins.unsqueeze(1)
    return (bce * mask).sum(1).mean()


@pytest.mark.parametrize("seed", range(5))
def test_alpha_zero_equals_logistic_hazard_nll(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(64, 32, generator=g, dtype=torch.float64) - 2
    bins = torch.randint(0, 32, (64,), generator=g)
    events = torch.randint(0, 2, (64,), generator=g)
    # away from the 1e-7 clamp (tested separately), where both must agree exactly
    assert survival(logits).min() > 1e-6 and torch.sigmoid(logits).min() > 1e-6
    ours = nll_loss(logits, bins, events, alpha_u=0.0)
    ref = logistic_hazard_reference(logits, bins, events)
    assert abs(ours.item() - ref.item()) < 1e-6


def _logits(hazards):
    h = torch.tensor(hazards, dtype=torch.float64)
    return torch.log(h / (1 - h)).unsqueeze(0)


LN = math.log
# Hazards 0.2, 0.5, 0.9 over three bins; alpha_u = 0.5.
# uncensored in bin y: L = L_u = -log S_y - log h_y
# censored in bin y:   L = (1 - 0.5) * L_c = 0.5 * -log S_{y+1}
HAND = [
    (0, 1, -LN(0.2)),  # first bin, event: S_0 = 1
    (0, 0, 0.5 * -LN(0.8)),  # first bin, censored: survived bin 0
    (1, 1, -LN(0.8) - LN(0.5)),
    (1, 0, 0.5 * -(LN(0.8) + LN(0.5))),
    (2, 1, -(LN(0.8) + LN(0.5)) - LN(0.9)),  # last bin, event
    (2, 0, 0.5 * -(LN(0.8) + LN(0.5) + LN(0.1))),  # last bin, censored
]


@pytest.mark.parametrize(("y", "e", "expected"), HAND)
def test_hand_computed_cases(y: int, e: int, expected: float) -> None:
    loss = nll_loss(_logits([0.2, 0.5, 0.9]), torch.tensor([y]), torch.tensor([e]), 0.5)
    assert loss.item() == pytest.approx(expected, abs=1e-9)


def test_batch_mean() -> None:
    logits = _logits([0.2, 0.5, 0.9]).repeat(2, 1)
    loss = nll_loss(logits, torch.tensor([0, 2]), torch.tensor([1, 0]), 0.5)
    assert loss.item() == pytest.approx((HAND[0][2] + HAND[5][2]) / 2, abs=1e-9)


def test_logs_are_clamped() -> None:
    logits = torch.tensor([[-50.0, 50.0]], dtype=torch.float64)  # h0 ~ 0, h1 ~ 1
    loss = nll_loss(logits, torch.tensor([0]), torch.tensor([1]), 0.5)
    assert loss.item() == pytest.approx(-math.log(1e-7), rel=1e-6)
    censored = nll_loss(logits, torch.tensor([1]), torch.tensor([0]), 0.0)
    assert censored.item() == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_survival_and_risk() -> None:
    s = survival(_logits([0.2, 0.5, 0.9]))
    np.testing.assert_allclose(s.numpy(), [[0.8, 0.4, 0.04]], atol=1e-12)
    assert risk(_logits([0.2, 0.5, 0.9])).item() == pytest.approx(-1.24)
    # a uniformly higher hazard is a higher risk
    assert risk(_logits([0.3, 0.6, 0.9])) > risk(_logits([0.2, 0.5, 0.9]))


def test_default_bins() -> None:
    bins = TimeBins()
    assert bins.width == 365.0
    days = np.array([0, 364.9, 365, 730, 11315, 11679, 11680, 40000])
    np.testing.assert_array_equal(bins.index(days), [0, 0, 1, 2, 31, 31, 31, 31])
    np.testing.assert_array_equal(TimeBins(4, 100).edges, [0, 25, 50, 75])
