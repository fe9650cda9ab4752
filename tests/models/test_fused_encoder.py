"""The fused MIL encoder against the formula written with plain autograd ops: outputs and
every gradient equal (to 1e-5 in float32, 1e-10 in float64), with and without dropout, for
an expert's parameters and for merged weights built from other tensors; and gradcheck."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from steph_cli.models.abmil import ABMIL, Architecture, _Encoder

ARCH = Architecture(in_dim=12, embed_dim=10, attn_dim=6, n_bins=4, dropout=0.25)
N = 37


def reference(
    bag: torch.Tensor, p: dict[str, torch.Tensor], mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's ABMIL, op by op: hazard logits and attention weights."""
    h = torch.relu(bag @ p["feat_proj.weight"].T + p["feat_proj.bias"])
    a = torch.tanh(h @ p["attention_net.a.weight"].T + p["attention_net.a.bias"])
    b = torch.sigmoid(h @ p["attention_net.b.weight"].T + p["attention_net.b.bias"])
    gate = a * b if mask is None else a * b * mask
    score = gate @ p["attention_net.c.weight"][0] + p["attention_net.c.bias"]
    alpha = torch.softmax(score, dim=0)
    return p["head.weight"] @ (alpha @ h) + p["head.bias"], alpha


class Both(nn.Module):
    """The model's logits and attention weights from one forward (one dropout draw)."""

    def __init__(self, model: ABMIL) -> None:
        super().__init__()
        self.m = model

    def forward(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, alpha = self.m.embed(bag)
        return self.m.head(z), alpha


def loss(out: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Uses both outputs, so that both backward paths are exercised."""
    logits, alpha = out
    return logits.logsumexp(0) + (alpha * torch.arange(len(alpha), dtype=alpha.dtype)).sum()


def both_ways(model: ABMIL, bag: torch.Tensor, params: dict[str, torch.Tensor], wrt: list):
    torch.manual_seed(1)
    mask = model.attention_net.mask(N, bag)
    torch.manual_seed(1)  # the fused forward draws the same mask
    mine = functional_call(Both(model), {f"m.{k}": v for k, v in params.items()}, (bag,))
    scaled = None if mask is None else mask.to(bag.dtype) / model.attention_net.keep
    theirs = reference(bag, params, scaled)
    return (
        mine,
        theirs,
        torch.autograd.grad(loss(mine), wrt, retain_graph=True),  # merged weights are shared
        torch.autograd.grad(loss(theirs), wrt),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("training", [False, True])
def test_fused_encoder_equals_the_formula(dtype: torch.dtype, training: bool) -> None:
    torch.manual_seed(0)
    model = ABMIL(ARCH).to(dtype).train(training)
    bag = torch.randn(N, ARCH.in_dim, dtype=dtype, requires_grad=True)
    params = dict(model.named_parameters())
    names = ["bag", *params]
    mine, theirs, d_mine, d_theirs = both_ways(model, bag, params, [bag, *params.values()])
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(mine, theirs, rtol=tol, atol=tol)
    for name, got, want in zip(names, d_mine, d_theirs, strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol, msg=lambda m, n=name: f"{n}: {m}")
    assert any(g.abs().sum() > 0 for g in d_mine)


def test_merged_weights_get_their_gradients() -> None:
    """STEPH's case: the encoder is base + Σ w·τ, built per bag; the weights w learn."""
    torch.manual_seed(0)
    model = ABMIL(ARCH).double().train().requires_grad_(False)
    base = dict(model.named_parameters())
    tau = {k: torch.randn_like(v) for k, v in base.items()}
    w = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    merged = {k: base[k] + w[0] * tau[k] + w[1] * tau[k].flip(-1) for k in base}
    bag = torch.randn(N, ARCH.in_dim, dtype=torch.float64)
    _, _, (d_mine,), (d_theirs,) = both_ways(model, bag, merged, [w])
    torch.testing.assert_close(d_mine, d_theirs, rtol=1e-10, atol=1e-10)
    assert d_mine.abs().sum() > 0


def test_gradcheck() -> None:
    torch.manual_seed(0)
    d, e, a, n = 5, 4, 3, 7

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    mask = torch.rand(n, a, dtype=torch.float64) < 0.6
    inputs = (t(n, d), t(e, d), t(e), t(a, e), t(a), t(a, e), t(a), t(a), t(1), mask, 1 / 0.6)
    assert torch.autograd.gradcheck(_Encoder.apply, inputs)
