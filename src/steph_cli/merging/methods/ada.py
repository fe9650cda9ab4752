"""ada: θ = θ_init + Σ_i w_i τ_{s_i} with learnable scalar weights (initialised 1/M) and a
new head, trained like STEPH."""

import torch

from steph_cli.merging.methods import register
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool


@register("ada", "scalar", "learned scalar weight per source task vector + new head")
def build(pool: Pool, options: MergeOptions) -> torch.Tensor:
    return pool.source_vectors
