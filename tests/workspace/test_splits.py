"""k-fold splits: generated ones are patient-level and stratified; imported ones as they come."""

from pathlib import Path

import numpy as np
import pytest

from steph_cli.errors import StephError
from steph_cli.workspace.labels import read_labels
from steph_cli.workspace.splits import import_splits, make_folds, parse_split_file
from tests.conftest import Cli


@pytest.fixture
def labels(tmp_path: Path):
    rows = ["patient_id,slide_id,t,e"]
    rng = np.random.default_rng(0)
    for i in range(40):
        rows.append(f"P{i},P{i}-s,{rng.integers(1, 4000)},{int(i % 4 == 0)}")
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(rows) + "\n")
    return read_labels(path)


def test_generated_folds_partition_patients(labels) -> None:
    folds = make_folds(labels, 5, seed=1)
    tests = [set(f.test) for f in folds]
    assert set().union(*tests) == set(labels.patients)
    assert sum(len(t) for t in tests) == len(labels)
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert set(f.train) | set(f.test) == set(labels.patients)
        assert len(f.test) == 8


def test_generated_folds_stratified_by_event(labels) -> None:
    events = dict(zip(labels.patients, labels.events, strict=True))
    per_fold = [sum(events[p] for p in f.test) for f in make_folds(labels, 5, seed=1)]
    assert per_fold == [2, 2, 2, 2, 2]  # 10 events dealt evenly


def test_generated_folds_deterministic(labels) -> None:
    assert make_folds(labels, 5, 7) == make_folds(labels, 5, 7)
    assert make_folds(labels, 5, 7) != make_folds(labels, 5, 8)


def test_too_many_folds(labels) -> None:
    with pytest.raises(StephError, match="cannot make 41 folds of 40 patients: use 2 to 40 folds"):
        make_folds(labels, 41, 0)


def test_wide_layout_with_padding_and_slide_ids(labels, tmp_path: Path) -> None:
    path = tmp_path / "splits_0.csv"
    train = [f"P{i}" for i in range(30)]
    val = [f"P{i}-s" for i in range(30, 35)]  # slide ids map to patients
    test = [f"P{i}" for i in range(35, 40)]
    lines = [",train,val,test"]
    for i, p in enumerate(train):
        v = val[i] if i < len(val) else ""
        t = test[i] if i < len(test) else ""
        lines.append(f"{i},{p},{v},{t}")
    path.write_text("\n".join(lines) + "\n")
    fold = parse_split_file(path, 0, labels)
    assert fold.train == tuple(train)
    assert fold.val == tuple(f"P{i}" for i in range(30, 35))
    assert fold.test == tuple(test)


def test_wide_layout_without_test_uses_val(labels, tmp_path: Path) -> None:
    path = tmp_path / "splits_2.csv"
    path.write_text("train,val\nP0,P1\nP2,\n")
    fold = parse_split_file(path, 2, labels)
    assert fold.test == ("P1",) and fold.val == () and fold.train == ("P0", "P2")


def test_long_layout(labels, tmp_path: Path) -> None:
    d = tmp_path / "splits"
    d.mkdir()
    (d / "fold0.csv").write_text("patient_id,split\nP0,train\nP1,test\nP2,val\n")
    (d / "fold1.csv").write_text("patient_id,split\nP0,test\nP1,train\n")
    folds = import_splits(d, labels)
    assert [f.index for f in folds] == [0, 1]
    assert folds[0].counts() == {"train": 1, "val": 1, "test": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("patient_id,split\nP0,train\nNOBODY,test\n", "'NOBODY' is neither a patient nor a slide"),
        ("patient_id,split\nP0,train\nP0,test\n", "patient P0 is in both train and test"),
        ("patient_id,split\nP0,training\n", "split 'training' is not one of train, val, test"),
        ("foo,bar\n1,2\n", "no split columns"),
        ("patient_id,split\nP0,train\n", "a fold needs train and test patients"),
    ],
)
def test_bad_split_files(labels, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "fold0.csv"
    path.write_text(text)
    with pytest.raises(StephError, match=message):
        parse_split_file(path, 0, labels)


def test_cli_split_and_import(cli: Cli, tiny_data: Path, tmp_path: Path) -> None:
    labels = tiny_data / "AAA" / "labels.csv"
    cli("cohort", "add", "AAA", "--labels", str(labels))
    made = cli.json("cohort", "split", "AAA", "--folds", "4", "--seed", "2")
    assert [m["fold"] for m in made] == [0, 1, 2, 3]
    assert sum(m["test"] for m in made) == 24
    assert cli.json("cohort", "show", "AAA")["folds"] == [0, 1, 2, 3]
    # a smaller k removes the folds that no longer exist
    cli("cohort", "split", "AAA", "--folds", "2")
    assert cli.json("cohort", "show", "AAA")["folds"] == [0, 1]

    d = tmp_path / "given"
    d.mkdir()
    (d / "splits_0.csv").write_text("train,test\nAAA-0000,AAA-0001\nAAA-0002,\n")
    cli("cohort", "add", "AAA2", "--labels", str(labels), "--splits", str(d))
    stored = (cli.workspace / "cohorts" / "AAA2" / "splits" / "fold0.csv").read_text()
    assert stored == "patient_id,split\nAAA-0000,train\nAAA-0002,train\nAAA-0001,test\n"
