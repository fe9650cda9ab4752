"""soup: stacking shares from ranking alone, cross-fitted target scores, one merged model."""

import numpy as np
import pytest
import torch

from steph_cli.merging.methods.soup import _cross_fitted, stack_shares
from steph_cli.models import io
from steph_cli.models.layout import Layout
from tests.conftest import Cli


def _cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    times = np.round(rng.exponential(size=n) * np.exp(-1.5 * risk) * 100) + 1
    return risk, times, (rng.random(n) < 0.7).astype(int)


def test_shares_go_to_the_expert_that_ranks_and_ignore_scale_and_calibration() -> None:
    risk, times, events = _cohort(80, 1)
    noise = np.random.default_rng(2).normal(size=(80, 3))
    # the informative expert on a smaller scale and shifted (another baseline hazard)
    risks = np.column_stack([noise[:, 0], 0.3 * risk + 5.0, noise[:, 1], noise[:, 2]])
    shares = stack_shares(risks, times, events, ridge=0.01)
    assert shares.sum() == pytest.approx(1.0) and (shares >= 0).all()
    assert shares.argmax() == 1 and shares[1] > 0.8
    # the columns' order does not matter
    flipped = stack_shares(risks[:, ::-1], times, events, ridge=0.01)
    np.testing.assert_allclose(flipped[::-1], shares, atol=1e-5)


def test_noise_alone_leaves_the_shares_spread() -> None:
    _, times, events = _cohort(80, 3)
    noise = np.random.default_rng(4).normal(size=(80, 4))
    assert stack_shares(noise, times, events, ridge=10.0).max() < 0.4


def test_the_merged_file_is_the_mixture_of_whole_experts(trained: Cli) -> None:
    ws = trained.workspace
    rows = trained.json("merge", "--target", "AAA", "--method", "soup", "--fold", "0",
                        "--epochs", "1", "--accumulate", "4")  # fmt: skip
    shares = {k: v["weight"] for k, v in rows[0]["source_stats"].items()}
    assert set(shares) == {"AAA", "BBB", "CCC"} and sum(shares.values()) == pytest.approx(1.0)
    init = io.read(ws / "init.safetensors").tensors
    layout = Layout.of(init, list(init))
    base = layout.flatten(init)
    expected = base + sum(
        w * (layout.flatten(io.read(ws / "experts" / c / "fold0.safetensors").tensors) - base)
        for c, w in shares.items()
    )
    merged = io.read(ws / "merged" / "AAA" / "soup" / "fold0.safetensors").tensors
    torch.testing.assert_close(layout.flatten(merged), expected, rtol=1e-4, atol=1e-5)
    assert "head.weight" in layout.keys  # the heads are mixed too


def test_the_target_is_scored_by_an_expert_that_did_not_see_the_patient(trained: Cli) -> None:
    """Changing one training patient's label changes no score of its own part."""
    from dataclasses import replace

    from steph_cli.hooks import NO_HOOKS
    from steph_cli.merging.methods.params import Context
    from steph_cli.merging.pool import load_pool
    from steph_cli.training import fold as fold_data
    from steph_cli.training.config import TrainConfig
    from steph_cli.workspace import Workspace
    from steph_cli.workspace.runs import Run
    from steph_cli.workspace.splits import make_folds

    ws = Workspace(trained.workspace)
    pool = load_pool(ws, "AAA", ["BBB"], 0, 0)
    data = fold_data.load(ws, "AAA", 0, torch.device("cpu"))
    ctx = Context(ws, data, TrainConfig(seed=0), Run.start(ws, "merge", "t"), NO_HOOKS)
    before = _cross_fitted(pool, data, 3, ctx)
    seed = io.read(ws.expert_file("AAA", 0)).json("training_config")["seed"]
    parts = make_folds(data.train, 3, seed + 0)
    index = data.train.index()
    times, events = data.train.times.copy(), data.train.events
    # a patient followed longer than the median of its event group, followed far longer: its
    # outcome changes, the parts (stratified by event and by time above/below that median) not
    late = [
        p for p in parts[0].test
        if times[index[p]] > np.median(times[events == events[index[p]]])
    ]  # fmt: skip
    times[index[late[0]]] = times.max() * 3
    after = _cross_fitted(pool, replace(data, train=replace(data.train, times=times)), 3, ctx)
    own = [index[p] for p in parts[0].test]
    others = [index[p] for part in parts[1:] for p in part.test]
    np.testing.assert_array_equal(after[own], before[own])
    assert not np.array_equal(after[others], before[others])


def test_a_mixture_that_orders_every_pair_keeps_finite_shares() -> None:
    """With few patients one expert can rank them perfectly; the likelihood then grows
    without bound in the scale, which must stay finite."""
    times = np.arange(1.0, 16.0)
    events = np.ones(15, dtype=int)
    perfect = -times  # earlier death, higher risk: every pair concordant
    noise = np.random.default_rng(5).normal(size=(15, 2))
    shares = stack_shares(np.column_stack([perfect, noise]), times, events, ridge=0.01)
    assert np.isfinite(shares).all() and shares.argmax() == 0
