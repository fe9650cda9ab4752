"""Training with packed batches (one forward per accumulation group, as on accelerators)
gives the weights of bag-by-bag training (dropout off, so that neither draws anything)."""

import pytest
import torch

from steph_cli.hooks import NO_HOOKS
from steph_cli.models.abmil import ABMIL, Architecture
from steph_cli.models.packed import abmil_packed
from steph_cli.training import fold as fold_data
from steph_cli.training.config import TrainConfig
from steph_cli.training.expert import packed_forward
from steph_cli.workspace import Workspace
from steph_cli.workspace.runs import Run
from tests.conftest import Cli


def test_packed_groups_train_the_same_weights(trained: Cli) -> None:
    ws = Workspace(trained.workspace)
    config = TrainConfig(epochs=2, accumulate=4, seed=0)
    data = fold_data.load(ws, "AAA", 0, torch.device("cpu"), config)
    arch = Architecture(data.store.dim, 16, 8, data.bins.count, dropout=0.0)
    torch.manual_seed(0)
    start = {k: v.double() for k, v in ABMIL(arch).state_dict().items()}
    trained_with = {}
    for packed in (False, True):
        model = ABMIL(arch).double()
        model.load_state_dict(start)

        def one(bag: torch.Tensor, m: ABMIL = model) -> tuple:
            return m(bag.double()), None, {}

        def many(bags: list[torch.Tensor], m: ABMIL = model) -> torch.Tensor:
            return abmil_packed(m, [b.double() for b in bags])

        history = data.fit(
            model.train(),
            list(model.named_parameters()),
            one,
            config,
            Run.start(ws, "train", f"packed-{packed}"),
            NO_HOOKS,
            "AAA",
            packed=many if packed else None,
        )
        trained_with[packed] = (model.state_dict(), [h["loss"] for h in history])
    (bag_by_bag, losses), (grouped, grouped_losses) = trained_with[False], trained_with[True]
    assert grouped_losses == pytest.approx(losses, rel=1e-10)
    for key, value in bag_by_bag.items():
        torch.testing.assert_close(grouped[key], value, rtol=1e-10, atol=1e-10)
    assert not torch.equal(bag_by_bag["head.bias"], start["head.bias"])  # it did train


def test_experts_pack_their_groups_on_accelerators_only() -> None:
    model = ABMIL(Architecture(6, 8, 5, 4, dropout=0.0)).eval()
    assert packed_forward(model, torch.device("cpu")) is None
    forward = packed_forward(model, torch.device("cuda"))  # a device object; nothing runs there
    assert forward is not None
    bags = [torch.randn(n, 6) for n in (3, 9)]
    torch.testing.assert_close(forward(bags), torch.stack([model(b) for b in bags]))
