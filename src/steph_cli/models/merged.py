"""Models made by learned merges: what runs at inference, apart from how it is trained.

Both run a frozen ABMIL ``body`` with merged encoder tensors through
``torch.func.functional_call`` (so gradients reach whatever produced them) and a new head:

- :class:`ScalarMerge`: θ_encoder = θ_init + Σ_i w_i row_i, with learnable scalars w
  (initialised 1/M) over fixed [M, P] rows (ada, and TIES / Iso-C / Iso-CTS pairs).
- :class:`StephNet`: STEPH's per-bag merge (METHOD §4). Per bag X: φ(X) = mean_n ReLU(U x_n +
  u); merging weights w = act(MLP_w(φ)) and mixup shares λ = 1 / (1 + ReLU(MLP_r(φ))) per
  source; the top-k sources by w are mixed with the target's task vector and summed:

      θ(X) = θ_init + Σ_{i∈K} w_i [λ_i τ_t + (1 − λ_i) τ_{s_i}]
           = θ_init + Σ_{i∈K} w_i τ_{s_i} + Σ_{i∈K} w_i λ_i Δ_i,    Δ_i = τ_t − τ_{s_i},

  computed as one gather of 2k rows of the precomputed [τ_s; Δ] stack and one product.
  Inference costs one embedding and one expert forward, whatever the number of sources.

Departures from the reference setup, both to avoid its collapse (all w = 0 with a ReLU
output, the "merge" reduced to θ_init): the weight head's output activation is a choice
(softplus by default, which never has a zero gradient), and its last layer starts with a
small weight and a bias of act⁻¹(1/k), so that Σ_K w ≈ 1 and θ(X) starts near the target
expert's encoder instead of far from any trained model.
"""

import math
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from steph_cli.models.abmil import ABMIL, ENCODER_KEYS, Architecture
from steph_cli.models.layout import Layout

ACTIVATIONS = {
    "relu": (torch.relu, lambda y: y),
    "softplus": (nn.functional.softplus, lambda y: math.log(math.expm1(y))),
    "sigmoid": (torch.sigmoid, lambda y: math.log(y / (1 - y))),
}
LAST_LAYER_SCALE = 0.1


def fresh_head(arch: Architecture, seed: int) -> nn.Linear:
    """A new prediction head, initialised from ``seed`` alone (reproducible)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(arch.embed_dim, arch.n_bins)


class MergedModule(nn.Module):
    """Common frame of learned merges: θ_init's encoder (a frozen buffer), a frozen ABMIL
    ``body`` run with merged encoder tensors, and a new head."""

    base: torch.Tensor  # θ_init, flattened over the encoder

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

    def params(self, encoder_flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ABMIL parameters of this merged encoder and the head."""
        return {
            **self.layout.unflatten(encoder_flat),
            "head.weight": self.head.weight,
            "head.bias": self.head.bias,
        }

    def run(self, encoder_flat: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
        return functional_call(self.body, self.params(encoder_flat), (bag,))

    def export(self, encoder_flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """A plain ABMIL state dict (runs like an expert)."""
        return {k: v.detach() for k, v in self.params(encoder_flat).items()}


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


def mlp(embed_dim: int, outputs: int, dropout: float = 0.25) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(embed_dim, embed_dim),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(embed_dim, outputs),
    )


HEAD_KEYS = ("head.weight", "head.bias")
# What a STEPH merge covers: the merged parameters, and those taken from its base as they are.
SCOPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "encoder": (ENCODER_KEYS, ()),
    "head": (HEAD_KEYS, ENCODER_KEYS),
    "all": (ENCODER_KEYS + HEAD_KEYS, ()),
}
LAMBDA_MODES = ("hyper", "source", "fixed")


