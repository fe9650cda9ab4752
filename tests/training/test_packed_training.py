"""Training with packed batches (one forward per accumulation group, as on accelerators)
gives the weights of bag-by-bag training (dropout off, so that neither draws anything)."""

import json

import pytest
import torch

from steph_cli.hooks import NO_HOOKS
from steph_cli.merging import steph_training
from steph_cli.merging.methods.steph_params import StephParams
from steph_cli.models.abmil import ABMIL, Architecture
from steph_cli.models.merged import build_steph
from steph_cli.models.packed import abmil_packed
from steph_cli.training import fold as fold_data
from steph_cli.training.config import TrainConfig
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

        def many(bags: list[torch.Tensor], m: ABMIL = model) -> tuple:
            return abmil_packed(m, [b.double() for b in bags]), None, {}

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


def test_cpus_pack_small_bags_and_accelerators_every_bag(trained: Cli) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # nothing runs on the cuda object
    small, large = fold_data.PACK_CPU_PATCHES, fold_data.PACK_CPU_PATCHES + 1
    assert fold_data.packs(cpu, [small, small, 10_000])  # the median decides
    assert not fold_data.packs(cpu, [large, large, 1])
    assert not fold_data.packs(cpu, [])
    assert fold_data.packs(cuda, [10_000])
    ws = Workspace(trained.workspace)
    data = fold_data.load(ws, "AAA", 0, cpu)  # the tiny cohorts' bags are small
    model = ABMIL(Architecture(data.store.dim, 8, 5, data.bins.count, dropout=0.0)).eval()
    forward = fold_data.plain_packed(model, data)
    assert forward is not None
    bags = [data.store.tensor(p) for p in data.train.patients[:3]]
    logits, extra, terms = forward(bags)
    assert extra is None and terms == {}
    torch.testing.assert_close(logits, torch.stack([model(b) for b in bags]))


def test_a_training_run_records_whether_it_packed(trained: Cli) -> None:
    run = next((trained.workspace / "runs").glob("*-train-AAA-fold0"))
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert {"event": "batches", "packed": True, "bags": 4} in [
        {k: v for k, v in e.items() if k != "time"} for e in events
    ]


@pytest.mark.parametrize("lambda_mode", ["hyper", "source"])
def test_packed_steph_groups_train_the_same_merge(trained: Cli, lambda_mode: str) -> None:
    ws = Workspace(trained.workspace)
    config = TrainConfig(epochs=2, accumulate=4, seed=0, lr=1e-3)
    data = fold_data.load(ws, "AAA", 0, torch.device("cpu"), config)
    arch = Architecture(data.store.dim, 8, 6, data.bins.count, dropout=0.0)

    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return {k: v.double() for k, v in ABMIL(arch).state_dict().items()}

    init, names = state(0), ["BBB", "CCC", "DDD"]
    params = StephParams(top_k=2, beta_w=0.1, lambda_mode=lambda_mode)
    results = {}
    for packed in (False, True):
        net = build_steph(
            arch,
            "encoder",
            init,
            state(1),
            [state(2 + i) for i in range(3)],
            init,
            2,
            "softplus",
            0,
            lambda_mode=lambda_mode,
        ).double()
        for module in net.modules():  # the hypernetwork's dropout draws per bag
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        start = {k: v.clone() for k, v in net.state_dict().items()}
        one, many = steph_training.forwards(net, names, params)
        assert many is not None
        history = data.fit(
            net.train(),
            list(net.trainable()),
            lambda bag, f=one: f(bag.double()),
            config,
            Run.start(ws, "merge", f"packed-{packed}-{lambda_mode}"),
            NO_HOOKS,
            "AAA",
            packed=(lambda bags, f=many: f([b.double() for b in bags])) if packed else None,
        )
        results[packed] = (net.state_dict(), history)
    (per_bag, history), (grouped, grouped_history) = results[False], results[True]
    assert set(history[-1]) == set(grouped_history[-1]) >= {"nll", "balance", "w:BBB"}
    for record, other in zip(history, grouped_history, strict=True):
        assert other == pytest.approx(record, rel=1e-9, abs=1e-12)
    for key, value in per_bag.items():
        torch.testing.assert_close(grouped[key], value, rtol=1e-9, atol=1e-12)
    assert not torch.equal(per_bag["weight_head.3.bias"], start["weight_head.3.bias"])
