"""The baselines a reviewer asks for: fine-tuning, pooled training, routing."""

import json

import numpy as np
import pytest
import torch

from steph_cli.evaluation.inference import load_model
from steph_cli.models import io
from steph_cli.models.abmil import ENCODER_KEYS
from steph_cli.models.merged import RoutingNet
from steph_cli.training.fold import Stores, pooled
from steph_cli.workspace import Workspace
from steph_cli.workspace.labels import Labels
from tests.conftest import Cli
from tests.helpers.pools import ARCH, random_state

FAST_MERGE = ["--fold", "0", "--epochs", "1", "--accumulate", "4"]


def test_finetune_starts_from_the_most_similar_source(trained: Cli) -> None:
    ws = trained.workspace
    rows = trained.json("merge", "--target", "AAA", "--method", "finetune", *FAST_MERGE)
    stats = rows[0]["source_stats"]
    init = io.read(ws / "init.safetensors").tensors
    tau = {
        c: torch.cat(
            [
                (io.read(ws / "experts" / c / "fold0.safetensors").tensors[k] - init[k]).flatten()
                for k in ENCODER_KEYS  # pinned to the file format in tests/models/test_models.py
            ]
        )
        for c in ("AAA", "BBB", "CCC")
    }
    cosine = {
        c: float(torch.nn.functional.cosine_similarity(tau[c], tau["AAA"], dim=0))
        for c in ("BBB", "CCC")
    }
    assert {c: stats[c]["cosine"] for c in cosine} == pytest.approx(cosine, abs=1e-5)
    chosen = max(cosine, key=cosine.get)
    assert stats[chosen]["weight"] == 1.0
    meta = io.read(rows[0]["path"]).meta
    assert meta["from_source"] == chosen
    named = trained.json(
        "merge",
        "--target",
        "AAA",
        "--method",
        "finetune",
        "--from-source",
        "CCC",
        *FAST_MERGE,
        "--force",
    )
    assert io.read(named[0]["path"]).meta["from_source"] == "CCC"
    wrong = trained(
        "merge",
        "--target",
        "AAA",
        "--method",
        "finetune",
        "--from-source",
        "ZZZ",
        *FAST_MERGE,
        "--force",
        code=2,
    )
    assert "from_source 'ZZZ' is not a source of this merge (BBB, CCC)" in wrong.stderr


def _labels(names: list[str], events: list[int]) -> Labels:
    return Labels(
        tuple(names),
        np.arange(len(names), dtype=float) + 1,
        np.array(events),
        {n: (n,) for n in names},
    )


class _Bags:
    def __init__(self, cohort: str, dim: int = 3) -> None:
        self.cohort, self.dim = cohort, dim

    def tensor(self, patient: str, device="cpu") -> torch.Tensor:
        return torch.full((2, self.dim), float(len(self.cohort) + len(patient)))


def test_pooled_data_joins_training_patients_only() -> None:
    from steph_cli.survival.bins import TimeBins
    from steph_cli.training.fold import FoldData

    target = FoldData(
        "T",
        0,
        _Bags("T"),
        _labels(["a", "b"], [1, 0]),
        _labels(["c"], [1]),
        TimeBins(),
        torch.device("cpu"),
        _labels(["v"], [0]),
    )
    other = FoldData(
        "SS",
        0,
        _Bags("SS"),
        _labels(["a", "d", "e"], [0, 1, 1]),
        _labels(["f"], [1]),
        TimeBins(),
        torch.device("cpu"),
    )
    joined = pooled(target, [other])
    assert joined.train.patients == ("T/a", "T/b", "SS/a", "SS/d", "SS/e")  # same id, two cohorts
    assert joined.train.events.tolist() == [1, 0, 0, 1, 1]
    assert joined.test.patients == ("T/c",) and joined.val.patients == ("T/v",)
    assert isinstance(joined.store, Stores)
    assert joined.store.tensor("SS/a")[0, 0].item() == 3.0  # the source cohort's bag


def test_train_with_is_the_pooled_merge(trained: Cli) -> None:
    rows = trained.json(
        "train",
        "--cancer",
        "AAA",
        "--with",
        "BBB",
        "--fold",
        "0",
        "--epochs",
        "1",
        "--accumulate",
        "4",
    )
    path = trained.workspace / "merged" / "AAA" / "pooled" / "fold0.safetensors"
    assert rows[0]["path"] == str(path) and rows[0]["sources"] == ["BBB"]
    first = path.read_bytes()
    again = trained.json(
        "merge",
        "--target",
        "AAA",
        "--sources",
        "BBB",
        "--method",
        "pooled",
        *FAST_MERGE,
        "--lr",
        "1e-4",  # train's default: `train --with` keeps the experts' schedule
    )
    assert again[0]["skipped"] is True  # the same model: same inputs, same options
    assert path.read_bytes() == first
    log = [
        json.loads(x)
        for x in (trained.workspace / rows[0]["run"] / "log.jsonl").read_text().splitlines()
    ]
    assert [e["event"] for e in log[:2]] == ["batches", "epoch"]
    assert io.read(path).meta["source_stats"] == json.dumps({"BBB": {"patients": 16.0}})


def test_routing_mixes_expert_hazards() -> None:
    experts = [random_state(s) for s in (1, 2, 3)]
    model = RoutingNet(ARCH, experts, seed=0).eval()
    bag = torch.randn(7, ARCH.in_dim)
    gates = model.gates(bag)
    assert torch.allclose(gates, torch.full((3,), 1 / 3), atol=0.05)  # starts near even
    from steph_cli.models.abmil import ABMIL

    hazards = []
    for state in experts:
        net = ABMIL(ARCH).eval()
        net.load_state_dict(state)
        hazards.append(torch.sigmoid(net(bag)))
    expected = (gates[:, None] * torch.stack(hazards)).sum(0)
    assert torch.allclose(torch.sigmoid(model(bag)), expected, atol=1e-5)
    model.train()
    assert not any(n.training for n in model.experts)  # frozen experts never use dropout
    assert all(not p.requires_grad for p in model.experts.parameters())


def test_routing_file_runs_alone(trained: Cli) -> None:
    rows = trained.json("merge", "--target", "AAA", "--method", "routing", *FAST_MERGE)
    path = rows[0]["path"]
    model, _ = load_model(path)
    assert isinstance(model, RoutingNet) and len(model.experts) == 3  # the target and 2 sources
    assert rows[0]["inference_ms_per_bag"] > 0
    ws = Workspace(trained.workspace)
    bag = sorted(ws.features_dir("AAA").glob("*.h5"))[0]
    preds = trained.json("predict", "--model", path, "--features", str(bag))
    assert preds[0]["risk"] < 0 and len(preds[0]["survival"]) == 32
    gates = {s: v["weight"] for s, v in rows[0]["source_stats"].items()}
    assert set(gates) == {"AAA", "BBB", "CCC"} and sum(gates.values()) == pytest.approx(1.0)
