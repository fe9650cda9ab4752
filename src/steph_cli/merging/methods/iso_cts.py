"""Iso-CTS (Marczak et al., ICML 2025): isotropic merging in common and task-specific subspaces.

For every weight matrix of a (τ_t, τ_s) pair: keep the top ``common_fraction`` of the singular
directions of Δ = τ_t + τ_s (the common subspace); give each of the two task matrices an equal
share of the remaining rank, taken from the top singular directions of what the common
subspace does not explain; orthonormalise the joined bases; and give every direction the
same singular value, the mean of the kept ones. Biases are summed.
"""

import torch

from steph_cli.merging.methods import register
from steph_cli.merging.methods.iso_c import pairwise
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool


def _orthonormal(basis: torch.Tensor) -> torch.Tensor:
    """The nearest matrix with orthonormal columns (polar factor), batched."""
    p, _, qh = torch.linalg.svd(basis, full_matrices=False)
    return p @ qh


def iso_cts(tasks: list[torch.Tensor], common_fraction: float) -> torch.Tensor:
    """Merge task matrices [..., out, in] (same shape each) into one isotropic update."""
    delta = sum(tasks)
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    rank = s.shape[-1]
    k = min(rank, max(1, round(common_fraction * rank)))
    per_task = (rank - k) // len(tasks)
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


@register("iso-cts", "scalar", "Iso-CTS of (τ_t, τ_s) pairs, learned weights + new head")
def build(pool: Pool, options: MergeOptions) -> torch.Tensor:
    return pairwise(pool, lambda t, s: iso_cts([t, s], options.common_fraction))
