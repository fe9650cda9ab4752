"""From hazard logits to survival curves and the risk score used everywhere.

Risk = -sum_j S_j (higher = worse): the negative of the expected number of bins survived,
so it ranks patients the same way as the restricted mean survival time, reversed.
"""

import numpy as np
import torch


def survival(logits: torch.Tensor) -> torch.Tensor:
    """S_j = prod_{i<=j} (1 - h_i): probability of surviving through bin j ([..., T])."""
    return torch.cumprod(1.0 - torch.sigmoid(logits), dim=-1)


def risk(logits: torch.Tensor) -> torch.Tensor:
    return -survival(logits).sum(-1)


def survival_at(surv: np.ndarray, width: float, times: np.ndarray) -> np.ndarray:
    """Survival probabilities at ``times`` (days) from discrete curves S [patients, T].

    S_j is the probability of surviving through bin j, i.e. to day (j + 1) · width; between
    bin edges the curve is interpolated linearly from S(0) = 1, and it stays at S_{T-1} past
    the last edge.
    """
    s = np.asarray(surv, dtype=np.float64)
    padded = np.concatenate([np.ones((len(s), 1)), s, s[:, -1:]], axis=1)  # edges 0..T, +flat
    position = np.clip(np.asarray(times, dtype=np.float64) / width, 0, s.shape[1])
    left = np.floor(position).astype(np.int64)
    frac = position - left
    return padded[:, left] * (1 - frac) + padded[:, left + 1] * frac
