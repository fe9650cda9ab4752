"""STEPH: sparse task-vector mixup driven by a hypernetwork (METHOD §4).

Per bag X: φ(X) = mean_n ReLU(U x_n + u); merging weights w = act(MLP_w(φ)) and mixup shares
λ = 1 / (1 + ReLU(MLP_r(φ))) per source; the top-k sources by w are mixed with the target's
task vector and summed:

    θ(X) = θ_init + Σ_{i∈K} w_i [λ_i τ_t + (1 − λ_i) τ_{s_i}]
         = θ_init + Σ_{i∈K} w_i τ_{s_i} + Σ_{i∈K} w_i λ_i Δ_i,    Δ_i = τ_t − τ_{s_i},

computed as one gather of 2k rows of the precomputed [τ_s; Δ] stack and one product. The
expert architecture then runs with θ(X) and a new head. Inference costs one embedding and
one expert forward, whatever the number of sources.

Departures from the reference setup, both to avoid its collapse (all w = 0 with a ReLU
output, the "merge" reduced to θ_init): the weight head's output activation is an option
(softplus by default, which never has a zero gradient), and its last layer starts with a
small weight and a bias of act⁻¹(1/k), so that Σ_K w ≈ 1 and θ(X) starts near the target
expert's encoder instead of far from any trained model.
"""

import math

import torch
from torch import nn

from steph_cli.merging.layout import Layout
from steph_cli.merging.learned import MergedModule
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool
from steph_cli.models.abmil import Architecture
from steph_cli.progress import Progress
from steph_cli.survival.metrics import Metric
from steph_cli.training.config import TrainConfig
from steph_cli.training.fold import FoldData
from steph_cli.workspace.runs import Run

ACTIVATIONS = {
    "relu": (torch.relu, lambda y: y),
    "softplus": (nn.functional.softplus, lambda y: math.log(math.expm1(y))),
    "sigmoid": (torch.sigmoid, lambda y: math.log(y / (1 - y))),
}
LAST_LAYER_SCALE = 0.1
# An epoch whose mean Σ_{i∈K} w_i is below this has collapsed: the merge adds under 1% of one
# task vector to θ_init (by default the weights start summing to 1; exact zeros only happen
# with a ReLU output).
COLLAPSE_BELOW = 0.01


def mlp(embed_dim: int, outputs: int, dropout: float = 0.25) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(embed_dim, embed_dim),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(embed_dim, outputs),
    )


def regularisers(
    w: torch.Tensor, lam: torch.Tensor, top: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z-loss + load balance on w, mean λ² over the selected) for one bag.

    z-loss (logsumexp_i w_i)² plus Σ_i w_i d_i with d_i = 1/k for the selected i, else 0.
    """
    balance = torch.logsumexp(w, dim=0) ** 2 + w[top].sum() / k
    return balance, (lam[top] ** 2).mean()


class Steph(MergedModule):
    target_vector: torch.Tensor
    source_vectors: torch.Tensor
    rows: torch.Tensor

    def __init__(
        self,
        arch: Architecture,
        layout: Layout,
        base: torch.Tensor,
        target_vector: torch.Tensor,
        source_vectors: torch.Tensor,
        options: MergeOptions,
        seed: int,
        head: dict[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__(arch, layout, base, seed, head)
        m = len(source_vectors)
        self.k = min(options.top_k, m)
        self.register_buffer("target_vector", target_vector.detach().clone())
        self.register_buffer("source_vectors", source_vectors.detach().clone())
        self.register_buffer("rows", torch.empty(0), persistent=False)
        self.stack_rows()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.embed = nn.Linear(arch.in_dim, arch.embed_dim)
            self.weight_head = mlp(arch.embed_dim, m)
            self.ratio_head = mlp(arch.embed_dim, m)
        act, inverse = ACTIVATIONS[options.weight_activation]
        self.act = act
        last = self.weight_head[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.mul_(LAST_LAYER_SCALE)
            last.bias.fill_(
                inverse(1.0 / self.k) if options.weight_bias is None else options.weight_bias
            )

    def stack_rows(self) -> None:
        """[τ_s; Δ] stacked once (and again after loading a file): the per-bag merge gathers
        2k of these rows."""
        self.rows = torch.cat([self.source_vectors, self.target_vector - self.source_vectors])

    def mixing(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w [M], λ [M], indices of the top-k w) for one bag."""
        phi = torch.relu(self.embed(bag)).mean(0)
        w = self.act(self.weight_head(phi))
        lam = 1.0 / (1.0 + torch.relu(self.ratio_head(phi)))
        return w, lam, w.topk(self.k).indices

    def encoder(self, w: torch.Tensor, lam: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        m = len(self.source_vectors)
        coef = torch.cat([w[top], w[top] * lam[top]])
        return self.base + coef @ self.rows.index_select(0, torch.cat([top, top + m]))

    def forward(self, bag: torch.Tensor) -> torch.Tensor:
        w, lam, top = self.mixing(bag)
        return self.run(self.encoder(w, lam, top), bag)


def train_steph(
    pool: Pool,
    options: MergeOptions,
    config: TrainConfig,
    data: FoldData,
    run: Run,
    progress: Progress,
) -> tuple[
    dict[str, torch.Tensor],
    Metric,
    dict[str, dict[str, float]],
    list[dict[str, float]],
    dict[str, object],
]:
    model = Steph(
        pool.arch,
        pool.layout,
        pool.base,
        pool.target_vector,
        pool.source_vectors,
        options,
        config.seed,
        head=pool.target.state if options.head_init == "target" else None,
    )
    model.to(data.device).train()
    names = pool.names
    eye = torch.eye(len(names), device=data.device)

    def forward(bag: torch.Tensor):  # type: ignore[no-untyped-def]
        w, lam, top = model.mixing(bag)
        logits = model.run(model.encoder(w, lam, top), bag)
        balance, shares = regularisers(w, lam, top, model.k)
        extra = options.beta_w * balance + options.beta_lambda * shares
        selected = eye[top].sum(0)
        terms = {
            "balance": balance.item(),
            "lambda_l2": shares.item(),
            "selected_w": w[top].sum().item(),
        }
        for i, name in enumerate(names):
            terms[f"w:{name}"] = w[i].item()
            terms[f"lambda:{name}"] = lam[i].item()
            terms[f"selected:{name}"] = selected[i].item()
        return logits, extra, terms

    collapsed: list[int] = []

    def check_collapse(record: dict[str, float]) -> dict[str, float]:
        if record["selected_w"] < COLLAPSE_BELOW:
            collapsed.append(int(record["epoch"]))
        return record

    history = data.fit(
        model.trainable(),
        forward,
        config,
        run,
        progress,
        f"{pool.target.cohort} steph fold {data.fold}",
        annotate=check_collapse,
    )
    model.eval()
    cindex = data.test_cindex(model)
    last = history[-1]
    stats = {
        n: {
            "weight": last[f"w:{n}"],
            "lambda": last[f"lambda:{n}"],
            "selected": last[f"selected:{n}"],
        }
        for n in names
    }
    extra_meta: dict[str, object] = {"top_k": model.k, "collapsed_epochs": collapsed}
    if collapsed:
        run.log("collapse", epochs=collapsed)
    return export(model), cindex, stats, history, extra_meta


def export(model: Steph) -> dict[str, torch.Tensor]:
    """Everything needed to run the merged model alone: hypernetwork, head, θ_init's encoder
    and the stacked task vectors (a self-contained file for `steph predict`)."""
    return {k: v.detach() for k, v in model.state_dict().items() if not k.startswith("body.")}
