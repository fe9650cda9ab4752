"""`steph vector` and `steph merge` end to end on tiny trained cohorts, and their refusals."""

import json
from pathlib import Path

import pytest
import torch

from steph_cli.merging import methods
from steph_cli.merging.pool import load_pool
from steph_cli.models import io
from steph_cli.models.header import read_metadata
from steph_cli.workspace import Workspace
from steph_cli.workspace.hashing import file_sha256
from tests.conftest import FAST, Cli

TRAINING = ["--epochs", "1", "--accumulate", "4"]


def test_vector_writes_files_and_reports(trained: Cli, tmp_path: Path) -> None:
    report = trained.json("vector", "--cancer", "all", "--plot", str(tmp_path / "cos.png"))
    assert report["cohorts"] == ["AAA", "BBB", "CCC"] and report["fold"] == 0
    assert len(report["written"]) == 9 and all(r["written"] for r in report["written"])
    cos = torch.tensor(report["cosine"])
    torch.testing.assert_close(cos.diagonal(), torch.ones(3, dtype=cos.dtype))
    torch.testing.assert_close(cos, cos.T)
    assert (tmp_path / "cos.png").stat().st_size > 1000
    ws = trained.workspace
    vec = io.read(ws / "vectors" / "AAA" / "fold1.safetensors", kind="vector")
    expert = io.read(ws / "experts" / "AAA" / "fold1.safetensors")
    init = io.read(ws / "init.safetensors")
    key = "feat_proj.weight"
    torch.testing.assert_close(vec.tensors[key], expert.tensors[key] - init.tensors[key])
    assert "head.weight" not in vec.tensors
    assert vec.meta["expert_sha256"] == file_sha256(ws / "experts" / "AAA" / "fold1.safetensors")
    norms = report["norms"]["AAA"]
    fold0 = io.read(ws / "vectors" / "AAA" / "fold0.safetensors", kind="vector").tensors
    manual = torch.cat([t.reshape(-1).double() for t in fold0.values()]).norm().item()
    assert norms["total"] == pytest.approx(manual, rel=1e-6)
    assert set(norms) == {
        "total",
        "feat_proj",
        "attention_net.a",
        "attention_net.b",
        "attention_net.c",
    }
    again = trained.json("vector", "--cancer", "AAA", "--fold", "1")
    assert again["written"] == [{"cohort": "AAA", "fold": 1, "written": False}]


def test_task_arithmetic_merge(trained: Cli) -> None:
    args = ["merge", "--target", "AAA", "--sources", "BBB,CCC", "--method", "task-arithmetic"]
    rows = trained.json(*args, "--fold", "2", "--gamma", "0.5")
    assert len(rows) == 1 and rows[0]["skipped"] is False
    assert rows[0]["expert_harrell_cindex"] is not None
    ws = trained.workspace
    merged = io.read(ws / "merged" / "AAA" / "task-arithmetic" / "fold2.safetensors", "merged")
    assert json.loads(merged.meta["sources"]) == ["BBB", "CCC"]
    shas = json.loads(merged.meta["sources_sha256"])
    assert shas["BBB"] == file_sha256(ws / "experts" / "BBB" / "fold0.safetensors")  # source fold 0
    target = io.read(ws / "experts" / "AAA" / "fold2.safetensors").tensors
    init = io.read(ws / "init.safetensors").tensors
    sources = [io.read(ws / "experts" / c / "fold0.safetensors").tensors for c in ("BBB", "CCC")]
    key = "attention_net.a.weight"
    expected = target[key] + 0.5 * sum(s[key] - init[key] for s in sources)
    torch.testing.assert_close(merged.tensors[key], expected)
    assert torch.equal(merged.tensors["head.weight"], target["head.weight"])  # head kept
    again = trained.json(*args, "--fold", "2", "--gamma", "0.5")
    assert again[0]["skipped"] is True
    other = trained(*args, "--fold", "2", code=2)  # the default γ = 0.3 is another model
    assert "merged/AAA/task-arithmetic/fold2.safetensors was made from other inputs or" in (
        other.stderr
    )
    assert "params.gamma 0.5 → 0.3; --force remakes it" in other.stderr


