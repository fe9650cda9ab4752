"""Merges with learned parts, trained by the shared loop: scalar weights over [M, P] rows.

θ_encoder = θ_init + Σ_i w_i row_i with w initialised to 1/M, and a fresh prediction head.
Frozen: θ_init and the rows (buffers); trainable: w and the head.
"""

import torch
from torch import nn
from torch.func import functional_call

from steph_cli.merging.layout import Layout
from steph_cli.models.abmil import ABMIL, Architecture


def fresh_head(arch: Architecture, seed: int) -> nn.Linear:
    """A new prediction head, initialised from ``seed`` alone (reproducible)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(arch.embed_dim, arch.n_bins)


class MergedModule(nn.Module):
    """Common frame of learned merges: a frozen ABMIL ``body`` run with merged encoder
    tensors through ``torch.func.functional_call`` (so gradients reach whatever produced
    them), and a new head."""

    base: torch.Tensor  # θ_init, flattened over the encoder (a frozen buffer)

    def __init__(
        self,
        arch: Architecture,
        layout: Layout,
        base: torch.Tensor,
        seed: int,
        head: dict[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.layout = layout
        self.register_buffer("base", base.detach().clone())
        self.body = ABMIL(arch).requires_grad_(False)
        self.head = fresh_head(arch, seed)
        if head is not None:  # start from a trained head (the target expert's)
            with torch.no_grad():
                self.head.weight.copy_(head["head.weight"])
                self.head.bias.copy_(head["head.bias"])

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def run(self, encoder_flat: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
        params = {
            **self.layout.unflatten(encoder_flat),
            "head.weight": self.head.weight,
            "head.bias": self.head.bias,
        }
        return functional_call(self.body, params, (bag,))

    def export(self, encoder_flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """A plain ABMIL state dict (runs like an expert)."""
        return {
            **{k: v.detach() for k, v in self.layout.unflatten(encoder_flat).items()},
            "head.weight": self.head.weight.detach(),
            "head.bias": self.head.bias.detach(),
        }


class ScalarMerge(MergedModule):
    rows: torch.Tensor

    def __init__(
        self,
        arch: Architecture,
        layout: Layout,
        base: torch.Tensor,
        rows: torch.Tensor,
        seed: int,
        head: dict[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__(arch, layout, base, seed, head)
        self.register_buffer("rows", rows.detach().clone())
        self.weights = nn.Parameter(torch.full((len(rows),), 1.0 / len(rows)))

    def encoder(self) -> torch.Tensor:
        return self.base + self.weights @ self.rows

    def forward(self, bag: torch.Tensor) -> torch.Tensor:
        return self.run(self.encoder(), bag)
