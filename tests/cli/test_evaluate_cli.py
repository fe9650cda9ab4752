"""`steph evaluate` and `steph predict` end to end on tiny trained cohorts."""

import csv
import itertools
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from steph_cli.evaluation.folds import evaluate_fold
from steph_cli.workspace import Workspace
from tests.conftest import FAST, Cli

TRAINING = ["--epochs", "1", "--accumulate", "4"]


@pytest.fixture
def merged(trained: Cli) -> Cli:
    trained("merge", "--target", "AAA", "--method", "steph", *TRAINING)
    trained("merge", "--target", "AAA", "--method", "task-arithmetic", "--folds", "0,1")
    return trained


def test_evaluate_one_target(merged: Cli, tmp_path: Path) -> None:
    report = merged.json("evaluate", "--target", "AAA", "--csv", str(tmp_path / "m.csv"))
    folds = report["folds"]
    assert {(f["model"], f["fold"]) for f in folds} == {
        (m, k) for m in ("expert", "steph", "task-arithmetic") for k in (0, 1, 2)
    }
    missing = [f for f in folds if f["skipped"]]
    assert [(f["model"], f["fold"]) for f in missing] == [("task-arithmetic", 2)]
    assert "no task-arithmetic model for fold 2" in missing[0]["skipped"]
    summary = {(s["model"], s["metric"]): s for s in report["summary"]}
    assert summary[("task-arithmetic", "harrell_c")]["folds"] == 2  # the mean says it covers 2
    assert summary[("expert", "harrell_c")]["folds"] == 3
    for metric in ("harrell_c", "uno_c", "td_auc", "ibs"):
        entry = summary[("expert", metric)]
        values = [
            f["metrics"][metric]["value"]
            for f in folds
            if f["model"] == "expert" and f["metrics"][metric]["value"] is not None
        ]
        assert entry["n"] == len(values)
        assert entry["mean"] == (pytest.approx(np.mean(values)) if values else None)
    assert summary[("expert", "harrell_c")]["n"] == 3  # every fold has a Harrell's C
    paired = {p["model"]: p for p in report["paired"]}
    assert paired["steph"]["baseline"] == "expert" and paired["steph"]["pairs"] == 3
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert {r["metric"] for r in rows} >= {"harrell_c", "uno_c", "td_auc", "ibs"}
    table = merged("evaluate", "--target", "AAA").stdout
    assert "Harrell's C" in table and "steph" in table and "Wilcoxon" in table


def test_evaluation_is_recorded_and_reproducible(merged: Cli) -> None:
    runs = merged.workspace / "runs"
    first = merged.json("evaluate", "--target", "AAA", "--model", "expert,steph")
    second = merged.json("evaluate", "--target", "AAA", "--model", "expert,steph")
    assert first == second
    recorded = sorted(runs.glob("*-evaluate-AAA*"))
    assert len(recorded) == 2
    metrics = [(d / "metrics.json").read_bytes() for d in recorded]
    assert metrics[0] == metrics[1]  # same models, same bytes
    assert json.loads(metrics[0]) == first
    manifest = json.loads((recorded[0] / "manifest.json").read_text())
    ws = Workspace(merged.workspace)
    from steph_cli.workspace.hashing import file_sha256 as sha256

    inputs = manifest["inputs_sha256"]
    assert inputs["merged/AAA/steph/fold1.safetensors"] == sha256(ws.merged_file("AAA", "steph", 1))
    assert inputs["cohorts/AAA/labels.csv"] == sha256(ws.labels_file("AAA"))
    assert inputs["cohorts/AAA/splits/fold2.csv"] == sha256(ws.split_file("AAA", 2))
    assert set(inputs) >= {"features/AAA", "experts/AAA/fold0.safetensors"}
    assert manifest["call"]["model"] == "expert,steph" and manifest["outputs_sha256"] == {}


