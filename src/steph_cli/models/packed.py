"""Several bags in one forward pass: on accelerators, where one large product beats many
small ones, and on CPUs for small bags, where per-operation costs outweigh the products
(``training.fold.packs`` decides).

Experts and scalar-weight merges: the patches of all bags stacked into one [ΣN, D] matrix
through the shared weights, the attention softmax and pooling taken per bag (segment
softmax, ``index_add``). STEPH: each bag has its own merged encoder, so the merged
parameters of all bags come from one product (a [B, 2M] coefficient matrix with the top-k
weights of each bag, times the stacked rows); on accelerators the bags, padded to the
longest, run through batched products (``baddbmm``) with padded patches masked out of the
softmax, on CPUs each bag through the fused per-bag node (``steph_grouped``). All equal the
per-bag forward to float rounding (tested; speeds in ``bench/gpu.py`` and docs/training.md).
"""

from collections.abc import Sequence

import torch

from steph_cli.models.abmil import ABMIL, ENCODER_KEYS, GatedAttention, encode
from steph_cli.models.merged import ScalarMerge, StephNet


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
    return packed_logits(dict(model.named_parameters()), model.attention_net, bags)


def scalar_packed(net: ScalarMerge, bags: Sequence[torch.Tensor]) -> torch.Tensor:
    """Hazard logits [B, T] of ``bags`` through a scalar-weight merge (one merged encoder for
    every bag of the group, as in the per-bag forward)."""
    return packed_logits(net.params(net.encoder()), net.body.attention_net, bags)


def packed_logits(
    p: dict[str, torch.Tensor], att: GatedAttention, bags: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Hazard logits [B, T] of ``bags`` through one ABMIL with parameters ``p`` (ABMIL's
    names; ``att`` gives the dropout)."""
    x = torch.cat(list(bags))
    seg, _ = segments(bags)
    h = torch.relu(torch.addmm(p["feat_proj.bias"], x, p["feat_proj.weight"].t()))
    a = torch.addmm(p["attention_net.a.bias"], h, p["attention_net.a.weight"].t())
    b = torch.addmm(p["attention_net.b.bias"], h, p["attention_net.b.weight"].t())
    gate = torch.tanh(a) * torch.sigmoid(b)
    mask = att.mask(len(x), x)
    if mask is not None:
        gate = gate * mask
    score = torch.mv(gate, p["attention_net.c.weight"][0]) / att.keep + p["attention_net.c.bias"]
    alpha = segment_softmax(score, seg, len(bags))
    z = torch.zeros(len(bags), h.shape[1], dtype=h.dtype, device=h.device)
    z = z.index_add(0, seg, alpha[:, None] * h)
    return torch.addmm(p["head.bias"], z, p["head.weight"].t())


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


def _merged_rows(
    net: StephNet, mixing: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Every bag's merged encoder [B, P]: one [B, 2M] × [2M, P] product, the coefficient
    matrix holding each bag's top-k weights and weight × share."""
    w, lam, top = mixing
    m = w.shape[1]
    coef = torch.zeros(len(w), 2 * m, dtype=w.dtype, device=w.device)
    coef = coef.scatter(1, top, w.gather(1, top)).scatter(1, top + m, (w * lam).gather(1, top))
    return net.base + coef @ net.rows


def steph_packed(
    net: StephNet,
    bags: Sequence[torch.Tensor],
    mixing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Hazard logits [B, T] of ``bags`` through a STEPH model, each bag with its own merged
    encoder (``mixing``: ``steph_mixing``'s result, when the caller needs it too)."""
    if not packable(net):
        raise ValueError("packed STEPH needs the encoder scope; use the per-bag forward")
    merged = net.layout.unflatten(_merged_rows(net, mixing or steph_mixing(net, bags)))
    z = encoder_batched(merged, bags, net.body.attention_net.keep, net.training)
    return net.head(z)


def steph_grouped(
    net: StephNet,
    bags: Sequence[torch.Tensor],
    mixing: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """``steph_packed`` for CPUs: the mixing, the merged encoders and the head for the whole
    group, but each bag through the fused per-bag encoder node with its own merged tensors,
    unpadded (batched products of padded bags cost more there than they save)."""
    if not packable(net):
        raise ValueError("grouped STEPH needs the encoder scope; use the per-bag forward")
    rows = _merged_rows(net, mixing or steph_mixing(net, bags))
    att, unflatten = net.body.attention_net, net.layout.unflatten
    z = [
        encode(att, bag, [p[k] for k in ENCODER_KEYS])[0]
        for p, bag in zip(map(unflatten, rows.unbind(0)), bags, strict=True)
    ]
    return net.head(torch.stack(z))
