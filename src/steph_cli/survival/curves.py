"""From hazard logits to survival curves and the risk score used everywhere.

Risk = -sum_j S_j (higher = worse): the negative of the expected number of bins survived,
so it ranks patients the same way as the restricted mean survival time, reversed.
"""

import torch


def hazards(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits)


def survival(logits: torch.Tensor) -> torch.Tensor:
    """S_j = prod_{i<=j} (1 - h_i): probability of surviving through bin j ([..., T])."""
    return torch.cumprod(1.0 - torch.sigmoid(logits), dim=-1)


def risk(logits: torch.Tensor) -> torch.Tensor:
    return -survival(logits).sum(-1)