def test_expert_cindex_matches_training_record(merged: Cli) -> None:
    report = merged.json("evaluate", "--target", "BBB", "--model", "expert", "--fold", "1")
    trained_rows = merged.json("train", "--cancer", "BBB", "--fold", "1", *FAST)  # skipped
    assert trained_rows[0]["skipped"] is True
    assert report["folds"][0]["metrics"]["harrell_c"]["value"] == pytest.approx(
        trained_rows[0]["test_harrell_cindex"]
    )


def test_evaluate_all_targets_and_plots(merged: Cli, tmp_path: Path) -> None:
    result = merged(
        "evaluate", "--target", "all", "--model", "expert,steph", "--plot", str(tmp_path / "plots")
    )
    assert "mean" in result.stdout
    assert "no steph model for fold 0" in result.stderr  # BBB and CCC were not merged
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert "cindex.png" in pngs and "km-AAA-steph.png" in pngs
    assert all((tmp_path / "plots" / p).stat().st_size > 1000 for p in pngs)


def test_no_events_in_test_split_is_a_reason_not_a_crash(merged: Cli) -> None:
    ws = Workspace(merged.workspace)
    labels = ws.labels_file("CCC")
    lines = labels.read_text().splitlines()
    split = dict(line.split(",") for line in ws.split_file("CCC", 0).read_text().splitlines()[1:])
    out = [lines[0]]
    for line in lines[1:]:
        p, s, t, e = line.split(",")
        out.append(f"{p},{s},{t},{0 if split.get(p) == 'test' else e}")
    labels.write_text("\n".join(out) + "\n")
    stale = merged("evaluate", "--target", "CCC", "--model", "expert", "--fold", "0", code=2)
    assert "nothing to score" in stale.stderr  # a stale model is never scored
    assert "stale: cohorts/CCC/labels.csv changed (" in stale.stderr
    merged("train", "--cancer", "CCC", "--fold", "0", *FAST, "--force")
    report = merged.json("evaluate", "--target", "CCC", "--model", "expert", "--fold", "0")
    metrics = report["folds"][0]["metrics"]
    assert metrics["harrell_c"] == {
        "value": None,
        "reason": "no events among these patients",
        "ci": None,
    }
    assert metrics["uno_c"]["reason"] == "no events in the test split"


def test_predict_equals_what_evaluate_used(merged: Cli) -> None:
    ws = Workspace(merged.workspace)
    result = evaluate_fold(ws, "AAA", "steph", 0, torch.device("cpu"))
    patient = result.patients[0]
    slides = sorted(ws.features_dir("AAA").glob(f"{patient}-DX*.h5"))
    args = ["predict", "--model", str(ws.merged_file("AAA", "steph", 0)), "--patient-id", patient]
    for s in slides:
        args += ["--features", str(s)]
    preds = merged.json(*args)
    assert preds[0]["patient"] == patient
    assert preds[0]["risk"] == pytest.approx(result.risks[0], abs=1e-6)
    curve = preds[0]["survival"]
    assert len(curve) == 32 and all(a >= b for a, b in itertools.pairwise(curve))
    assert preds[0]["risk"] == pytest.approx(-sum(curve), abs=1e-5)
    assert preds[0]["days"][:2] == [365.0, 730.0]


def test_predict_expert_one_row_per_file_and_csv(merged: Cli, tmp_path: Path) -> None:
    ws = Workspace(merged.workspace)
    files = sorted(ws.features_dir("BBB").glob("*.h5"))[:3]
    args = ["predict", "--model", str(ws.expert_file("BBB", 2)), "--csv", str(tmp_path / "p.csv")]
    for f in files:
        args += ["--features", str(f)]
    preds = merged.json(*args)
    assert [p["patient"] for p in preds] == [f.stem for f in files]
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0][:6] == ["model", "patient", "patches", "risk", "train_followup_days", "S(365)"]
    assert len(rows) == 4 and {r[0] for r in rows[1:]} == {"fold2.safetensors"}
    assert [int(r[2]) for r in rows[1:]] == [p["patches"] for p in preds]


