"""STEPH's hypernetwork merge: algebra against a naive loop, gradients, sparsity, terms."""

import math

import pytest
import torch

from steph_cli.merging.steph_training import regularisers
from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.models.merged import StephNet

ARCH = Architecture(in_dim=6, embed_dim=8, attn_dim=4, n_bins=3)


def _model(m: int = 4, k: int = 2, activation: str = "softplus", seed: int = 0) -> StephNet:
    g = torch.Generator().manual_seed(seed)
    state = ABMIL(ARCH).state_dict()
    layout = Layout.of(state, encoder_keys(state))
    base = torch.randn(layout.size, generator=g)
    target = torch.randn(layout.size, generator=g) * 0.1
    sources = torch.randn(m, layout.size, generator=g) * 0.1
    return StephNet(ARCH, layout, base, target, sources, k, activation, seed=seed).eval()


def naive_merge(model: StephNet, w, lam, top) -> dict[str, torch.Tensor]:
    """θ_init + Σ_{i∈K} w_i [λ_i τ_t + (1 − λ_i) τ_{s_i}], parameter by parameter."""
    layout = model.layout
    base = layout.unflatten(model.base)
    tau_t = layout.unflatten(model.target_vector)
    theta = {k: v.clone() for k, v in base.items()}
    for i in top.tolist():
        tau_s = layout.unflatten(model.source_vectors[i])
        for key in layout.keys:
            theta[key] = theta[key] + w[i] * (lam[i] * tau_t[key] + (1 - lam[i]) * tau_s[key])
    return theta


@pytest.mark.parametrize("seed", range(3))
def test_gathered_product_equals_naive_loop(seed: int) -> None:
    model = _model(m=5, k=3, seed=seed)
    bag = torch.randn(9, 6, generator=torch.Generator().manual_seed(seed))
    w, lam, top = model.mixing(bag)
    fast = model.layout.unflatten(model.encoder(w, lam, top))
    slow = naive_merge(model, w, lam, top)
    for key in model.layout.keys:
        torch.testing.assert_close(fast[key], slow[key], atol=1e-6, rtol=0)


def test_exactly_k_sources_contribute() -> None:
    model = _model(m=5, k=2)
    bag = torch.randn(7, 6)
    w, lam, top = model.mixing(bag)
    assert len(top) == 2 and len(set(top.tolist())) == 2
    before = model.encoder(w, lam, top)
    unselected = next(i for i in range(5) if i not in top.tolist())
    model.source_vectors[unselected] += 100.0
    model.stack_rows()
    torch.testing.assert_close(model.encoder(w, lam, top), before)
    model.source_vectors[top[0]] += 1.0
    model.stack_rows()
    assert not torch.allclose(model.encoder(w, lam, top), before)


def test_top_k_capped_at_sources() -> None:
    assert _model(m=3, k=5).k == 3


def test_lambda_in_unit_interval_and_weights_start_near_one() -> None:
    model = _model(m=6, k=5)
    for seed in range(5):
        bag = torch.randn(20, 6, generator=torch.Generator().manual_seed(seed)) * 3
        w, lam, top = model.mixing(bag)
        assert bool(((lam > 0) & (lam <= 1)).all())
        assert bool((w > 0).all())  # softplus: never exactly zero, never a dead gradient
        assert 0.7 < w[top].sum().item() < 1.3  # bias act⁻¹(1/k): Σ_K w ≈ 1 at the start


@pytest.mark.parametrize("activation", ["relu", "softplus", "sigmoid"])
def test_initial_bias_inverts_the_activation(activation: str) -> None:
    model = _model(m=4, k=4, activation=activation)
    bias = model.weight_head[-1].bias
    assert model.act(bias).tolist() == pytest.approx([0.25] * 4)


def test_gradients_reach_the_hypernetwork_only() -> None:
    model = _model(m=4, k=2).train()
    frozen = {k: v.clone() for k, v in model.named_buffers()}
    logits = model(torch.randn(11, 6))
    assert logits.shape == (3,)
    logits.sum().backward()
    trainable = dict(model.trainable())
    assert set(trainable) == {
        "head.weight",
        "head.bias",
        "embed.weight",
        "embed.bias",
        "weight_head.0.weight",
        "weight_head.0.bias",
        "weight_head.3.weight",
        "weight_head.3.bias",
        "ratio_head.0.weight",
        "ratio_head.0.bias",
        "ratio_head.3.weight",
        "ratio_head.3.bias",
    }
    for name in ("embed.weight", "weight_head.3.weight", "ratio_head.3.weight", "head.weight"):
        assert trainable[name].grad is not None and trainable[name].grad.abs().sum() > 0, name
    assert all(p.grad is None for p in model.body.parameters())
    optimiser = torch.optim.AdamW([p for _, p in model.trainable()], lr=0.1)
    optimiser.step()
    for name, value in model.named_buffers():
        assert torch.equal(value, frozen[name]), name  # θ_init and every τ untouched


def test_regularisers_by_hand() -> None:
    w = torch.tensor([0.5, 0.1, 0.3])
    lam = torch.tensor([0.9, 0.2, 0.4])
    top = torch.tensor([0, 2])
    balance, shares = regularisers(w, lam, top, k=2)
    lse = math.log(math.exp(0.5) + math.exp(0.1) + math.exp(0.3))
    assert balance.item() == pytest.approx(lse**2 + (0.5 + 0.3) / 2)
    assert shares.item() == pytest.approx((0.9**2 + 0.4**2) / 2)


def test_head_starts_as_the_target_experts() -> None:
    head = {"head.weight": torch.full((3, 8), 0.5), "head.bias": torch.tensor([1.0, 2.0, 3.0])}
    model = _model()
    state = ABMIL(ARCH).state_dict()
    layout = Layout.of(state, encoder_keys(state))
    started = StephNet(
        ARCH,
        layout,
        model.base,
        model.target_vector,
        model.source_vectors,
        2,
        "softplus",
        seed=0,
        head=head,
    )
    assert torch.equal(started.head.weight, head["head.weight"])
    assert torch.equal(started.head.bias, head["head.bias"])
    assert not torch.equal(model.head.weight, head["head.weight"])  # fresh otherwise
