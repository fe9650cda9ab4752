"""Validation inside the training patients: the epoch chosen, and test patients never used."""

import json

import numpy as np
import pytest

from steph_cli.models import io
from steph_cli.training.fold import hold_out
from steph_cli.workspace import Workspace
from steph_cli.workspace.labels import Labels
from steph_cli.workspace.splits import read_fold
from tests.conftest import FAST, Cli

VAL = ["--val-fraction", "0.25", "--select", "best"]


def test_hold_out_keeps_the_event_rate_and_is_seeded() -> None:
    patients = tuple(f"P{i}" for i in range(40))
    events = np.array([1] * 12 + [0] * 28)
    labels = Labels(patients, np.arange(40.0), events, {p: (p,) for p in patients})
    train, val = hold_out(labels, 0.25, seed=3, fold=1)
    assert len(val) == 10 and int(val.events.sum()) == 3  # 25 % of 12 events, of 28 censored
    assert set(train.patients) | set(val.patients) == set(patients)
    assert not set(train.patients) & set(val.patients)
    assert hold_out(labels, 0.25, seed=3, fold=1)[1].patients == val.patients
    assert hold_out(labels, 0.25, seed=4, fold=1)[1].patients != val.patients


def _test_patients_relabelled(ws: Workspace, cohort: str, fold: int) -> None:
    """Every test patient of the fold gets another time and event."""
    test = set(read_fold(ws.split_file(cohort, fold), fold, _labels(ws, cohort)).test)
    path = ws.labels_file(cohort)
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines[1:], start=1):
        p, s, t, e = line.split(",")
        if p in test:
            lines[i] = f"{p},{s},{float(t) * 3 + 7!r},{1 - int(e)}"
    path.write_text("\n".join(lines) + "\n")


def _labels(ws: Workspace, cohort: str):
    from steph_cli.workspace.cohorts import load_labels

    return load_labels(ws, cohort)


def _tensors(path) -> dict:
    return io.read(path).tensors


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--cancer", "AAA", "--fold", "0", *FAST],
        ["merge", "--target", "AAA", "--fold", "0", "--method", "steph", "--epochs", "2"],
        ["merge", "--target", "AAA", "--fold", "0", "--method", "ada", "--epochs", "2"],
    ],
    ids=["expert", "steph", "ada"],
)
def test_test_labels_change_no_saved_weight(trained: Cli, command: list[str]) -> None:
    ws = Workspace(trained.workspace)
    rows = trained.json(*command, *VAL, "--accumulate", "4", "--force")
    path = rows[0]["path"]
    before = _tensors(path)
    log = [
        json.loads(x)
        for x in (trained.workspace / "runs")
        .glob("*/log.jsonl")
        .__next__()
        .read_text()
        .splitlines()
    ]
    assert log  # runs are logged
    _test_patients_relabelled(ws, "AAA", 0)
    trained(*command, *VAL, "--accumulate", "4", "--force")
    after = _tensors(path)
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_epochs_are_watched_and_the_best_is_kept(trained: Cli) -> None:
    args = ["train", "--cancer", "BBB", "--fold", "1", "--embed-dim", "16", "--attn-dim", "8"]
    rows = trained.json(*args, "--epochs", "4", "--accumulate", "4", *VAL, "--force")
    run = rows[0]["run"]
    log = [json.loads(x) for x in (trained.workspace / run / "log.jsonl").read_text().splitlines()]
    epochs = [e for e in log if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert all(0.0 <= e["val_cindex"] <= 1.0 for e in epochs)
    (chosen,) = [e for e in log if e["event"] == "selected"]
    best = max(e["val_cindex"] for e in epochs)
    assert chosen["val_cindex"] == best
    assert chosen["epoch"] == next(e["epoch"] for e in epochs if e["val_cindex"] == best)
    meta = io.read(rows[0]["path"]).meta
    assert json.loads(meta["training_config"])["select"] == "best"


def test_choosing_needs_validation_patients(trained: Cli) -> None:
    args = ["train", "--cancer", "AAA", "--fold", "0", *FAST, "--select", "best", "--force"]
    result = trained(*args, code=2)
    assert "choosing the best epoch needs validation patients" in result.stderr
    assert "--val-fraction 0.2" in result.stderr