def test_predict_folders_globs_and_a_registered_cohort(merged: Cli) -> None:
    """--features takes a folder and a pattern; --cohort --split test predicts exactly the
    patients evaluate scored on the model's fold, with the same risks."""
    ws = Workspace(merged.workspace)
    model = str(ws.expert_file("BBB", 1))
    folder = ws.features_dir("BBB")
    by_dir = merged.json("predict", "--model", model, "--features", str(folder))
    by_glob = merged.json("predict", "--model", model, "--features", str(folder / "*-DX1.h5"))
    assert [p["patient"] for p in by_dir] == sorted(f.stem for f in folder.glob("*.h5"))
    assert [p["patient"] for p in by_glob] == sorted(f.stem for f in folder.glob("*-DX1.h5"))
    scored = evaluate_fold(ws, "BBB", "expert", 1, torch.device("cpu"))
    preds = merged.json("predict", "--model", model, "--cohort", "BBB", "--split", "test")
    assert [p["patient"] for p in preds] == scored.patients
    # evaluate reads the float16 bag cache, predict the float32 files (docs/evaluation.md)
    np.testing.assert_allclose([p["risk"] for p in preds], scored.risks, atol=1e-4)
    followup = preds[0]["followup_days"]
    assert followup == max(
        t for p, t in zip(*_labels(ws, "BBB"), strict=True) if p not in set(scored.patients)
    )
    shown = merged("predict", "--model", model, "--cohort", "BBB", "--split", "test").stdout
    assert ("†" in shown) == (followup < 10 * 365)
    text = merged("predict", "--model", model, "--features", str(folder / "none*.h5"), code=2)
    assert "matches no file" in text.stderr
    both = merged("predict", "--model", model, "--cohort", "BBB", "--features", str(folder), code=2)
    assert "one of the two" in both.stderr


def _labels(ws: Workspace, cohort: str) -> tuple[list[str], list[float]]:
    rows = list(csv.DictReader(ws.labels_file(cohort).open()))
    return [r["patient_id"] for r in rows], [float(r["t"]) for r in rows]


def test_predict_refuses_other_feature_dim(merged: Cli, tmp_path: Path) -> None:
    with h5py.File(tmp_path / "x.h5", "w") as fh:
        fh["features"] = np.ones((4, 5), dtype=np.float32)
    model = Workspace(merged.workspace).expert_file("AAA", 0)
    result = merged("predict", "--model", str(model), "--features", str(tmp_path / "x.h5"), code=2)
    assert "features have dimension 5 but" in result.stderr and "expects 8" in result.stderr


def test_tables_fit_80_columns_with_every_name_whole(merged: Cli) -> None:
    """A narrow terminal gets the compact layout: no line over 80 columns, one line per row,
    model and patient names whole, the best value marked in plain text."""
    narrow = {"COLUMNS": "80"}
    text = merged("evaluate", "--target", "AAA", env=narrow).stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    metrics = text.split("95% CI of the mean")[0].splitlines()
    rows = {line.split("│")[1].strip(): line for line in metrics if line.count("│") > 4}
    assert {"expert", "steph", "task-arithmetic"} <= set(rows)
    assert all(row.count("±") == 4 for name, row in rows.items() if name != "model")
    assert "*" in text
    ws = Workspace(merged.workspace)
    files = sorted(ws.features_dir("BBB").glob("*.h5"))[:3]
    args = ["predict", "--model", str(ws.expert_file("BBB", 2))]
    for f in files:
        args += ["--features", str(f)]
    shown = merged(*args, env=narrow).stdout
    assert max(len(line) for line in shown.splitlines()) <= 80
    assert all(sum(f.stem in line for line in shown.splitlines()) == 1 for f in files)
    assert "S(1y)" in shown


