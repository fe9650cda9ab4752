"""The discrete-time negative log-likelihood of METHOD §2, with an upweighted uncensored term.

With hazards h = sigmoid(logits), S_0 = 1, S_j = prod_{i<j} (1 - h_i) and y = bin(t):

- uncensored: L_u = -log S_y - log h_y      (survived to the start of bin y, then the event)
- censored:   L_c = -log S_{y+1}            (survived through bin y)
- L = (1 - alpha_u) (L_u + L_c) + alpha_u L_u, each log clamped at 1e-7, mean over the batch.

With alpha_u = 0 this is the logistic-hazard NLL of Kvamme & Borgan (pycox's
``nll_logistic_hazard``).
"""

import torch

EPS = 1e-7


def nll_loss(
    logits: torch.Tensor, bins: torch.Tensor, events: torch.Tensor, alpha_u: float = 0.5
) -> torch.Tensor:
    """Mean NLL over the batch (see :func:`nll_losses`)."""
    return nll_losses(logits, bins, events, alpha_u).mean()


def nll_losses(
    logits: torch.Tensor, bins: torch.Tensor, events: torch.Tensor, alpha_u: float = 0.5
) -> torch.Tensor:
    """NLL of each sample [B].

    Parameters
    ----------
    logits : [B, T] hazard logits.
    bins : [B] int64 bin index of each follow-up time.
    events : [B] 1 for an observed event, 0 for censored.
    """
    hazards = torch.sigmoid(logits)
    surv = torch.cat([hazards.new_ones(len(logits), 1), torch.cumprod(1.0 - hazards, 1)], 1)
    y = bins.long().unsqueeze(1)
    e = events.to(logits.dtype)
    log_s_y = torch.log(torch.clamp(surv.gather(1, y), min=EPS)).squeeze(1)
    log_s_next = torch.log(torch.clamp(surv.gather(1, y + 1), min=EPS)).squeeze(1)
    log_h_y = torch.log(torch.clamp(hazards.gather(1, y), min=EPS)).squeeze(1)
    uncensored = -e * (log_s_y + log_h_y)
    censored = -(1 - e) * log_s_next
    return (1 - alpha_u) * (uncensored + censored) + alpha_u * uncensored
