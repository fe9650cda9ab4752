"""Label CSV validation: every problem exits 2 with the file, the row and the fix."""

from pathlib import Path

import numpy as np
import pytest

from steph_cli.workspace.labels import read_labels
from tests.conftest import Cli


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


CASES = {
    "missing columns": (
        "patient_id,slide_id,time_days\np1,s1,10\n",
        ["missing time and event column(s)", "expected columns patient_id, slide_id, t, e"],
    ),
    "negative time": (
        "patient_id,slide_id,t,e\np1,s1,10,1\np2,s2,-5,0\n",
        ["row 3", "t='-5' for p2", "finite and >= 0"],
    ),
    "nan time": ("patient_id,slide_id,t,e\np1,s1,nan,1\n", ["row 2", "t='nan'"]),
    "text time": ("patient_id,slide_id,t,e\np1,s1,ten,1\n", ["row 2", "t='ten'"]),
    "infinite time": ("patient_id,slide_id,t,e\np1,s1,inf,1\n", ["row 2", "t='inf'"]),
    "event not 0/1": (
        "patient_id,slide_id,t,e\np1,s1,10,2\n",
        ["row 2", "e='2' for p1", "e must be 0 or 1"],
    ),
    "conflicting duplicate": (
        "patient_id,slide_id,t,e\np1,s1,10,1\np1,s2,20,1\n",
        ["row 3", "patient p1 has t=20", "t=10, e=1 on row 2", "make all of its rows agree"],
    ),
    "empty patient": ("patient_id,slide_id,t,e\n,s1,10,1\n", ["row 2", "empty patient_id"]),
    "no rows": ("patient_id,slide_id,t,e\n", ["no patients"]),
    "slide of two patients": (
        "patient_id,slide_id,t,e\np1,s1,10,1\np2,s1,20,0\n",
        ["slide s1 belongs to both p1 and p2"],
    ),
    "bad slide id": ("patient_id,slide_id,t,e\np1,../x,10,1\n", ["row 2", "invalid slide id"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_reports_label_problem(cli: Cli, tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    path = _csv(tmp_path, text)
    result = cli("cohort", "add", "X", "--labels", str(path), code=2)
    message = result.stderr
    assert str(path) in message
    for part in expected:
        assert part in message
    assert not (cli.workspace / "cohorts" / "X").exists()


def test_counts_further_problems(tmp_path: Path) -> None:
    path = _csv(tmp_path, "patient_id,slide_id,t,e\np1,s1,-1,1\np2,s2,5,7\np3,s3,4,0\n")
    with pytest.raises(Exception, match=r"row 2.*\(1 more problem after this one\)"):
        read_labels(path)


def test_uni2h_dss_columns(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "patient_id,pathology_id,t,e,age\nTCGA-1,TCGA-1-DX1.AB,100.5,1,60\n"
        "TCGA-1,TCGA-1-DX2.CD,100.5,1,60\nTCGA-2,TCGA-2-DX1.EF,3000,0,50\n",
    )
    labels = read_labels(path)
    assert labels.patients == ("TCGA-1", "TCGA-2")
    assert labels.slides["TCGA-1"] == ("TCGA-1-DX1.AB", "TCGA-1-DX2.CD")
    np.testing.assert_array_equal(labels.times, [100.5, 3000.0])
    np.testing.assert_array_equal(labels.events, [1, 0])


def test_clam_censorship_is_inverted(tmp_path: Path) -> None:
    path = _csv(tmp_path, "case_id,slide_id,survival_days,censorship\nA,a1,5,1\nB,b1,6,0\n")
    np.testing.assert_array_equal(read_labels(path).events, [0, 1])


def test_slide_defaults_to_patient(tmp_path: Path) -> None:
    labels = read_labels(_csv(tmp_path, "patient_id,t,e\nA,5,1\n"))
    assert labels.slides == {"A": ("A",)}


def test_patients_without_features_reported(cli: Cli, tiny_data: Path, tmp_path: Path) -> None:
    src = tiny_data / "AAA" / "labels.csv"
    extra = src.read_text() + "GHOST,GHOST-DX1,100,0\n"
    path = _csv(tmp_path, extra)
    result = cli(
        "cohort",
        "add",
        "AAA",
        "--labels",
        str(path),
        "--features",
        str(tiny_data / "AAA" / "features"),
        code=2,
    )
    assert "patient GHOST has no feature file (slides: GHOST-DX1)" in result.stderr
    assert "extract or import its features" in result.stderr
