"""Task vectors τ = θ_expert − θ_init over the MIL encoder, their files and their geometry."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def similarity_figure(rep: VectorReport) -> Any:
    """Heatmap of the cosine table, cohorts ordered by hierarchical clustering (average
    linkage on 1 − cosine) so that similar cancers sit together; a sequential colour map
    when every similarity is ≥ 0, a diverging one centred on 0 otherwise."""
    import numpy as np
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    from steph_cli.plotting import pyplot

    plt = pyplot()
    cosine = np.asarray(rep.cosine)
    n = len(rep.cohorts)
    order = list(range(n))
    if n > 2:
        distance = np.clip(1.0 - cosine, 0.0, None)
        np.fill_diagonal(distance, 0.0)
        order = leaves_list(linkage(squareform((distance + distance.T) / 2), "average")).tolist()
    shown = cosine[np.ix_(order, order)]
    names = [rep.cohorts[i] for i in order]
    if shown.min() >= 0:
        cmap, low, high = "viridis", 0.0, 1.0
    else:
        bound = float(np.abs(shown).max())
        cmap, low, high = "RdBu_r", -bound, bound
    fig, ax = plt.subplots(figsize=(2.2 + 0.6 * n, 1.6 + 0.55 * n), layout="constrained")
    image = ax.imshow(shown, vmin=low, vmax=high, cmap=cmap)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    for i in range(n):
        for j in range(n):
            r, g, b, _ = image.cmap(image.norm(shown[i, j]))
            light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
            ax.text(
                j,
                i,
                f"{shown[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if light else "white",
            )
    ax.set_title(f"Task-vector cosine similarity\n(fold {rep.fold}, clustered)", fontsize=9)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("cosine similarity")
    return fig


def similarity_plot(rep: VectorReport, path: Path) -> Path:
    """The heatmap saved as PNG, SVG or PDF (by the file's suffix; the ``plot`` extra)."""
    from steph_cli.plotting import save

    return save(similarity_figure(rep), path)
