"""Tensor algebra of the static merges, on stacked task vectors (tested on tiny tensors).

Everything works on whole stacks at once — [M, P] rows or batches of matrices — never in a
Python loop over parameters × sources.
"""

import math
from collections.abc import Callable

import torch

from steph_cli.merging.pool import Pool

# (target rows [M, out, in], source rows [M, out, in]) -> merged [M, out, in]
MatrixMerge = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def trim(vectors: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the ceil(density · P) largest-magnitude entries of each row (last axis)."""
    keep = max(1, math.ceil(density * vectors.shape[-1]))
    threshold = vectors.abs().topk(keep, dim=-1).values[..., -1:]
    return vectors * (vectors.abs() >= threshold)


def ties_merge(vectors: torch.Tensor, density: float) -> torch.Tensor:
    """TIES over the second-to-last axis: [..., K, P] task vectors → [..., P]: trim each to
    its ``density`` share, elect each entry's sign from the trimmed sum, and average the
    entries that agree with it (a disjoint mean)."""
    trimmed = trim(vectors, density)
    sign = torch.sign(trimmed.sum(-2, keepdim=True))
    agree = (torch.sign(trimmed) == sign) & (trimmed != 0)
    total = (trimmed * agree).sum(-2)
    count = agree.sum(-2).clamp_min(1)
    return total / count


def isotropic(delta: torch.Tensor) -> torch.Tensor:
    """σ̄ U Vᵀ of each matrix in a batch [..., out, in]: the same directions, a flat spectrum."""
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    return s.mean(-1)[..., None, None] * (u @ vh)


def _orthonormal(basis: torch.Tensor) -> torch.Tensor:
    """The nearest matrix with orthonormal columns (polar factor), batched."""
    p, _, qh = torch.linalg.svd(basis, full_matrices=False)
    return p @ qh


def rank_split(rank: int, common_fraction: float, tasks: int) -> tuple[int, int]:
    """(common directions, directions per task) that use the whole rank: each task gets
    round((rank − ⌊f · rank⌋) / tasks) and the common subspace the rest, as the reference
    implementation splits it (splitting the common share first and flooring the tasks'
    drops a direction whenever the remainder is odd). The common subspace keeps at least
    one direction."""
    per_task = round((rank - int(common_fraction * rank)) / tasks)
    per_task = min(per_task, (rank - 1) // tasks)
    return rank - per_task * tasks, per_task


def iso_cts(tasks: list[torch.Tensor], common_fraction: float) -> torch.Tensor:
    """Merge task matrices [..., out, in] (same shape each) into one isotropic update.

    Keep the top ``common_fraction`` of the singular directions of Δ = Σ tasks (the common
    subspace); give each task an equal share of the remaining rank, taken from the top
    singular directions of what the common subspace does not explain; orthonormalise the
    joined bases; give every direction the mean of the kept singular values.
    """
    delta = sum(tasks)
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    rank = s.shape[-1]
    k, per_task = rank_split(rank, common_fraction, len(tasks))
    us, vs, sigmas = [u[..., :k]], [vh[..., :k, :].mT], [s[..., :k]]
    if per_task:
        common = u[..., :k]
        for task in tasks:
            residual = task - common @ (common.mT @ task)
            tu, ts, tvh = torch.linalg.svd(residual, full_matrices=False)
            us.append(tu[..., :per_task])
            vs.append(tvh[..., :per_task, :].mT)
            sigmas.append(ts[..., :per_task])
    u_all = _orthonormal(torch.cat(us, dim=-1))
    v_all = _orthonormal(torch.cat(vs, dim=-1))
    sigma = torch.cat(sigmas, dim=-1).mean(-1)[..., None, None]
    return sigma * (u_all @ v_all.mT)


def pairwise(pool: Pool, merge_matrix: MatrixMerge) -> torch.Tensor:
    """Apply ``merge_matrix`` to every 2-D parameter of all (τ_t, τ_s) pairs at once; sum the
    pairs' other parameters. Returns the merged rows [M, P]."""
    layout = pool.layout
    sources = pool.source_vectors
    target = pool.target_vector.expand_as(sources)
    t_parts, s_parts = layout.unflatten(target), layout.unflatten(sources)
    matrices = set(layout.matrices())
    merged = {
        k: merge_matrix(t_parts[k], s_parts[k]) if k in matrices else t_parts[k] + s_parts[k]
        for k in layout.keys
    }
    return torch.cat([merged[k].reshape(len(sources), -1) for k in layout.keys], dim=1)


def ties_pairs(pool: Pool, density: float) -> torch.Tensor:
    """TIES of the target's task vector with each source's: [M, P]."""
    sources = pool.source_vectors
    pairs = torch.stack([pool.target_vector.expand_as(sources), sources], dim=1)  # [M, 2, P]
    return ties_merge(pairs, density)