def test_caption_says_whether_cells_hold_the_spread(merged: Cli) -> None:
    """The narrowest layout drops "± std" from the cells; its caption must not promise it."""
    shown = set()
    for columns in ("120", "56"):
        text = merged("evaluate", "--target", "AAA", env={"COLUMNS": columns}).stdout
        metrics = text.split("95% CI of the mean")[0]
        cells = [line for line in metrics.splitlines() if line.count("│") > 4]
        spread = any("±" in line for line in cells)
        assert ("mean ± std over folds" in metrics) == spread
        assert ("fold means (± std: --json)" in metrics) == (not spread)
        shown.add(spread)
    assert shown == {True, False}


def test_predictions_file_recomputes_the_cindex_with_lifelines(merged: Cli, tmp_path: Path) -> None:
    """The out-of-fold file read back: lifelines' C-index of ``-risk`` (lifelines wants higher
    = longer survival) equals evaluate's Harrell's C for every (model, cohort, fold)."""
    import pandas as pd
    from lifelines.utils import concordance_index

    path = tmp_path / "oof.csv"
    report = merged.json("evaluate", "--target", "AAA", "--predictions", str(path))
    frame = pd.read_csv(path)
    scored = [f for f in report["folds"] if f["skipped"] is None]
    assert len(frame) == sum(f["n_test"] for f in scored)
    assert {"S_1y", "S_5y", "S_10y", "S_10y_beyond_followup", "train_followup_days"} <= set(
        frame.columns
    )
    for f in scored:
        rows = frame[
            (frame.model == f["model"]) & (frame.cohort == f["target"]) & (frame.fold == f["fold"])
        ]
        assert len(rows) == f["n_test"]
        c = concordance_index(rows.time, -rows.risk, rows.event)
        assert c == pytest.approx(f["metrics"]["harrell_c"]["value"], abs=1e-12)
    follow = frame.train_followup_days.to_numpy()
    assert (frame.S_10y_beyond_followup == (follow < 10 * 365.25)).all()
    assert (frame.S_1y >= frame.S_5y).all() and (frame.S_5y >= frame.S_10y).all()
    merged("evaluate", "--target", "AAA", "--predictions", str(tmp_path / "p.xlsx"), code=2)


def test_evaluate_refuses_a_list_baseline_and_scoring_nothing(merged: Cli) -> None:
    """A CI job must see that nothing was scored: exit 2, one line, no run recorded."""
    runs = merged.workspace / "runs"
    before = sorted(runs.iterdir())
    nothing = merged("evaluate", "--target", "AAA", "--model", "ada", code=2)
    assert nothing.stderr.strip().count("\n") == 0
    assert "nothing to score: 3 fold(s) asked for" in nothing.stderr
    for baseline in ("all", "expert,steph"):
        refused = merged("evaluate", "--target", "AAA", "--baseline", baseline, code=2)
        assert "name one model" in refused.stderr
    assert sorted(runs.iterdir()) == before


@pytest.mark.parametrize("columns", [80, 120])
def test_every_evaluate_table_keeps_names_and_numbers_whole(merged: Cli, columns: int) -> None:
    """Several cohorts, long model names (a control) and intervals: at 80 and 120 columns
    no line is wider than the terminal and every model name, interval and header stays on
    one line."""
    merged("merge", "--target", "AAA", "--method", "steph", "--control", "none", *TRAINING)
    text = merged("evaluate", "--target", "all", env={"COLUMNS": str(columns)}).stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    for name in ("expert", "steph", "steph-control-none", "task-arithmetic", "mean Δ", "95% CI"):
        assert any(name in line for line in lines), name
    cells = [w for line in lines for w in line.split() if re.match(r"\d\.\d{3}–", w)]
    assert cells and all(re.fullmatch(r"\d\.\d{3}–\d\.\d{3}", w) for w in cells)
