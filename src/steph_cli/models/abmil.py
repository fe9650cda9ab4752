"""Gated-attention MIL (ABMIL) for discrete-time survival, as METHOD §2 specifies.

Parameter names are part of the file format: task vectors are taken over the MIL encoder
(``feat_proj.*`` and ``attention_net.*``); ``head.*`` is the prediction head.
"""

import torch
from torch import nn

from steph_cli.models.arch import Architecture

# The MIL encoder in the model's own order: the fixed layout of every flattened task vector.
ENCODER_KEYS = (
    "feat_proj.weight",
    "feat_proj.bias",
    "attention_net.a.weight",
    "attention_net.a.bias",
    "attention_net.b.weight",
    "attention_net.b.bias",
    "attention_net.c.weight",
    "attention_net.c.bias",
)
__all__ = ["ABMIL", "ENCODER_KEYS", "Architecture", "encoder_keys"]


class _Gate(torch.autograd.Function):
    """mask ⊙ tanh(P_a) ⊙ sigmoid(P_b), with a backward written for few memory passes.

    On CPUs these [N, A] element-wise passes, not the matrix products, are what a plain
    autograd graph spends its extra time on; here each gradient takes two in-place passes.
    """

    @staticmethod
    def forward(ctx, pre_a, pre_b, mask):  # type: ignore[no-untyped-def, override]
        t, s = torch.tanh(pre_a), torch.sigmoid(pre_b)
        ts = t * s
        ctx.save_for_backward(t, s, ts, mask)
        return ts * mask if mask is not None else ts

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def, override]
        t, s, ts, mask = ctx.saved_tensors
        g = grad * mask if mask is not None else grad
        d_a = g * s
        d_a.addcmul_(d_a, t * t, value=-1.0)  # g s (1 - t²)
        d_b = g * ts
        d_b.addcmul_(d_b, s, value=-1.0)  # g t s (1 - s)
        return d_a, d_b, None


class GatedAttention(nn.Module):
    """s_n = w_c · (drop(tanh(W_a h_n + b_a)) ⊙ drop(sigmoid(W_b h_n + b_b))) + c.

    Computed for speed, with the same distribution as the formula: the two independent
    dropout masks (keep probability q = 1 − p each) are drawn as one mask on the gated
    product with keep probability q², scaled by 1/q² — the product of two independent
    Bernoulli(q) masks scaled by 1/q each is exactly that. The score is a matrix-vector
    product (a K=1 matrix product is slow on CPUs).
    """

    def __init__(self, embed_dim: int, attn_dim: int, dropout: float) -> None:
        super().__init__()
        self.a = nn.Linear(embed_dim, attn_dim)
        self.b = nn.Linear(embed_dim, attn_dim)
        self.c = nn.Linear(attn_dim, 1)
        self.dropout = dropout

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pre_a, pre_b = self.a(h), self.b(h)
        mask = None
        if self.training and self.dropout > 0:
            keep = (1.0 - self.dropout) ** 2
            rand = torch.rand(pre_a.shape, dtype=pre_a.dtype, device=pre_a.device)
            mask = torch.where(rand < keep, 1.0 / keep, 0.0).to(pre_a.dtype)
        gate = _Gate.apply(pre_a, pre_b, mask)
        return torch.mv(gate, self.c.weight[0]) + self.c.bias


class ABMIL(nn.Module):
    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.feat_proj = nn.Linear(arch.in_dim, arch.embed_dim)
        self.attention_net = GatedAttention(arch.embed_dim, arch.attn_dim, arch.dropout)
        self.head = nn.Linear(arch.embed_dim, arch.n_bins)

    def embed(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention-pooled bag embedding z [E] and attention weights α [N] of a bag [N, D]."""
        h = torch.relu(self.feat_proj(bag))
        alpha = torch.softmax(self.attention_net(h), dim=0)
        return torch.mv(h.t(), alpha), alpha

    def forward(self, bag: torch.Tensor) -> torch.Tensor:
        """Hazard logits [T] of one bag [N, D]."""
        return self.head(self.embed(bag)[0])


def encoder_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """The parameters a task vector covers, in the fixed order, whatever order ``state`` has."""
    missing = [k for k in ENCODER_KEYS if k not in state]
    if missing:
        raise KeyError(f"not an ABMIL state: missing {', '.join(missing)}")
    return list(ENCODER_KEYS)
