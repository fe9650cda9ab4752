"""Label CSV validation: every problem exits 2 with the file, the row and the fix."""

import json
from pathlib import Path

import numpy as np
import pytest

from steph_cli.errors import BadInputError
from steph_cli.workspace.labels import Columns, Labels, read_labels
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
    path = _csv(tmp_path, "case_id,slide_id,survival_days,censorship\nA,a1,500,1\nB,b1,600,0\n")
    np.testing.assert_array_equal(read_labels(path).events, [0, 1])


def test_slide_defaults_to_patient(tmp_path: Path) -> None:
    labels = read_labels(_csv(tmp_path, "patient_id,t,e\nA,500,1\n"))
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


CDR = (
    "bcr_patient_barcode\ttype\tOS\tOS.time\tDSS\tDSS.time\tPFI\tPFI.time\n"
    "TCGA-AA-0001\tLUSC\t1\t400\t1\t400\t1\t200\n"
    "TCGA-AA-0002\tLUSC\t0\t900\t#N/A\t#N/A\t1\t300\n"
    "TCGA-AA-0003\tLUSC\t1\t1500\t0\t1500\t0\t1500\n"
)


def test_tcga_cdr_defaults_to_dss_and_leaves_out_unrecorded(tmp_path: Path) -> None:
    labels = read_labels(_csv(tmp_path, CDR))
    assert labels.patients == ("TCGA-AA-0001", "TCGA-AA-0003")
    np.testing.assert_array_equal(labels.times, [400, 1500])
    np.testing.assert_array_equal(labels.events, [1, 0])
    assert any("endpoint DSS" in n for n in labels.notes)
    assert any("1 patient(s) without DSS left out" in n for n in labels.notes)
    assert not labels.slides_named


@pytest.mark.parametrize(
    ("endpoint", "times", "events"),
    [("OS", [400, 900, 1500], [1, 0, 1]), ("pfi", [200, 300, 1500], [1, 1, 0])],
)
def test_tcga_cdr_endpoint(tmp_path: Path, endpoint: str, times: list, events: list) -> None:
    labels = read_labels(_csv(tmp_path, CDR), columns=Columns(endpoint=endpoint))
    np.testing.assert_array_equal(labels.times, times)
    np.testing.assert_array_equal(labels.events, events)


def test_endpoint_the_table_lacks(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"endpoint DFI asked for but no DFI or DFI\.time"):
        read_labels(_csv(tmp_path, CDR), columns=Columns(endpoint="DFI"))


def test_named_columns_and_event_meaning(tmp_path: Path) -> None:
    path = _csv(tmp_path, "who,img,followup_m,dead_or_alive\nA,a1,20,1\nB,b1,30,0\n")
    labels = read_labels(
        path,
        "months",
        Columns(patient="who", slide="img", time="followup_m", event="dead_or_alive"),
    )
    np.testing.assert_allclose(labels.times, [20 * 365.25 / 12, 30 * 365.25 / 12])
    np.testing.assert_array_equal(labels.events, [1, 0])
    flipped = read_labels(
        path,
        "months",
        Columns(patient="who", time="followup_m", event="dead_or_alive", event_means="censored"),
    )
    np.testing.assert_array_equal(flipped.events, [0, 1])
    with pytest.raises(BadInputError, match=r"no column 'alive' \(given with --event-col"):
        read_labels(path, "months", Columns(patient="who", time="followup_m", event="alive"))


def test_implausible_unit_refused_with_the_plausible_one(tmp_path: Path) -> None:
    path = _csv(tmp_path, "patient_id,t,e\nA,20,1\nB,30,0\nC,25,1\n")
    with pytest.raises(BadInputError) as err:
        read_labels(path)
    assert "a follow-up of 25 days if read as days" in str(err.value)
    assert "give --time-unit months" in str(err.value)
    months = read_labels(path, "months")  # said explicitly: converted, no doubt left
    assert months.warnings == ()
    kept = read_labels(path, "days")  # said explicitly: kept, with the doubt as a warning
    np.testing.assert_array_equal(kept.times, [20, 30, 25])
    assert "implausible" in kept.warnings[0]


def test_slides_found_by_patient_prefix() -> None:
    labels = Labels(
        ("TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003"),
        np.array([1.0, 2.0, 3.0]),
        np.array([1, 0, 1]),
        {p: (p,) for p in ("TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003")},
        slides_named=False,
    )
    found = labels.assign_slides(
        [
            "TCGA-AA-0001-01Z-00-DX1.uuid",
            "TCGA-AA-0001-01Z-00-DX2.uuid",
            "TCGA-AA-0002",
            "TCGA-AA-00021-01Z",  # another patient's prefix, not 0002's
            "TCGA-BB-0009-01Z-00-DX1",
        ]
    )
    assert found.slides == {
        "TCGA-AA-0001": ("TCGA-AA-0001-01Z-00-DX1.uuid", "TCGA-AA-0001-01Z-00-DX2.uuid"),
        "TCGA-AA-0002": ("TCGA-AA-0002",),
        "TCGA-AA-0003": ("TCGA-AA-0003",),
    }


def test_cli_registers_a_tcga_cdr_table(cli: Cli, tiny_data: Path, tmp_path: Path) -> None:
    rows = (tiny_data / "AAA" / "labels.csv").read_text().splitlines()[1:]
    per_patient = {r.split(",")[0]: r.split(",")[2:] for r in rows}
    table = (
        "bcr_patient_barcode\ttype\tOS\tOS.time\tPFI\tPFI.time\n"
        + "".join(f"{p}\tAAA\t{e}\t{t}\t{e}\t{t}\n" for p, (t, e) in per_patient.items())
        + "TCGA-ZZ-9999\tLUSC\t1\t500\t1\t500\n"
    )  # another cancer's patient: no features
    path = tmp_path / "cdr.tsv"
    path.write_text(table)
    feats = str(tiny_data / "AAA" / "features")
    args = ("cohort", "add", "AAA", "--labels", str(path), "--features", feats)
    result = cli(*args, "--endpoint", "OS", "--json")
    assert json.loads(result.stdout)["patients"] == len(per_patient)
    assert "endpoint OS" in result.stderr
    assert "1 patient(s) of the table have no feature file, left out" in result.stderr
    stored = (cli.workspace / "cohorts" / "AAA" / "labels.csv").read_text()
    assert f"AAA-0001,AAA-0001-DX2,{float(per_patient['AAA-0001'][0])!r}" in stored
    assert "no DSS or DSS.time column" in cli(*args, "--force", code=2).stderr
