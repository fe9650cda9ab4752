"""`steph train` end to end on tiny cohorts: files, metadata, reproducibility, refusals."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from steph_cli.errors import StephError
from steph_cli.hooks import Hooks
from steph_cli.models import io
from steph_cli.models.arch import ArchOptions
from steph_cli.models.header import read_metadata
from steph_cli.training import expert
from steph_cli.training.config import TrainConfig
from steph_cli.workspace import Workspace
from steph_cli.workspace.hashing import file_sha256
from tests.conftest import FAST, Cli


def _sha(path: Path) -> str:
    return file_sha256(path)


def test_train_writes_expert_with_metadata(registered: Cli) -> None:
    rows = registered.json("train", "--cancer", "AAA", "--fold", "1", *FAST)
    assert [(r["cohort"], r["fold"], r["skipped"]) for r in rows] == [("AAA", 1, False)]
    ws = registered.workspace
    path = ws / "experts" / "AAA" / "fold1.safetensors"
    model = io.read(path, kind="expert")
    meta = model.meta
    assert meta["init_sha256"] == _sha(ws / "init.safetensors")
    assert (meta["cohort"], meta["fold"], meta["seed"]) == ("AAA", "1", "0")
    assert json.loads(meta["time_bins"]) == {"count": 32, "max_days": 11680.0}
    assert json.loads(meta["architecture"])["embed_dim"] == 16
    assert json.loads(meta["training_config"])["epochs"] == 2
    assert json.loads(meta["test_metrics"])["harrell_cindex"] == rows[0]["test_harrell_cindex"]
    assert meta["steph_version"] and meta["format_version"] == "1"
    # the run folder: config, JSON-lines log per epoch, metrics, manifest
    run = Path(rows[0]["run"])
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log] == ["batches", "epoch", "epoch"]
    assert [e["epoch"] for e in log[1:]] == [1, 2]
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["train_loss"]) == 2 and metrics["n_train"] + metrics["n_test"] == 24
    manifest = json.loads((run / "manifest.json").read_text())
    # the first expert of a workspace also made θ_init: both are outputs of its run
    assert manifest["outputs_sha256"] == {
        "experts/AAA/fold1.safetensors": _sha(path),
        "init.safetensors": meta["init_sha256"],
    }
    assert set(manifest["inputs_sha256"]) == {
        "cohorts/AAA/labels.csv",
        "cohorts/AAA/splits/fold1.csv",
        "features/AAA",
    }
    assert manifest["inputs_sha256"]["cohorts/AAA/labels.csv"] == _sha(
        ws / "cohorts/AAA/labels.csv"
    )
    made_from = json.loads(meta["fingerprint"])
    assert made_from["inputs"]["init.safetensors"] == meta["init_sha256"]
    assert made_from["options"]["training"]["epochs"] == 2
    assert manifest["seed"] == 0 and manifest["packages"]["torch"]
    assert manifest["call"]["cohort"] == "AAA" and manifest["step"] == "train"
    status = registered.json("status")["cohorts"][0]
    assert status["experts"] == {"fresh": [1], "stale": {}, "missing": [0, 2]}
    assert status["cindex"] == {"expert": rows[0]["test_harrell_cindex"]}  # last metrics


def test_rerun_is_noop_unless_force(registered: Cli) -> None:
    registered("train", "--cancer", "BBB", "--fold", "0", *FAST)
    path = registered.workspace / "experts" / "BBB" / "fold0.safetensors"
    mtime = path.stat().st_mtime_ns
    again = registered("train", "--cancer", "BBB", "--fold", "0", *FAST)
    assert "skipped" in again.stdout and path.stat().st_mtime_ns == mtime
    forced = registered.json("train", "--cancer", "BBB", "--fold", "0", *FAST, "--force")
    assert forced[0]["skipped"] is False


def test_same_seed_same_bytes(cli: Cli, tiny_data: Path, tmp_path: Path) -> None:
    """Two workspaces, same data and seed: byte-identical experts and metrics."""
    results = []
    for name in ("a", "b"):
        run = Cli(tmp_path / name)
        run(
            "cohort",
            "add",
            "AAA",
            "--labels",
            str(tiny_data / "AAA" / "labels.csv"),
            "--features",
            str(tiny_data / "AAA" / "features"),
        )
        run("cohort", "split", "AAA", "--folds", "3", "--seed", "0")
        rows = run.json("train", "--cancer", "AAA", "--folds", "0,2", *FAST, "--seed", "5")
        experts = [
            _sha(tmp_path / name / "experts" / "AAA" / f"fold{k}.safetensors") for k in (0, 2)
        ]
        metrics = [(Path(r["run"]) / "metrics.json").read_bytes() for r in rows]
        results.append((experts, metrics, _sha(tmp_path / name / "init.safetensors")))
    assert results[0] == results[1]
    # a different seed gives a different model
    other = Cli(tmp_path / "a")
    other.json("train", "--cancer", "AAA", "--fold", "0", *FAST, "--seed", "6", "--force")
    assert _sha(tmp_path / "a" / "experts" / "AAA" / "fold0.safetensors") != results[0][0][0]


def test_all_cohorts_share_one_init(registered: Cli) -> None:
    registered("train", "--cancer", "all", "--fold", "0", *FAST)
    ws = registered.workspace
    shas = {
        read_metadata(ws / "experts" / c / "fold0.safetensors")["init_sha256"]
        for c in ("AAA", "BBB", "CCC")
    }
    assert shas == {_sha(ws / "init.safetensors")}


def test_refuses_other_architecture_and_bins(registered: Cli) -> None:
    registered("train", "--cancer", "AAA", "--fold", "0", *FAST)
    other_arch = registered(
        "train", "--cancer", "AAA", "--fold", "1", "--epochs", "1", "--embed-dim", "32", code=2
    )
    assert "init.safetensors was created for" in other_arch.stderr
    assert '"embed_dim": 32' in other_arch.stderr
    assert not (registered.workspace / "experts" / "AAA" / "fold1.safetensors").exists()
    # without architecture options, new experts take the workspace's (θ_init's) architecture
    registered("train", "--cancer", "AAA", "--fold", "1", "--epochs", "1")
    meta = read_metadata(registered.workspace / "experts" / "AAA" / "fold1.safetensors")
    assert json.loads(meta["architecture"])["embed_dim"] == 16
    bins = registered("train", "--cancer", "AAA", "--fold", "1", *FAST, "--time-bins", "10", code=2)
    assert "would mix settings" in bins.stderr


def test_bins_option_before_first_model(registered: Cli) -> None:
    registered(
        "train",
        "--cancer",
        "AAA",
        "--fold",
        "0",
        *FAST,
        "--time-bins",
        "8",
        "--max-time-days",
        "4000",
    )
    meta = read_metadata(registered.workspace / "experts" / "AAA" / "fold0.safetensors")
    assert json.loads(meta["time_bins"]) == {"count": 8, "max_days": 4000.0}
    assert "time_bins = 8" in (registered.workspace / "steph.toml").read_text()


def test_unknown_cohort_and_fold(registered: Cli) -> None:
    assert "unknown cohort 'ZZZ'" in registered("train", "--cancer", "ZZZ", code=2).stderr
    assert "has no fold 7" in registered("train", "--cancer", "AAA", "--fold", "7", code=2).stderr


def test_feature_cache_rebuilds_when_a_file_changes(registered: Cli) -> None:
    ws = Workspace(registered.workspace)
    registered("train", "--cancer", "AAA", "--fold", "0", *FAST)
    caches = list((ws.cache_dir / "AAA").iterdir())
    assert len(caches) == 1
    slide = sorted(ws.features_dir("AAA").glob("*.h5"))[0]
    with h5py.File(slide, "r+") as fh:
        fh["features"][0] = np.full(fh["features"].shape[1], 3.0, dtype=np.float32)
    registered("train", "--cancer", "AAA", "--fold", "0", *FAST, "--force")
    rebuilt = list((ws.cache_dir / "AAA").iterdir())
    assert len(rebuilt) == 1 and rebuilt != caches


def test_interrupted_training_leaves_no_expert(registered: Cli) -> None:
    ws = Workspace(registered.workspace)

    class Interrupt(Hooks):
        def status(self, name: str, text: str) -> None:  # called at the end of each epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        expert.train_expert(
            ws,
            "AAA",
            0,
            TrainConfig(epochs=2),
            ArchOptions(16, 8),
            torch.device("cpu"),
            hooks=Interrupt(),
        )
    assert not (ws.root / "experts").exists() or not list((ws.root / "experts").rglob("*"))


def test_patient_without_features_at_train_time(registered: Cli) -> None:
    ws = Workspace(registered.workspace)
    victim = sorted(ws.features_dir("CCC").glob("*.h5"))
    for path in victim:
        if path.stem.startswith("CCC-0003"):
            path.unlink()
    result = registered("train", "--cancer", "CCC", "--fold", "0", *FAST, code=2)
    assert "patient CCC-0003 has no feature file" in result.stderr


def test_empty_bag_is_refused(registered: Cli) -> None:
    ws = Workspace(registered.workspace)
    for path in ws.features_dir("CCC").glob("CCC-0004-*.h5"):
        with h5py.File(path, "w") as fh:
            fh["features"] = np.zeros((0, 8), dtype=np.float32)
    result = registered("train", "--cancer", "CCC", "--fold", "0", *FAST, code=2)
    assert "patient CCC-0004 has an empty bag" in result.stderr


def test_corrupt_init_is_refused(registered: Cli) -> None:
    registered("train", "--cancer", "AAA", "--fold", "0", *FAST)
    init = registered.workspace / "init.safetensors"
    init.write_bytes(init.read_bytes()[:100])
    result = registered("train", "--cancer", "AAA", "--fold", "1", *FAST, code=2)
    assert "corrupt or truncated safetensors" in result.stderr


def test_library_refuses_mixed_bins_directly(registered: Cli) -> None:
    ws = Workspace(registered.workspace)
    registered("train", "--cancer", "AAA", "--fold", "0", *FAST)
    with pytest.raises(StephError, match="would mix settings"):
        expert.check_bins(ws, 16, None)
