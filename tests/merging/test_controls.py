"""Controls of a merge: null sources (permuted labels, none, self) and the matched-budget
expert, kept apart from real experts, and reported as real − control by evaluate."""

import json
import shutil

import numpy as np
import pytest
import torch

from steph_cli.merging import controls
from steph_cli.models import io
from steph_cli.training import fold as fold_data
from steph_cli.workspace import Workspace
from tests.conftest import Cli

TRAINING = ["--epochs", "1", "--accumulate", "4"]
MERGE = ["merge", "--target", "AAA", "--fold", "0", "--method", "ada", *TRAINING]


def meta(path) -> dict[str, str]:
    return io.read(path).meta


def test_permuted_labels_keep_the_bags_and_the_outcomes_but_not_their_pairing(trained: Cli):
    data = fold_data.load(Workspace(trained.workspace), "BBB", 0, torch.device("cpu"))
    shuffled = data.permuted(seed=3)
    assert shuffled.train.patients == data.train.patients
    before = sorted(zip(data.train.times, data.train.events, strict=True))
    after = sorted(zip(shuffled.train.times, shuffled.train.events, strict=True))
    assert before == after  # the same outcomes
    assert not np.array_equal(shuffled.train.times, data.train.times)  # given to others
    assert shuffled.test is data.test
    again = data.permuted(seed=3)
    assert np.array_equal(again.train.times, shuffled.train.times)  # seeded


def test_permuted_control_trains_null_experts_apart_and_merges_them(trained: Cli) -> None:
    ws = Workspace(trained.workspace)
    real = trained.json(*MERGE)
    shown = trained.json(*MERGE, "--control", "permuted")
    assert [m["method"] for m in shown] == ["ada-control-permuted"]
    for source in ("BBB", "CCC"):
        control = ws.control_expert_file(source, 0)
        assert control.parent.parent == ws.root / "controls" / "permuted"
        assert meta(control)["control"] == "permuted"
        assert "control" not in meta(ws.expert_file(source, 0))
        # the real expert's options, other labels: other weights
        assert json.loads(meta(control)["training_config"]) == json.loads(
            meta(ws.expert_file(source, 0))["training_config"]
        )
        assert control.read_bytes() != ws.expert_file(source, 0).read_bytes()
    merged = ws.merged_file("AAA", "ada-control-permuted", 0)
    fingerprint = json.loads(meta(merged)["fingerprint"])
    assert "controls/permuted/BBB/fold0.safetensors" in fingerprint["inputs"]
    assert "experts/BBB/fold0.safetensors" not in fingerprint["inputs"]
    assert real[0]["path"] != shown[0]["path"]


def test_a_control_expert_is_never_a_real_source(trained: Cli) -> None:
    ws = Workspace(trained.workspace)
    trained(*MERGE, "--control", "permuted")
    real = ws.expert_file("BBB", 0)
    kept = real.read_bytes()
    shutil.copy(ws.control_expert_file("BBB", 0), real)  # a control where a real one belongs
    refused = trained(*MERGE, code=2)
    assert "is a control expert (trained on permuted labels), never a real source" in (
        refused.stderr
    )
    assert not ws.merged_file("AAA", "ada", 0).exists()
    real.write_bytes(kept)
    # and a real expert where a control belongs is not taken for one
    shutil.copy(ws.expert_file("CCC", 0), ws.control_expert_file("CCC", 0))
    reverse = trained(*MERGE, "--control", "permuted", code=2)
    assert "controls/permuted/CCC/fold0.safetensors" in reverse.stderr
    assert "--force remakes it" in reverse.stderr
    # which it does: a forced merge retrains the controls it uses
    trained(*MERGE, "--control", "permuted", "--force")
    assert io.read(ws.control_expert_file("CCC", 0)).meta.get("control") == "permuted"


def test_none_and_self_need_no_source_expert(trained: Cli) -> None:
    ws = Workspace(trained.workspace)
    for source in ("BBB", "CCC"):
        ws.expert_file(source, 0).unlink()
    none = trained.json(*MERGE, "--control", "none")
    assert none[0]["sources"] == ["none"]
    itself = trained.json(*MERGE, "--control", "self")
    assert itself[0]["sources"] == ["AAA-self1", "AAA-self2"]  # as many as the real sources
    real = trained(*MERGE, code=2)
    assert "need experts that are not trained yet" in real.stderr


