"""Tiny model pools of random experts, for merge algebra worked out by hand."""

import torch

from steph_cli.merging.pool import Member, Pool
from steph_cli.models.abmil import ABMIL, Architecture, encoder_keys
from steph_cli.models.layout import Layout

ARCH = Architecture(in_dim=3, embed_dim=2, attn_dim=2, n_bins=2)


def random_state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) for k, v in ABMIL(ARCH).state_dict().items()}


def tiny_pool(n_sources: int = 2) -> Pool:
    init = random_state(0)
    layout = Layout.of(init, encoder_keys(init))
    target = Member("T", 0, "t", random_state(1))
    sources = [Member(f"S{i}", 0, f"s{i}", random_state(2 + i)) for i in range(n_sources)]
    return Pool(ARCH, init, "init", layout, target, sources)