class StephNet(MergedModule):
    """The STEPH model over the parameters of its ``layout`` (the MIL encoder by default).

    Variants: λ from the hypernetwork per bag (``hyper``), one learned value per source
    (``source``) or one fixed value (``fixed``; 0 gives input-dependent weights without
    mixup); parameters outside the layout come from ``fixed`` (its base, frozen), and the
    head is either the model's own (trained) or merged like the rest.
    """

    target_vector: torch.Tensor
    source_vectors: torch.Tensor
    rows: torch.Tensor
    fixed_flat: torch.Tensor

    def __init__(
        self,
        arch: Architecture,
        layout: Layout,
        base: torch.Tensor,
        target_vector: torch.Tensor,
        source_vectors: torch.Tensor,
        top_k: int,
        activation: str,
        seed: int,
        weight_bias: float | None = None,
        head: dict[str, torch.Tensor] | None = None,
        lambda_mode: str = "hyper",
        lambda_value: float = 0.5,
        fixed: dict[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__(arch, layout, base, seed, head)
        m = len(source_vectors)
        self.k = min(top_k, m)
        self.lambda_mode, self.lambda_value = lambda_mode, lambda_value
        self.merged_head = HEAD_KEYS[0] in layout.keys
        if self.merged_head:
            self.head.requires_grad_(False)  # the merge makes the head
        fixed = fixed or {}
        self.fixed_layout = Layout.of(fixed, sorted(fixed))
        self.register_buffer(
            "fixed_flat", self.fixed_layout.flatten(fixed) if fixed else torch.zeros(0)
        )
        self.register_buffer("target_vector", target_vector.detach().clone())
        self.register_buffer("source_vectors", source_vectors.detach().clone())
        self.register_buffer("rows", torch.empty(0), persistent=False)
        self.stack_rows()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.embed = nn.Linear(arch.in_dim, arch.embed_dim)
            self.weight_head = mlp(arch.embed_dim, m)
            if lambda_mode == "hyper":
                self.ratio_head = mlp(arch.embed_dim, m)
        if lambda_mode == "source":
            self.ratios = nn.Parameter(torch.zeros(m))  # λ = 1 / (1 + ReLU(r)) starts at 1
        act, inverse = ACTIVATIONS[activation]
        self.act = act
        last = self.weight_head[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.mul_(LAST_LAYER_SCALE)
            last.bias.fill_(inverse(1.0 / self.k) if weight_bias is None else weight_bias)

    def stack_rows(self) -> None:
        """[τ_s; Δ] stacked once (and again after loading a file): the per-bag merge gathers
        2k of these rows."""
        self.rows = torch.cat([self.source_vectors, self.target_vector - self.source_vectors])

    def mixing(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w [M], λ [M], indices of the top-k w) for one bag."""
        return self.mix(torch.relu(self.embed(bag)).mean(0))

    def mix(self, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w, λ, top-k indices of w) from bag descriptors φ [..., E] (one bag or a batch)."""
        w = self.act(self.weight_head(phi))
        if self.lambda_mode == "hyper":
            lam = 1.0 / (1.0 + torch.relu(self.ratio_head(phi)))
        elif self.lambda_mode == "source":
            lam = (1.0 / (1.0 + torch.relu(self.ratios))).expand_as(w)
        else:
            lam = torch.full_like(w, self.lambda_value)
        return w, lam, w.topk(self.k, dim=-1).indices

    def encoder(self, w: torch.Tensor, lam: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        """The merged parameters (of the layout) for these weights and shares."""
        m = len(self.source_vectors)
        coef = torch.cat([w[top], w[top] * lam[top]])
        return self.base + coef @ self.rows.index_select(0, torch.cat([top, top + m]))

    def run(self, merged_flat: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
        params = self.fixed_layout.unflatten(self.fixed_flat) if self.fixed_layout.keys else {}
        params |= self.layout.unflatten(merged_flat)
        if not self.merged_head:
            params |= {"head.weight": self.head.weight, "head.bias": self.head.bias}
        return functional_call(self.body, params, (bag,))

    def forward(self, bag: torch.Tensor) -> torch.Tensor:
        w, lam, top = self.mixing(bag)
        return self.run(self.encoder(w, lam, top), bag)

    def portable(self) -> dict[str, torch.Tensor]:
        """Everything needed to run the merged model alone: hypernetwork, head, the base and
        the stacked task vectors (a self-contained file for prediction)."""
        return {k: v.detach() for k, v in self.state_dict().items() if not k.startswith("body.")}


def build_steph(
    arch: Architecture,
    scope: str,
    init: dict[str, torch.Tensor],
    target: dict[str, torch.Tensor],
    sources: list[dict[str, torch.Tensor]],
    base: dict[str, torch.Tensor],
    top_k: int,
    activation: str,
    seed: int,
    **variant: Any,
) -> StephNet:
    """A STEPH model merging ``scope``'s parameters: task vectors τ = expert − θ_init of the
    target and each source, added to ``base`` (θ_init or the target expert), which also
    gives the parameters outside the scope. ``variant``: weight_bias, head, lambda_mode,
    lambda_value."""
    merged, kept = SCOPES[scope]
    layout = Layout.of(init, list(merged))
    start = layout.flatten(init)
    return StephNet(
        arch,
        layout,
        layout.flatten(base),
        layout.flatten(target) - start,
        layout.stack(sources) - start,
        top_k,
        activation,
        seed,
        fixed={k: base[k] for k in kept},
        **variant,
    )


class RoutingNet(nn.Module):
    """Routing (ROUPKT-style): the target's and the sources' experts all run on the bag and
    a learned router mixes their hazards per patient, h(X) = Σ_i g_i(X) sigmoid(logits_i(X)),
    g = softmax(MLP(φ(X))) with φ the mean of ReLU(U x + u) as in STEPH. Only the router
    trains; inference costs M + 1 expert forwards and one embedding."""

    def __init__(self, arch: Architecture, experts: list[dict[str, torch.Tensor]], seed: int):
        super().__init__()
        self.experts = nn.ModuleList(ABMIL(arch) for _ in experts)
        for net, state in zip(self.experts, experts, strict=True):
            net.load_state_dict(state)
        self.experts.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.embed = nn.Linear(arch.in_dim, arch.embed_dim)
            self.router = mlp(arch.embed_dim, len(experts))
        last = self.router[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():  # start from an even mixture
            last.weight.mul_(LAST_LAYER_SCALE)
            last.bias.zero_()

    def train(self, mode: bool = True) -> "RoutingNet":
        super().train(mode)
        self.experts.eval()  # frozen experts never draw dropout masks
        return self

    def gates(self, bag: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.router(torch.relu(self.embed(bag)).mean(0)), dim=0)

    def forward(self, bag: torch.Tensor) -> torch.Tensor:
        hazards = torch.stack([torch.sigmoid(net(bag)) for net in self.experts])  # [M+1, T]
        mixed = (self.gates(bag)[:, None] * hazards).sum(0).clamp(1e-7, 1 - 1e-7)
        return torch.log(mixed) - torch.log1p(-mixed)  # back to logits
