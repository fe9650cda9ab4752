"""Task vectors τ = θ_expert − θ_init over the MIL encoder, their files and their geometry."""

from dataclasses import dataclass
from pathlib import Path

import torch

from steph_cli.hooks import NO_HOOKS, Hooks
from steph_cli.merging.pool import load_expert, load_init
from steph_cli.models import io, provenance
from steph_cli.models.abmil import encoder_keys
from steph_cli.models.layout import Layout
from steph_cli.workspace.paths import Workspace


@dataclass(frozen=True)
class VectorResult:
    cohort: str
    fold: int
    written: bool  # False when an up-to-date file was already there


def write_vector(
    ws: Workspace, cohort: str, fold: int, force: bool = False, hooks: Hooks = NO_HOOKS
) -> VectorResult:
    """Write ``vectors/COHORT/fold{K}.safetensors`` unless it is current for its expert and
    θ_init (a task: it has no progress for ``hooks``). A vector has no options of its own, so
    one made from another expert is simply remade, never refused."""
    init, init_sha = load_init(ws)
    member = load_expert(ws, cohort, fold, init.arch, init_sha)
    path = ws.vector_file(cohort, fold)
    made_from = provenance.now(ws, provenance.vector_inputs(ws, cohort, fold), {})
    record = provenance.recorded(path) if path.is_file() else None
    if not force and record is not None and not made_from.changes(record):
        return VectorResult(cohort, fold, written=False)
    keys = encoder_keys(init.tensors)
    tau = {k: member.state[k] - init.tensors[k] for k in keys}
    io.write(
        path,
        tau,
        "vector",
        init.arch,
        cohort=cohort,
        fold=str(fold),
        init_sha256=init_sha,
        expert_sha256=member.sha256,
        fingerprint=made_from.to_json(),
    )
    return VectorResult(cohort, fold, written=True)


@dataclass(frozen=True)
class VectorReport:
    fold: int
    cohorts: list[str]
    layers: list[str]  # modules, e.g. feat_proj, attention_net.a
    norms: list[dict[str, float]]  # per cohort: "total" and one entry per layer
    cosine: list[list[float]]  # cohort × cohort


def report(ws: Workspace, cohorts: list[str], fold: int) -> VectorReport:
    """Norms (total and per layer) and pairwise cosine similarities of the stored vectors."""
    states = [io.read(ws.vector_file(c, fold), kind="vector").tensors for c in cohorts]
    layout = Layout.of(states[0], encoder_keys(states[0]))
    stacked = layout.stack(states).double()  # [C, P]
    layers: dict[str, list[int]] = {}  # layer (module) -> its flat indices, weight and bias
    for key, part in layout.slices().items():
        layers.setdefault(key.rsplit(".", 1)[0], []).extend(range(part.start, part.stop))
    index = {name: torch.tensor(ix) for name, ix in layers.items()}
    norms = [
        {"total": float(row.norm()), **{n: float(row[ix].norm()) for n, ix in index.items()}}
        for row in stacked
    ]
    unit = stacked / stacked.norm(dim=1, keepdim=True).clamp_min(1e-30)
    cosine = (unit @ unit.T).tolist()
    return VectorReport(fold, cohorts, list(layers), norms, cosine)


def similarity_plot(rep: VectorReport, path) -> None:  # type: ignore[no-untyped-def]
    """Heatmap of the cosine table (needs the ``plot`` extra)."""
    from steph_cli.plotting import pyplot

    plt = pyplot()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    n = len(rep.cohorts)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
    image = ax.imshow(rep.cosine, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), rep.cohorts, rotation=45, ha="right")
    ax.set_yticks(range(n), rep.cohorts)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{rep.cosine[i][j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"task-vector cosine similarity (fold {rep.fold})")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
