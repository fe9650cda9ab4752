"""A real survival dataset through the whole `steph` path, against scikit-survival's CoxPH.

GBSG2 (686 breast-cancer patients, 8 clinical covariates, 44% events) ships with
scikit-survival. Each patient becomes a bag of one instance (its standardised covariates)
written as a real feature file; the expert is trained with `steph train` and must rank the
held-out patients within 0.03 of Harrell's C of a Cox model fitted on the same split.
"""

import json

import numpy as np
from sklearn.model_selection import train_test_split
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.preprocessing import OneHotEncoder

from steph_cli.workspace.features import SlideFeatures, write_features
from tests.conftest import Cli


def test_expert_matches_coxph_on_gbsg2(cli: Cli, tmp_path) -> None:
    x_frame, y = load_gbsg2()
    x = OneHotEncoder().fit_transform(x_frame).to_numpy(float)
    events, times = y["cens"].astype(int), y["time"].astype(float)
    train, test = train_test_split(
        np.arange(len(times)), test_size=0.3, random_state=0, stratify=events
    )
    mean, std = x[train].mean(0), x[train].std(0)
    xs = ((x - mean) / std).astype(np.float32)

    ids = [f"P{i:04d}" for i in range(len(times))]
    (tmp_path / "features").mkdir()
    for i, pid in enumerate(ids):
        write_features(tmp_path / "features" / f"{pid}.h5", SlideFeatures(xs[i : i + 1]))
    rows = [f"{pid},{pid},{t},{e}" for pid, t, e in zip(ids, times, events, strict=True)]
    (tmp_path / "labels.csv").write_text("patient_id,slide_id,t,e\n" + "\n".join(rows) + "\n")
    (tmp_path / "splits").mkdir()
    split = [f"{ids[i]},train" for i in train] + [f"{ids[i]},test" for i in test]
    (tmp_path / "splits" / "fold0.csv").write_text("patient_id,split\n" + "\n".join(split))

    cli(
        "cohort",
        "add",
        "GBSG2",
        "--labels",
        str(tmp_path / "labels.csv"),
        "--features",
        str(tmp_path / "features"),
        "--splits",
        str(tmp_path / "splits"),
    )
    # METHOD's lr of 1e-4 is tuned for thousands of patches per bag; one-instance bags
    # need a larger step to fit in 20 epochs.
    result = cli.json("train", "--cancer", "GBSG2", "--fold", "0", "--lr", "1e-3")
    ours = result[0]["test_harrell_cindex"]

    cox = CoxPHSurvivalAnalysis().fit(x[train], y[train])
    reference = concordance_index_censored(
        events[test].astype(bool), times[test], cox.predict(x[test])
    )[0]
    print(json.dumps({"steph_expert": ours, "coxph": reference}))
    assert ours > 0.6
    assert abs(ours - reference) <= 0.03
