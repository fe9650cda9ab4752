"""The averaging merge, a method added as one module: registered, merged by hand, run by CLI."""

import json

import torch

from steph_cli.merging import methods
from steph_cli.models.header import read_metadata
from steph_cli.models.io import read
from tests.conftest import Cli
from tests.helpers.pools import tiny_pool


def test_average_is_registered_without_being_listed_anywhere() -> None:
    method = methods.get("average")
    assert "average" in methods.names()
    assert not method.learned
    assert method.params() == method.Params()  # no parameters of its own


def test_average_by_hand() -> None:
    pool = tiny_pool(n_sources=3)
    method = methods.get("average")
    merged = method.encoder(pool, method.params())
    init = pool.layout.flatten(pool.init)
    thetas = [pool.layout.flatten(m.state) for m in (pool.target, *pool.sources)]
    # mean of the four experts' encoders = θ_init + mean of their task vectors
    assert torch.allclose(merged, torch.stack(thetas).mean(0), atol=1e-6)
    assert torch.allclose(merged - init, (torch.stack(thetas) - init).mean(0), atol=1e-6)


def test_average_runs_from_the_cli(trained: Cli) -> None:
    result = trained.json("merge", "--target", "AAA", "--method", "average", "--fold", "0")
    path = trained.workspace / "merged" / "AAA" / "average" / "fold0.safetensors"
    assert [r["path"] for r in result] == [str(path)]
    meta = read_metadata(path)
    assert meta["method"] == "average" and json.loads(meta["sources"]) == ["BBB", "CCC"]
    # the target expert's head is kept, the encoder is the experts' mean
    expert = read(trained.workspace / "experts" / "AAA" / "fold0.safetensors").tensors
    sources = [
        read(trained.workspace / "experts" / c / "fold0.safetensors").tensors
        for c in ("BBB", "CCC")
    ]
    merged = read(path).tensors
    assert torch.equal(merged["head.weight"], expert["head.weight"])
    mean = (expert["feat_proj.weight"] + sum(s["feat_proj.weight"] for s in sources)) / 3
    assert torch.allclose(merged["feat_proj.weight"], mean, atol=1e-6)
    table = trained.json("evaluate", "--target", "AAA", "--model", "average", "--fold", "0")
    assert table["folds"][0]["model"] == "average" and table["folds"][0]["skipped"] is None
