"""Our AdamW against torch.optim.AdamW with LambdaLR: the same weights, bit for bit."""

import subprocess
import sys

import pytest
import torch

from steph_cli.training.loop import lr_factor, param_groups
from steph_cli.training.optimiser import AdamW


def _train(dtype: torch.dtype, ours: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weights before and after 12 updates (3 warm-up), with weight decay."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.to(dtype)
    frozen = model[2].bias  # a parameter that never gets a gradient keeps no state
    frozen.requires_grad_(False)
    before = [p.detach().clone() for p in model.parameters()]
    groups = param_groups(list(model.named_parameters()), weight_decay=0.05)
    warmup, total, base = 3, 12, 3e-2
    if ours:
        optimiser = AdamW(groups)
    else:
        reference = torch.optim.AdamW(groups, lr=base)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            reference, lambda u: lr_factor(u, warmup, total)
        )
    x = torch.randn(total, 7, 5, dtype=dtype)
    for update in range(total):
        model(x[update]).pow(2).mean().backward()
        if ours:
            optimiser.step(base * lr_factor(update, warmup, total))
            optimiser.zero_grad()
        else:
            reference.step()
            reference.zero_grad(set_to_none=True)
            schedule.step()
    return before, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_adamw_with_its_scheduler(dtype: torch.dtype) -> None:
    before, ours = _train(dtype, ours=True)
    _, theirs = _train(dtype, ours=False)
    moved = [not torch.equal(a, b) for a, b in zip(before, ours, strict=True)]
    assert moved == [True, True, True, False]  # the frozen bias alone stays
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_the_step_count_has_torchs_dtype_under_a_float64_default() -> None:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ours, theirs = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
        ours.grad, theirs.grad = torch.ones(2), torch.ones(2)
        optimiser = AdamW([{"params": [ours], "weight_decay": 0.0}])
        optimiser.step(0.1)
        reference = torch.optim.AdamW([theirs], lr=0.1, weight_decay=0.0)
        reference.step()
    finally:
        torch.set_default_dtype(previous)
    assert optimiser.state[ours][2].dtype == reference.state[theirs]["step"].dtype == torch.float64
    assert torch.equal(ours, theirs)


def test_training_does_not_import_torch_dynamo() -> None:
    """torch.optim's classes pull in torch._dynamo (~1.6 s) on first use; training must not."""
    code = (
        "import sys, torch; from steph_cli.training.loop import TrainConfig, fit; "
        "w = torch.nn.Parameter(torch.ones(3)); "
        "fit([('w', w)], 4, lambda i: ((w * i).pow(2).sum(), {}), TrainConfig(epochs=2, "
        "accumulate=2, seed=0)); print(float(w.sum()) != 3.0, 'torch._dynamo' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