def test_none_adds_nothing_to_the_target_and_self_adds_the_target(trained: Cli) -> None:
    """Task arithmetic (θ_t + γ Σ τ_s) checked on the files: none is the target expert, self
    adds γ τ_t once per source it replaces."""
    ws = Workspace(trained.workspace)
    args = ["merge", "--target", "AAA", "--fold", "0", "--method", "task-arithmetic"]
    trained(*args, "--gamma", "0.5", "--control", "none")
    trained(*args, "--gamma", "0.5", "--control", "self")
    init = io.read(ws.init_file).tensors
    target = io.read(ws.expert_file("AAA", 0)).tensors
    none = io.read(ws.merged_file("AAA", "task-arithmetic-control-none", 0)).tensors
    self_ = io.read(ws.merged_file("AAA", "task-arithmetic-control-self", 0)).tensors
    key = "feat_proj.weight"
    tau = target[key] - init[key]
    torch.testing.assert_close(none[key], target[key])
    torch.testing.assert_close(self_[key], target[key] + 0.5 * 2 * tau)  # 2 copies


def test_matched_budget_expert_and_the_transfer_effect(trained: Cli) -> None:
    ws = Workspace(trained.workspace)
    trained(*MERGE)
    trained(*MERGE, "--control", "none")
    budget = trained.json(
        "train", "--cancer", "AAA", "--fold", "0", "--like-merge", "ada", *TRAINING
    )
    assert [b["method"] for b in budget] == ["ada-control-budget"]
    made = meta(ws.merged_file("AAA", "ada-control-budget", 0))
    assert made["method"] == "finetune"
    assert json.loads(made["training_config"])["lr"] == pytest.approx(1e-3)  # the merge's
    refused = trained("train", "--cancer", "AAA", "--like-merge", "average", code=2)
    assert "average does not train" in refused.stderr
    # the budget comes from the merge's file: other options on the command line are refused,
    # none given take the record's (1 epoch here, not the default 20)
    like = ["train", "--cancer", "AAA", "--fold", "0", "--like-merge", "ada"]
    other = trained(*like, "--epochs", "2", "--force", code=2)
    assert "epochs 2 given, 1 recorded" in other.stderr
    trained(*like, "--force")
    again = meta(ws.merged_file("AAA", "ada-control-budget", 0))
    assert json.loads(again["training_config"]) == json.loads(
        meta(ws.merged_file("AAA", "ada", 0))["training_config"]
    )
    missing = trained("train", "--cancer", "AAA", "--fold", "1", "--like-merge", "ada", code=2)
    assert "no ada merge of AAA fold 1" in missing.stderr
    report = trained.json("evaluate", "--target", "AAA", "--fold", "0")
    effect = {(t["model"], t["baseline"]) for t in report["transfer"]}
    assert effect == {("ada", "ada-control-budget"), ("ada", "ada-control-none")}
    shown = trained("evaluate", "--target", "AAA", "--fold", "0", env={"COLUMNS": "120"}).stdout
    assert "transfer effect: merge − control" in shown
    # a control trained for another number of epochs than its merge is no control
    trained(*MERGE, "--control", "permuted", "--epochs", "2")
    report = trained.json("evaluate", "--target", "AAA", "--fold", "0")
    unmatched = next(t for t in report["transfer"] if t["baseline"] == "ada-control-permuted")
    assert unmatched["p_value"] is None and unmatched["pairs"] == 0
    assert "not a matched control" in unmatched["reason"] and "epochs 1 vs 2" in unmatched["reason"]


def test_control_names_round_trip() -> None:
    for kind in controls.KINDS:
        assert controls.real_of(controls.label("steph-top_k-2", kind)) == "steph-top_k-2"
    assert controls.real_of("steph") is None
    assert controls.real_of("steph-control-other") is None


def test_null_sources_are_refused_for_a_method_that_reads_patients(trained: Cli) -> None:
    refused = trained("merge", "--target", "AAA", "--method", "pooled", "--control", "none", code=2)
    assert "trains on the sources' patients, not their experts" in refused.stderr
    assert not (trained.workspace / "merged").exists()
