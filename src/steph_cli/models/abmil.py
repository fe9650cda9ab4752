"""Gated-attention MIL (ABMIL) for discrete-time survival, as METHOD §2 specifies.

Parameter names are part of the file format: task vectors are taken over the MIL encoder
(``feat_proj.*`` and ``attention_net.*``); ``head.*`` is the prediction head.
"""

from collections.abc import Sequence

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


class _Encoder(torch.autograd.Function):
    """The whole MIL encoder of one bag — projection, gated attention, softmax, pooling — as
    one autograd node with a hand-written backward.

    On CPUs the matrix products are at the BLAS floor; what a plain autograd graph adds is
    element-wise passes over [N, E] and [N, A] tensors and per-op overhead. Here W_a and W_b
    run as one [N, 2A] product, the bias adds and the pooling gradient ride on ``addmm``
    (α ⊗ dz is the product's accumulator), ReLU and its gradient are in place, and the gate's
    gradient takes two passes. Inputs are plain tensors, so merged weights (STEPH's, built
    per bag) get their gradients the same way as an expert's parameters.
    """

    @staticmethod
    def forward(ctx, bag, w_p, b_p, w_a, b_a, w_b, b_b, w_c, b_c, mask, scale):  # type: ignore[no-untyped-def, override]
        w_ab = torch.cat([w_a, w_b])
        h = torch.addmm(b_p, bag, w_p.t()).relu_()
        pre = torch.addmm(torch.cat([b_a, b_b]), h, w_ab.t())
        attn = w_a.shape[0]
        t, s = pre[:, :attn].tanh_(), pre[:, attn:].sigmoid_()
        gate = t * s
        if mask is not None:
            gate.mul_(mask)
        alpha = torch.softmax(torch.mv(gate, w_c).mul_(scale).add_(b_c), dim=0)
        ctx.scale = scale
        ctx.save_for_backward(bag, w_p, w_ab, w_c, h, t, s, gate, mask, alpha)
        return torch.mv(h.t(), alpha), alpha

    @staticmethod
    def backward(ctx, d_z, d_alpha):  # type: ignore[no-untyped-def, override]
        bag, w_p, w_ab, w_c, h, t, s, gate, mask, alpha = ctx.saved_tensors
        d_alpha = torch.mv(h, d_z) if d_alpha is None else torch.addmv(d_alpha, h, d_z)
        d_score = alpha * (d_alpha - torch.dot(alpha, d_alpha))
        d_w_c, d_b_c = torch.mv(gate.t(), d_score).mul_(ctx.scale), d_score.sum().reshape(1)
        d_gate = torch.outer(d_score, w_c * ctx.scale)
        if mask is not None:
            d_gate.mul_(mask)
        d_pre = torch.empty(h.shape[0], 2 * t.shape[1], dtype=h.dtype, device=h.device)
        attn = t.shape[1]
        d_a = torch.mul(d_gate, s, out=d_pre[:, :attn])
        d_a.addcmul_(d_a, t * t, value=-1.0)  # g s (1 - t²)
        d_b = torch.mul(d_gate, t, out=d_pre[:, attn:]).mul_(s)
        d_b.addcmul_(d_b, s, value=-1.0)  # g t s (1 - s)
        d_w_ab, d_b_ab = d_pre.t() @ h, d_pre.sum(0)
        d_h = torch.addmm(torch.outer(alpha, d_z), d_pre, w_ab).mul_(h > 0)
        d_w_p, d_b_p = d_h.t() @ bag, d_h.sum(0)
        d_bag = d_h @ w_p if ctx.needs_input_grad[0] else None
        return (
            d_bag,
            d_w_p,
            d_b_p,
            d_w_ab[:attn],
            d_b_ab[:attn],
            d_w_ab[attn:],
            d_b_ab[attn:],
            d_w_c,
            d_b_c,
            None,
            None,
        )


def encode(
    att: "GatedAttention", bag: torch.Tensor, encoder: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """z [E] and α [N] of a bag [N, D] through the MIL encoder's tensors, given in
    ``ENCODER_KEYS`` order (an expert's own, or a merge's); ``att`` gives the dropout."""
    w_p, b_p, w_a, b_a, w_b, b_b, w_c, b_c = encoder
    mask = att.mask(bag.shape[0], bag)
    return _Encoder.apply(bag, w_p, b_p, w_a, b_a, w_b, b_b, w_c[0], b_c, mask, 1.0 / att.keep)


class GatedAttention(nn.Module):
    """s_n = w_c · (drop(tanh(W_a h_n + b_a)) ⊙ drop(sigmoid(W_b h_n + b_b))) + c.

    The two independent dropout masks (keep probability q = 1 − p each) are drawn as one mask
    on the gated product with keep probability q², scaled by 1/q² — the product of two
    independent Bernoulli(q) masks scaled by 1/q each is exactly that, for one random draw.
    The mask is boolean and the scale is applied to the [N] scores, not the [N, A] gate.
    The module holds the parameters; ``ABMIL.embed`` computes with them.
    """

    def __init__(self, embed_dim: int, attn_dim: int, dropout: float) -> None:
        super().__init__()
        self.a = nn.Linear(embed_dim, attn_dim)
        self.b = nn.Linear(embed_dim, attn_dim)
        self.c = nn.Linear(attn_dim, 1)
        self.dropout = dropout

    @property
    def keep(self) -> float:
        """Probability that dropout keeps a gate entry (1 without dropout)."""
        return (1.0 - self.dropout) ** 2 if self.training and self.dropout > 0 else 1.0

    def mask(self, patches: int, like: torch.Tensor) -> torch.Tensor | None:
        """The boolean dropout mask of a bag of ``patches`` in training, else None."""
        if self.keep == 1.0:
            return None
        shape = (patches, self.a.out_features)
        return torch.rand(shape, dtype=like.dtype, device=like.device) < self.keep


class ABMIL(nn.Module):
    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.feat_proj = nn.Linear(arch.in_dim, arch.embed_dim)
        self.attention_net = GatedAttention(arch.embed_dim, arch.attn_dim, arch.dropout)
        self.head = nn.Linear(arch.embed_dim, arch.n_bins)

    def embed(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention-pooled bag embedding z [E] and attention weights α [N] of a bag [N, D]."""
        att = self.attention_net
        weights = (self.feat_proj, att.a, att.b, att.c)
        return encode(att, bag, [t for layer in weights for t in (layer.weight, layer.bias)])

    def forward(self, bag: torch.Tensor) -> torch.Tensor:
        """Hazard logits [T] of one bag [N, D]."""
        return self.head(self.embed(bag)[0])


def encoder_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """The parameters a task vector covers, in the fixed order, whatever order ``state`` has."""
    missing = [k for k in ENCODER_KEYS if k not in state]
    if missing:
        raise KeyError(f"not an ABMIL state: missing {', '.join(missing)}")
    return list(ENCODER_KEYS)
