"""Cox's partial likelihood of a risk score (Breslow's handling of ties).

Used where a score must be judged on its ranking of patients alone: it does not depend on
the baseline hazard, so a model whose hazards are mis-calibrated for a cohort but order its
patients well is not penalised for the calibration (the discrete-time NLL of METHOD §2 is).
"""

import torch


def partial_log_likelihood(
    risk: torch.Tensor, times: torch.Tensor, events: torch.Tensor
) -> torch.Tensor:
    """Σ over events i of [risk_i − log Σ_{j: t_j ≥ t_i} exp(risk_j)] (Breslow), a scalar;
    differentiable in ``risk``. Patients sorted by time need not be."""
    order = torch.argsort(times, descending=True, stable=True)
    r, t, e = risk[order], times[order], events[order].to(risk.dtype)
    # log of the sum over the risk set {j: t_j >= t_i}: a running logsumexp over descending
    # times, then for tied times the value at the last of the ties (all of them at risk)
    running = torch.logcumsumexp(r, dim=0)
    last_of_tie = torch.searchsorted(-t, -t, right=True) - 1
    return (e * (r - running[last_of_tie])).sum()
