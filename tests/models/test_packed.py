"""Packed forwards (several bags in one pass) against the per-bag ones: logits and every
gradient equal, for an expert, a scalar-weight merge and STEPH with a merged encoder per bag
(padded and batched, or grouped with each bag through its own fused node)."""

import pytest
import torch

from steph_cli.models.abmil import ABMIL, Architecture
from steph_cli.models.layout import Layout
from steph_cli.models.merged import ScalarMerge, build_steph
from steph_cli.models.packed import (
    abmil_packed,
    scalar_packed,
    segment_softmax,
    segments,
    steph_grouped,
    steph_packed,
)

STEPH_GROUPS = [steph_packed, steph_grouped]

ARCH = Architecture(in_dim=6, embed_dim=8, attn_dim=5, n_bins=4, dropout=0.0)


def bags(dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(n, ARCH.in_dim, generator=g, dtype=dtype) for n in (7, 1, 12, 4)]


def state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.double() for k, v in ABMIL(ARCH).state_dict().items()}


def assert_same(packed, per_bag, params) -> None:
    torch.testing.assert_close(packed, per_bag, rtol=1e-10, atol=1e-10)
    weights = torch.arange(packed.numel(), dtype=packed.dtype).reshape(packed.shape)
    mine = torch.autograd.grad((packed * weights).sum(), params)
    theirs = torch.autograd.grad((per_bag * weights).sum(), params)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert any(g.abs().sum() > 0 for g in mine)


def test_segment_softmax_is_a_softmax_per_bag() -> None:
    data = bags()
    seg, lengths = segments(data)
    assert lengths.tolist() == [7, 1, 12, 4]
    score = torch.randn(int(lengths.sum()), dtype=torch.float64) * 30  # overflow without the shift
    got = segment_softmax(score, seg, len(data))
    want = torch.cat([torch.softmax(s, 0) for s in score.split(lengths.tolist())])
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("training", [False, True])  # dropout 0: training draws nothing
def test_packed_expert_equals_bag_by_bag(training: bool) -> None:
    model = ABMIL(ARCH).double().train(training)
    model.load_state_dict(state(1))
    data = bags()
    params = list(model.parameters())
    assert_same(abmil_packed(model, data), torch.stack([model(b) for b in data]), params)


@pytest.mark.parametrize("training", [False, True])
def test_packed_scalar_merge_equals_bag_by_bag(training: bool) -> None:
    init, target = state(0), state(1)
    layout = Layout.of(init, [k for k in init if not k.startswith("head.")])
    rows = layout.stack([state(2), state(3)]) - layout.flatten(init)
    net = ScalarMerge(ARCH, layout, layout.flatten(target), rows, seed=0, head=target)
    net = net.double().train(training)
    with torch.no_grad():
        net.weights.copy_(torch.tensor([0.3, -0.7]))
    data = bags()
    params = [p for _, p in net.trainable()]
    assert_same(scalar_packed(net, data), torch.stack([net(b) for b in data]), params)


@pytest.mark.parametrize("group", STEPH_GROUPS)
@pytest.mark.parametrize("lambda_mode", ["hyper", "source", "fixed"])
def test_packed_steph_equals_bag_by_bag(lambda_mode: str, group) -> None:
    init = state(0)
    net = build_steph(
        ARCH,
        "encoder",
        init,
        state(1),
        [state(2 + i) for i in range(3)],
        init,
        top_k=2,
        activation="relu",
        seed=0,
        lambda_mode=lambda_mode,
    )
    net = net.double().eval()  # the hypernetwork's dropout draws per bag in training
    data = bags()
    params = [p for _, p in net.trainable()]
    assert_same(group(net, data), torch.stack([net(b) for b in data]), params)


@pytest.mark.parametrize("group", STEPH_GROUPS)
def test_packed_steph_refuses_other_scopes(group) -> None:
    init = state(0)
    net = build_steph(ARCH, "all", init, state(1), [state(2)], init, 1, "relu", 0).double()
    with pytest.raises(ValueError, match="encoder scope"):
        group(net.eval(), bags())
