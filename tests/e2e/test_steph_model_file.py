"""`steph merge --method steph` end to end: the self-contained file, logs, collapse warning."""

import json
from pathlib import Path

import torch

from steph_cli.evaluation.inference import load_model
from steph_cli.models.header import read_metadata
from steph_cli.training import fold as fold_data
from steph_cli.workspace import Workspace
from tests.conftest import Cli

TRAINING = ["--epochs", "2", "--accumulate", "4"]


def test_steph_merge_file_is_self_contained(trained: Cli, tmp_path: Path) -> None:
    rows = trained.json("merge", "--target", "AAA", "--fold", "1", "--top-k", "1", *TRAINING)
    result = rows[0]
    assert result["method"] == "steph" and result["sources"] == ["BBB", "CCC"]
    path = Path(result["path"])
    assert path == trained.workspace / "merged" / "AAA" / "steph" / "fold1.safetensors"
    meta = read_metadata(path)
    assert json.loads(meta["merge_options"])["top_k"] == 1
    assert meta["top_k"] == "1" and meta["seed"] == "0"
    assert set(json.loads(meta["sources_sha256"])) == {"BBB", "CCC"}
    stats = result["source_stats"]
    assert set(stats) == {"BBB", "CCC"}
    assert all(0 < s["lambda"] <= 1 for s in stats.values())
    assert sum(s["selected"] for s in stats.values()) == 1.0  # top-1: one source per bag

    # the file alone runs: copy it out, remove experts and vectors, reload, predict
    alone = tmp_path / "steph.safetensors"
    alone.write_bytes(path.read_bytes())
    for d in ("experts", "vectors"):
        for f in (trained.workspace / d).rglob("*.safetensors"):
            f.unlink()
    model, model_file = load_model(alone)
    assert model_file.meta["method"] == "steph"
    data = fold_data.load(Workspace(trained.workspace), "AAA", 1, torch.device("cpu"))
    again = data.test_cindex(model)
    assert again.value == result["test_harrell_cindex"]


def test_steph_logs_weights_per_source_and_epoch(trained: Cli) -> None:
    rows = trained.json("merge", "--target", "BBB", "--fold", "0", *TRAINING)
    log = [json.loads(x) for x in (Path(rows[0]["run"]) / "log.jsonl").read_text().splitlines()]
    epochs = [e for e in log if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("w:AAA", "lambda:CCC", "selected:AAA", "nll", "balance", "lambda_l2", "loss"):
        assert key in epochs[0], key


def test_collapse_is_detected_and_explained(trained: Cli) -> None:
    result = trained(
        "merge",
        "--target",
        "CCC",
        "--fold",
        "2",
        *TRAINING,
        "--weight-activation",
        "relu",
        "--weight-bias",
        "-5",
    )
    assert "merging weights collapsed" in result.stderr
    assert "Use the softplus weight activation, beta_w 0" in result.stderr
    meta = read_metadata(trained.workspace / "merged" / "CCC" / "steph" / "fold2.safetensors")
    assert json.loads(meta["collapsed_epochs"]) == [1, 2]
