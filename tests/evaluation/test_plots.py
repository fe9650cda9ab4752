"""Plots checked through matplotlib's objects, not pixels."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from steph_cli.evaluation.folds import FoldResult
from steph_cli.evaluation.plots import cindex_figure, kaplan_meier_figure
from steph_cli.evaluation.summary import Summary
from steph_cli.merging.vectors import VectorReport, similarity_figure


def _fold(seed: int) -> FoldResult:
    rng = np.random.default_rng(seed)
    n = 40
    risks = rng.normal(size=n)
    times = np.round(np.exp(-risks) * 800 + rng.uniform(1, 50, n))
    events = (rng.uniform(size=n) < 0.6).astype(int)
    return FoldResult(
        "T",
        "steph",
        seed,
        n_test=n,
        patients=[f"P{i}" for i in range(n)],
        risks=risks.tolist(),
        times=times.tolist(),
        events=events.tolist(),
        train_median_risk=0.0,
    )


def test_kaplan_meier_starts_at_one_marks_censoring_and_counts_at_risk() -> None:
    fig, p = kaplan_meier_figure([_fold(0), _fold(1)], "T · steph")
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_label() in ("low risk", "high risk")]
    assert sorted(line.get_label() for line in curves) == ["high risk", "low risk"]
    for line in curves:
        x, y = line.get_data()
        assert (x[0], y[0]) == (0.0, 1.0)  # from (0, 1), not from the first event
    censors = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert censors and all(len(line.get_xdata()) > 0 for line in censors)
    table = [t.get_text() for a in fig.axes[1:] for t in a.get_xticklabels()]
    assert table and table[0].startswith("At risk")  # lifelines' table under the x axis
    assert "low risk" in table[0] and "high risk" in table[0]
    starts = [int(n) for n in table[0].split() if n.isdigit()]
    assert sum(starts) == 80  # everyone is at risk at day 0
    assert ax.get_xlabel() == "days" and ax.get_ylabel() == "survival probability (95% band)"
    assert p is not None and f"log-rank p = {p:.3g}" in ax.get_title()
    assert "training patients' median" in ax.get_title()
    assert len(ax.collections) >= 2  # a confidence band per group


def test_kaplan_meier_in_years_split_at_the_test_median_without_training_risks() -> None:
    folds = [_fold(0), _fold(1)]
    for r in folds:
        r.train_median_risk = None  # an evaluation made without risk_groups
    fig, p = kaplan_meier_figure(folds, "T", time_unit="years")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "years" and "test patients' median" in ax.get_title()
    longest = max(max(r.times) for r in folds) / 365.25
    ends = [line.get_xdata()[-1] for line in ax.get_lines() if line.get_label() == "low risk"]
    assert ends and max(ends) <= longest + 1e-9
    assert p is not None


def test_kaplan_meier_refuses_an_empty_group() -> None:
    from steph_cli.errors import BadInputError

    fold = _fold(0)
    fold.train_median_risk = min(fold.risks) - 1  # every test patient above it
    with pytest.raises(BadInputError, match=r"every test patient \(40\) is high risk"):
        kaplan_meier_figure([fold], "T")


def test_heatmap_clusters_uses_a_sequential_map_and_labels_its_bar() -> None:
    cohorts = ["A", "B", "C", "D"]
    # A~C and B~D are similar: clustering puts each pair side by side
    cosine = [[1, 0.1, 0.9, 0.2], [0.1, 1, 0.2, 0.8], [0.9, 0.2, 1, 0.1], [0.2, 0.8, 0.1, 1]]
    fig = similarity_figure(VectorReport(0, cohorts, [], [], cosine))
    ax, bar = fig.axes[0], fig.axes[1]
    order = [t.get_text() for t in ax.get_yticklabels()]
    pos = {c: i for i, c in enumerate(order)}
    assert abs(pos["A"] - pos["C"]) == 1 and abs(pos["B"] - pos["D"]) == 1
    assert ax.get_images()[0].get_cmap().name == "viridis"
    assert bar.get_ylabel() == "cosine similarity"
    assert "Task-vector cosine similarity" in ax.get_title()
    texts = {t.get_text(): t.get_color() for t in ax.texts}
    assert texts["1.00"] != texts["0.10"]  # light text on dark cells, dark on light
    negative = similarity_figure(VectorReport(0, ["A", "B"], [], [], [[1, -0.5], [-0.5, 1]]))
    assert negative.axes[0].get_images()[0].get_cmap().name == "RdBu_r"


def test_cindex_bars_have_error_bars_a_title_and_the_legend_outside() -> None:
    summaries = [
        Summary(t, m, "harrell_c", 0.6 + i / 10, 0.05, 3, 3)
        for i, (t, m) in enumerate(
            [("A", "expert"), ("A", "steph"), ("B", "expert"), ("B", "steph")]
        )
    ]
    fig = cindex_figure(summaries)
    ax = fig.axes[0]
    assert ax.get_title() == "Harrell's C per cohort and model"
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["expert", "steph"]
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # right of the axes
    assert len(ax.containers) >= 2 and all(
        c.errorbar is not None for c in ax.containers if hasattr(c, "errorbar")
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]


def test_figures_save_in_each_format(tmp_path) -> None:
    from steph_cli.errors import BadInputError
    from steph_cli.plotting import save

    for form in ("png", "svg", "pdf"):
        fig, _ = kaplan_meier_figure([_fold(0)], "T")
        assert save(fig, tmp_path / f"km.{form}").stat().st_size > 1000
    with pytest.raises(BadInputError, match=r"use a \.png, \.svg or \.pdf file name"):
        save(kaplan_meier_figure([_fold(0)], "T")[0], tmp_path / "km.gif")
