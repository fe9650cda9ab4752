"""Cox's partial likelihood against scikit-survival's Cox model and a hand-computed case."""

import math

import numpy as np
import pytest
import torch
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from steph_cli.survival.cox import partial_log_likelihood


def test_hand_computed_with_a_tie() -> None:
    # times 1, 2, 2, 3; events 1, 1, 1, 0; risks a..d. Breslow: both tied events at t=2 share
    # the risk set {b, c, d}.
    a, b, c, d = 0.3, -0.2, 0.5, 1.0
    expected = (
        a - math.log(sum(math.exp(x) for x in (a, b, c, d)))
        + b - math.log(sum(math.exp(x) for x in (b, c, d)))
        + c - math.log(sum(math.exp(x) for x in (b, c, d)))
    )  # fmt: skip
    got = partial_log_likelihood(
        torch.tensor([c, a, d, b], dtype=torch.float64),  # shuffled: order must not matter
        torch.tensor([2.0, 1.0, 3.0, 2.0], dtype=torch.float64),
        torch.tensor([1, 1, 0, 1]),
    )
    assert float(got) == pytest.approx(expected)


def test_its_maximum_is_scikit_survivals_cox_coefficient() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    t = np.round(rng.exponential(size=60) * np.exp(-0.8 * x) * 5) + 1  # many ties
    e = rng.random(60) < 0.6
    reference = CoxPHSurvivalAnalysis(ties="breslow").fit(x[:, None], Surv.from_arrays(e, t))
    beta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([beta], max_iter=100, line_search_fn="strong_wolfe")
    xs, ts, es = torch.tensor(x), torch.tensor(t), torch.tensor(e)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = -partial_log_likelihood(beta * xs, ts, es)
        loss.backward()
        return loss

    optimiser.step(closure)
    assert len(np.unique(t)) < 60
    assert float(beta.detach()) == pytest.approx(reference.coef_[0], abs=1e-6)
