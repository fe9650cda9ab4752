"""Several bags in one forward pass, for accelerators, where one large product beats many
small ones.

Experts: the patches of all bags stacked into one [ΣN, D] matrix through the shared weights,
the attention softmax and pooling taken per bag (segment softmax, ``index_add``). STEPH: each
bag has its own merged encoder, so the merged parameters of all bags come from one product
(a [B, 2M] coefficient matrix with the top-k weights of each bag, times the stacked rows) and
the bags, padded to the longest, run through batched products (``baddbmm``) with padded
patches masked out of the softmax. Both equal the per-bag forward to float rounding (tested
on CPU, where the per-bag path is the faster one: ``bench/gpu.py``).
"""

from collections.abc import Sequence

import torch

from steph_cli.models.abmil import ABMIL
from steph_cli.models.merged import StephNet


def segments(bags: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(bag index of every stacked patch [ΣN], patches per bag [B])."""
    device = bags[0].device
    lengths = torch.tensor([len(b) for b in bags], device=device)
    return torch.repeat_interleave(torch.arange(len(bags), device=device), lengths), lengths


def segment_softmax(score: torch.Tensor, seg: torch.Tensor, count: int) -> torch.Tensor:
    """Softmax of ``score`` within each segment (the per-segment maximum is only a shift)."""
    top = torch.full((count,), -torch.inf, dtype=score.dtype, device=score.device)
    top = top.scatter_reduce(0, seg, score.detach(), "amax")
    e = torch.exp(score - top[seg])
    total = torch.zeros(count, dtype=score.dtype, device=score.device).index_add(0, seg, e)
    return e / total[seg]


def abmil_packed(model: ABMIL, bags: Sequence[torch.Tensor]) -> torch.Tensor:
    """Hazard logits [B, T] of ``bags`` through one expert."""
    x = torch.cat(list(bags))
    seg, _ = segments(bags)
    att = model.attention_net
    h = torch.relu(model.feat_proj(x))
    gate = torch.tanh(att.a(h)) * torch.sigmoid(att.b(h))
    mask = att.mask(len(x), x)
    if mask is not None:
        gate = gate * mask
    score = torch.mv(gate, att.c.weight[0]) / att.keep + att.c.bias
    alpha = segment_softmax(score, seg, len(bags))
    z = torch.zeros(len(bags), h.shape[1], dtype=h.dtype, device=h.device)
    return model.head(z.index_add(0, seg, alpha[:, None] * h))


def encoder_batched(
    p: dict[str, torch.Tensor], bags: Sequence[torch.Tensor], keep: float, training: bool
) -> torch.Tensor:
    """Bag embeddings z [B, E] with a different encoder per bag (``p``: [B, ...] tensors)."""
    x = torch.nn.utils.rnn.pad_sequence(list(bags), batch_first=True)  # [B, Nmax, D]
    lengths = torch.tensor([len(b) for b in bags], device=x.device)
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]

    def linear(inputs: torch.Tensor, name: str) -> torch.Tensor:
        weight, bias = p[f"{name}.weight"], p[f"{name}.bias"]
        return torch.baddbmm(bias[:, None, :], inputs, weight.transpose(1, 2))

    h = torch.relu(linear(x, "feat_proj"))
    gate = torch.tanh(linear(h, "attention_net.a")) * torch.sigmoid(linear(h, "attention_net.b"))
    if training and keep < 1.0:
        gate = gate * (torch.rand_like(gate) < keep)
    w_c, b_c = p["attention_net.c.weight"], p["attention_net.c.bias"]  # [B, 1, A], [B, 1]
    score = torch.bmm(gate, w_c.transpose(1, 2)).squeeze(-1) / keep + b_c
    alpha = torch.softmax(score.masked_fill(~valid, -torch.inf), dim=1)
    return torch.bmm(alpha[:, None, :], h).squeeze(1)


def packable(net: StephNet) -> bool:
    """Whether ``steph_packed`` covers this model: the paper's scope (the MIL encoder merged,
    the model's own head)."""
    return not net.merged_head and not net.fixed_layout.keys


def steph_mixing(
    net: StephNet, bags: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(w [B, M], λ [B, M], top-k indices [B, k]) of every bag: ``StephNet.mixing`` in one
    pass (the bag descriptors φ as segment means)."""
    seg, lengths = segments(bags)
    emb = torch.relu(net.embed(torch.cat(list(bags))))
    phi = torch.zeros(len(bags), emb.shape[1], dtype=emb.dtype, device=emb.device)
    return net.mix(phi.index_add(0, seg, emb) / lengths[:, None])


def steph_packed(
    net: StephNet,
    bags: Sequence[torch.Tensor],
    mixing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Hazard logits [B, T] of ``bags`` through a STEPH model, each bag with its own merged
    encoder (``mixing``: ``steph_mixing``'s result, when the caller needs it too)."""
    if not packable(net):
        raise ValueError("packed STEPH needs the encoder scope; use the per-bag forward")
    w, lam, top = mixing or steph_mixing(net, bags)
    m = w.shape[1]
    coef = torch.zeros(len(bags), 2 * m, dtype=w.dtype, device=w.device)
    coef = coef.scatter(1, top, w.gather(1, top)).scatter(1, top + m, (w * lam).gather(1, top))
    merged = net.layout.unflatten(net.base + coef @ net.rows)  # [B, ...] per parameter
    z = encoder_batched(merged, bags, net.body.attention_net.keep, net.training)
    return net.head(z)
