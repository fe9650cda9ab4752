"""Outputs know what they were made from: stale work is refused, listed, never scored."""

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from steph_cli.models import io
from tests.conftest import FAST, Cli

STATIC = ["merge", "--target", "AAA", "--method", "task-arithmetic"]


@pytest.fixture
def made(trained: Cli) -> Cli:
    """Experts of every cohort and fold, task vectors, and AAA merged from BBB and CCC."""
    trained(*STATIC)
    return trained


def stale_models(cli: Cli) -> set[str]:
    """Every stale model of the workspace, as the status command lists them."""
    out = set()
    for c in cli.json("status")["cohorts"]:
        name = c["summary"]["name"]
        kinds = {f"experts/{name}": c["experts"], f"vectors/{name}": c["vectors"]}
        kinds |= {f"merged/{name}/{m}": f for m, f in c["merged"].items()}
        out |= {f"{folder}/fold{k}" for folder, f in kinds.items() for k in f["stale"]}
    return out


def folds(prefix: str, ks=(0, 1, 2)) -> set[str]:
    return {f"{prefix}/fold{k}" for k in ks}


def test_a_fresh_workspace_has_nothing_stale(made: Cli) -> None:
    assert stale_models(made) == set()
    aaa = made.json("status")["cohorts"][0]
    assert aaa["experts"] == {"fresh": [0, 1, 2], "stale": {}, "missing": []}
    assert aaa["merged"]["task-arithmetic"]["fresh"] == [0, 1, 2]


def test_changed_features_make_that_cohorts_experts_stale(made: Cli) -> None:
    path = sorted((made.workspace / "features" / "CCC").glob("*.h5"))[0]
    with h5py.File(path, "r+") as fh:
        fh["features"][0] = np.full(fh["features"].shape[1], 3.0, dtype=np.float32)
    assert stale_models(made) == folds("experts/CCC")


def test_changed_labels_make_that_cohorts_experts_stale(made: Cli) -> None:
    labels = made.workspace / "cohorts" / "BBB" / "labels.csv"
    lines = labels.read_text().splitlines()
    p, s, t, e = lines[1].split(",")
    lines[1] = f"{p},{s},{float(t) + 1!r},{e}"
    labels.write_text("\n".join(lines) + "\n")
    assert stale_models(made) == folds("experts/BBB")
    why = made.json("status")["cohorts"][1]["experts"]["stale"]["0"]
    assert why[0].startswith("cohorts/BBB/labels.csv changed (")


def test_changed_init_makes_every_model_stale(made: Cli) -> None:
    init = made.workspace / "init.safetensors"
    model = io.read(init)
    model.tensors["feat_proj.bias"] += 1.0
    io.write(init, model.tensors, "init", model.arch, seed="0")
    vectors = folds("vectors/AAA") | {"vectors/BBB/fold0", "vectors/CCC/fold0"}
    expected = folds("experts/AAA") | folds("experts/BBB") | folds("experts/CCC") | vectors
    assert stale_models(made) == expected | folds("merged/AAA/task-arithmetic")


def test_changed_source_expert_makes_its_vector_and_merges_stale(made: Cli) -> None:
    made("train", "--cancer", "BBB", "--fold", "0", *FAST, "--seed", "5", "--force")
    assert stale_models(made) == {"vectors/BBB/fold0"} | folds("merged/AAA/task-arithmetic")
    # never scored: with every fold stale there is nothing to score, and evaluate says so
    report = made("evaluate", "--target", "AAA", "--model", "task-arithmetic", code=2)
    assert "nothing to score" in report.stderr and "stale: experts/BBB/fold0" in report.stderr
    made(*STATIC, "--force")  # remade from the new expert: fresh again, vector rewritten
    assert stale_models(made) == set()


def test_splitting_again_needs_force_and_leaves_stale_experts(made: Cli) -> None:
    refused = made("cohort", "split", "AAA", "--folds", "2", "--seed", "7", code=2)
    assert "cohort AAA has models made from its current splits" in refused.stderr
    assert "; --force splits it anyway" in refused.stderr
    made("cohort", "split", "AAA", "--folds", "2", "--seed", "7", "--force")
    # fold 2 has no split any more; folds 0 and 1 have other test patients
    assert folds("experts/AAA") <= stale_models(made)
    train = made("train", "--cancer", "AAA", *FAST, code=2)
    assert "experts/AAA/fold0.safetensors was made from other inputs or options" in train.stderr
    assert "cohorts/AAA/splits/fold0.csv changed (" in train.stderr
    stale = made("evaluate", "--target", "AAA", "--model", "expert", code=2)
    assert "nothing to score: 2 fold(s) asked for" in stale.stderr and "stale:" in stale.stderr
    made("train", "--cancer", "AAA", *FAST, "--force")
    report = made.json("evaluate", "--target", "AAA")
    skipped = {(f["model"], f["fold"]): (f["skipped"] or "")[:6] for f in report["folds"]}
    assert skipped == {
        ("expert", 0): "",
        ("expert", 1): "",
        ("task-arithmetic", 0): "stale:",  # made from the old experts
        ("task-arithmetic", 1): "stale:",
    }