@pytest.mark.parametrize("method", ["ada", "ties", "iso-c", "iso-cts"])
def test_learned_scalar_merges(trained: Cli, method: str) -> None:
    rows = trained.json("merge", "--target", "BBB", "--method", method, "--fold", "0", *TRAINING)
    assert rows[0]["sources"] == ["AAA", "CCC"]
    weights = [rows[0]["source_stats"][s]["weight"] for s in ("AAA", "CCC")]
    merged = io.read(Path(rows[0]["path"]), "merged")
    # the file's encoder is θ_init + Σ w_i row_i with the reported weights and the method's rows
    chosen = methods.get(method)
    pool = load_pool(Workspace(trained.workspace), "BBB", ["AAA", "CCC"], 0, 0)
    rows_of_method = chosen.rows(pool, chosen.params())
    expected = pool.base + torch.tensor(weights) @ rows_of_method
    torch.testing.assert_close(pool.layout.flatten(merged.tensors), expected)
    assert weights != [0.5, 0.5]  # trained away from the 1/M start
    assert json.loads(merged.meta["training_config"])["epochs"] == 1
    run = Path(rows[0]["run"])
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert "w:AAA" in next(e for e in log if e["event"] == "epoch")
    manifest = json.loads((run / "manifest.json").read_text())
    experts = trained.workspace / "experts"
    assert manifest["inputs_sha256"]["experts/CCC/fold0.safetensors"] == file_sha256(
        experts / "CCC" / "fold0.safetensors"
    )
    assert manifest["outputs_sha256"] == {
        f"merged/BBB/{method}/fold0.safetensors": file_sha256(Path(rows[0]["path"]))
    }


def test_merge_all_targets(trained: Cli) -> None:
    rows = trained.json("merge", "--target", "all", "--method", "task-arithmetic", "--fold", "0")
    assert [(r["target"], r["sources"]) for r in rows] == [
        ("AAA", ["BBB", "CCC"]),
        ("BBB", ["AAA", "CCC"]),
        ("CCC", ["AAA", "BBB"]),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "AAA", "--sources", "AAA,BBB"], "target AAA is among its own sources"),
        (["--target", "AAA", "--sources", "BBB,ZZZ"], "unknown cohort 'ZZZ'"),
        (["--target", "AAA", "--method", "magic"], "unknown merge method 'magic'"),
        (["--target", "AAA", "--fold", "5"], "has no fold 5"),
    ],
)
def test_merge_refusals(trained: Cli, args: list[str], message: str) -> None:
    result = trained("merge", *args, code=2)
    assert message in result.stderr
    assert not (trained.workspace / "merged").exists()


def test_missing_expert_refused_before_any_work(trained: Cli) -> None:
    (trained.workspace / "experts" / "CCC" / "fold0.safetensors").unlink()
    result = trained("merge", "--target", "AAA", "--method", "ada", code=2)
    assert "need experts that are not trained yet: CCC fold 0; --train-missing" in result.stderr
    assert not (trained.workspace / "merged").exists()


def test_expert_from_another_init_refused(trained: Cli, tmp_path: Path, tiny_data: Path) -> None:
    # a workspace with another seed, so another shared init; same architecture
    other = Cli(tmp_path / "other")
    labels, features = tiny_data / "AAA" / "labels.csv", tiny_data / "AAA" / "features"
    other(
        "cohort", "add", "AAA", "--labels", str(labels), "--features", str(features), "--seed", "9"
    )
    other("cohort", "split", "AAA", "--folds", "3", "--seed", "0")
    other("train", "--cancer", "AAA", "--fold", "0", *FAST)
    foreign = tmp_path / "other" / "experts" / "AAA" / "fold0.safetensors"
    target = trained.workspace / "experts" / "BBB" / "fold0.safetensors"
    target.write_bytes(foreign.read_bytes())
    init_sha = file_sha256(trained.workspace / "init.safetensors")
    foreign_sha = read_metadata(foreign)["init_sha256"]
    for args in (
        ["merge", "--target", "AAA", "--method", "task-arithmetic"],
        ["vector", "--cancer", "BBB"],
    ):
        message = trained(*args, code=2).stderr
        assert f"descends from init {foreign_sha[:12]}" in message
        assert init_sha[:12] in message and "same initialisation" in message