def test_other_options_or_sources_are_refused_not_reused(made: Cli) -> None:
    refused = made(*STATIC, "--gamma", "0.9", "--fold", "0", code=2)
    assert "params.gamma 0.3 → 0.9" in refused.stderr
    fewer = made(*STATIC, "--sources", "BBB", "--fold", "0", code=2)
    assert "experts/CCC/fold0.safetensors is gone" in fewer.stderr
    rows = made.json(*STATIC, "--sources", "BBB", "--fold", "0", "--force")
    assert rows[0]["skipped"] is False and rows[0]["sources"] == ["BBB"]


def _runs(cli: Cli, step: str) -> list[dict]:
    return [r for r in cli.json("runs", "list") if r["step"] == step]


def test_reproduce_passes_then_names_what_changed(made: Cli) -> None:
    merge = _runs(made, "merge")[0]
    shown = made.json("runs", "show", merge["id"])
    assert shown["outputs_sha256"] == merge["outputs_sha256"] and shown["call"]["target"] == "AAA"
    text = made("runs", "show", merge["id"], env={"COLUMNS": "80"}).stdout
    metrics = text[text.index("metrics (all of them: --json)") :]
    cindex = shown["metrics"]["test_harrell_cindex"]["value"]
    assert f"test_harrell_cindex value │ {cindex:.4g}" in " ".join(metrics.split())
    assert "None" not in text and "{" not in text  # no Python reprs in human output
    last = made("runs", "show", "last").stdout
    assert "metrics (all of them: --json)" in last and "test_harrell_cindex value" in last
    # the start the merges' ids share (at least the date) also names other runs
    prefix = os.path.commonprefix([r["id"] for r in _runs(made, "merge")])  # noqa: RUF071
    alike = [r for r in made.json("runs", "list") if r["id"].startswith(prefix)]
    assert len(alike) > 1
    ambiguous = made("runs", "show", prefix, code=2)
    assert (
        f"{len(alike)} runs of" in ambiguous.stderr
        and "give a run id or a manifest.json" in ambiguous.stderr
    )
    ok = made.json("reproduce", merge["id"])
    assert ok == [
        {
            "run": merge["id"],
            "step": "merge",
            "outputs_compared": 1,
            "metrics_compared": ok[0]["metrics_compared"],
            "identical": True,
            "passed": True,
            "tolerance": None,
            "differences": [],
        }
    ]
    # one byte of an output: the workspace's copy is not what the run wrote
    (output,) = merge["outputs_sha256"]
    path = made.workspace / output
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    moved = made("reproduce", merge["id"], "--json", code=1)
    (difference,) = json.loads(moved.stdout)[0]["differences"]
    assert (difference["kind"], difference["what"]) == ("workspace", output)
    assert difference["recorded"] == merge["outputs_sha256"][output]
    assert "1 of 1 run(s) did not reproduce" in moved.stderr
    assert "DIFFERS" in made("reproduce", merge["id"], code=1).stderr
    # one byte of an input: refused before any work, naming the file
    labels = made.workspace / "cohorts" / "AAA" / "labels.csv"
    labels.write_text(labels.read_text() + "\n")
    refused = made("reproduce", merge["id"], code=2)
    assert "input cohorts/AAA/labels.csv of run" in refused.stderr


def test_reproduce_a_pipeline_from_its_data_alone(made: Cli, tmp_path: Path) -> None:
    manifests = []
    for run in sorted((made.workspace / "runs").iterdir()):
        copy = tmp_path / "manifests" / run.name
        copy.mkdir(parents=True)
        for name in ("manifest.json", "metrics.json"):
            shutil.copy(run / name, copy / name)
        manifests.append(str(copy / "manifest.json"))
    data = Cli(tmp_path / "data")  # the same cohorts, no model at all
    for name in ("AAA", "BBB", "CCC"):
        shutil.copytree(made.workspace / "cohorts" / name, data.workspace / "cohorts" / name)
        shutil.copytree(made.workspace / "features" / name, data.workspace / "features" / name)
    shutil.copy(made.workspace / "steph.toml", data.workspace / "steph.toml")
    results = data.json("reproduce", *manifests)
    assert [r["step"] for r in results] == ["train"] * 9 + ["merge"] * 3
    assert all(r["identical"] for r in results)
    assert not (data.workspace / "experts").exists()  # work happens in a scratch copy


def test_verify_names_modified_missing_unrecorded_and_corrupt_files(made: Cli) -> None:
    assert made.json("verify")["ok"] is True
    experts = made.workspace / "experts"
    data = bytearray((experts / "AAA" / "fold0.safetensors").read_bytes())
    data[-1] ^= 1
    (experts / "AAA" / "fold0.safetensors").write_bytes(bytes(data))
    (experts / "BBB" / "fold1.safetensors").unlink()
    shutil.copy(experts / "CCC" / "fold1.safetensors", experts / "CCC" / "fold9.safetensors")
    (experts / "CCC" / "fold2.safetensors").write_bytes(b"not a model")
    result = made("verify", code=1)
    report = json.loads(made("verify", "--json", code=1).stdout)
    problems = {p["path"]: p["status"] for p in report["problems"]}
    assert problems == {
        "experts/AAA/fold0.safetensors": "modified",
        "experts/BBB/fold1.safetensors": "missing",
        "experts/CCC/fold9.safetensors": "unrecorded",
        "experts/CCC/fold2.safetensors": "corrupt",
    }
    assert "4 of" in result.stderr and "do not match their records" in result.stderr
