"""Kaplan–Meier curves of predicted risk groups and per-cohort C-index bars (``plot`` extra)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sksurv.compare import compare_survival
from sksurv.util import Surv

from steph_cli.errors import BadInputError
from steph_cli.evaluation.folds import FoldResult
from steph_cli.evaluation.summary import StudyRow, Summary
from steph_cli.plotting import pyplot, save
from steph_cli.workspace.labels import UNITS


def risk_groups(results: list[FoldResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(times, events, high-risk flag) of every test patient of these folds, each split at
    the median risk of its own fold's training patients when that was computed, else at the
    median of the fold's test patients; and which median was used, for the caption."""
    times: list[float] = []
    events: list[int] = []
    high: list[bool] = []
    by_train = all(r.train_median_risk is not None for r in results if r.skipped is None)
    for r in results:
        if r.skipped is None and r.risks:
            cut = r.train_median_risk if by_train else float(np.median(r.risks))
            times.extend(r.times)
            events.extend(r.events)
            high.extend(np.asarray(r.risks) > cut)
    split = "training patients' median risk" if by_train else "test patients' median risk"
    return np.asarray(times, float), np.asarray(events, bool), np.asarray(high, bool), split


def logrank_p(times: np.ndarray, events: np.ndarray, high: np.ndarray) -> float | None:
    if high.all() or not high.any() or not events.any():
        return None
    return float(compare_survival(Surv.from_arrays(events, times), high)[1])


def kaplan_meier_figure(
    results: list[FoldResult], title: str, time_unit: str = "days"
) -> tuple[Any, float | None]:
    """Kaplan–Meier curves with 95% bands of the predicted low- and high-risk groups (each
    test patient split at its fold's median risk), from (0, 1), with censoring marks and
    the numbers at risk below (lifelines); the figure and the log-rank p. A group with no
    patient is refused: a single curve compares nothing."""
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    if time_unit not in UNITS:
        raise BadInputError(f"time unit {time_unit!r}: use {', '.join(UNITS)}")
    times, events, high, split = risk_groups(results)
    if len(times) == 0 or high.all() or not high.any():
        who = "no test patient" if len(times) == 0 else f"every test patient ({len(times)})"
        side = "" if len(times) == 0 else (" high" if high.all() else " low")
        raise BadInputError(
            f"{title}: {who} is{side} risk when split at the {split}; a Kaplan–Meier "
            "comparison needs both groups"
        )
    plt = pyplot()
    p = logrank_p(times, events, high)
    times = times / UNITS[time_unit]
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    fitters = []
    for flag, label, colour in ((False, "low risk", "tab:blue"), (True, "high risk", "tab:red")):
        mask = high == flag
        fitter = KaplanMeierFitter(label=label).fit(times[mask], events[mask])
        fitter.plot_survival_function(
            ax=ax,
            ci_show=True,
            ci_alpha=0.15,
            show_censors=True,
            color=colour,
            censor_styles={"marker": "|", "ms": 6, "mew": 1},
        )
        fitters.append(fitter)
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(time_unit)
    ax.set_ylabel("survival probability (95% band)")
    subtitle = f"split at the {split}; log-rank p = {p:.3g}" if p is not None else split
    ax.set_title(f"{title}\n{subtitle}", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    fig.tight_layout()
    return fig, p


def kaplan_meier(
    results: list[FoldResult], title: str, path: Path, time_unit: str = "days"
) -> float | None:
    """Save the Kaplan–Meier plot (PNG, SVG or PDF by suffix); the log-rank p-value."""
    fig, p = kaplan_meier_figure(results, title, time_unit)
    save(fig, path)
    return p


def cindex_figure(summaries: list[Summary]) -> Any:
    """Per-cohort bars of Harrell's C, mean over the test folds with their std as error
    bars, one colour per model; the legend outside the axes."""
    plt = pyplot()
    rows = [s for s in summaries if s.metric == "harrell_c" and s.mean is not None]
    targets = sorted({s.target for s in rows})
    models = sorted({s.model for s in rows}, key=lambda m: (m != "expert", m))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * len(targets), 3.8), layout="constrained")
    for i, model in enumerate(models):
        values = {s.target: s for s in rows if s.model == model}
        xs = [j + i * width for j, t in enumerate(targets) if t in values]
        ys = [values[t].mean for t in targets if t in values]
        errs = [values[t].std for t in targets if t in values]
        ax.bar(xs, ys, width, yerr=errs, label=model, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(targets))], targets)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("Harrell's C (test folds, mean ± std)")
    ax.set_ylim(0.3, 1.0)
    ax.set_title("Harrell's C per cohort and model", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


def cindex_bars(summaries: list[Summary], path: Path) -> Path:
    return save(cindex_figure(summaries), path)


def scarcity_curve(rows: Sequence[StudyRow], path: Path, title: str) -> Path:
    """Harrell's C against the target's training-set size, one line per model: the mean over
    cohorts × folds × seeds with its standard error; saved as PNG and SVG."""
    plt = pyplot()
    sizes = sorted({r.size for r in rows})
    models = sorted({r.model for r in rows}, key=lambda m: (m != "expert", m))
    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    # A colour and a marker per model (tab10 alone repeats after ten); the baseline expert in
    # black and dashed, so that every other line reads against it.
    colours, markers = plt.get_cmap("tab20").colors, "osD^vP*Xph<>"
    for i, model in enumerate(models):
        xs, ys, errs = [], [], []
        for size in sizes:
            got = [
                r for r in rows if r.model == model and r.size == size and r.harrell_c is not None
            ]
            if got:
                values = np.array([r.harrell_c for r in got], dtype=float)
                xs.append(float(np.mean([r.train_patients for r in got])))
                ys.append(float(values.mean()))
                errs.append(
                    float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
                )
        style = (
            {"color": "black", "ls": "--", "marker": "o"}
            if model == "expert"
            else {"color": colours[(2 * i) % 20 + (i // 10) % 2], "marker": markers[i % 12]}
        )
        ax.errorbar(xs, ys, yerr=errs, capsize=3, label=model, **style)
    ax.set_xlabel("target training patients per fold")
    ax.set_ylabel("Harrell's C (test folds; mean ± s.e.m.)")
    ax.set_title(f"{title}: C-index against training-set size")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.savefig(path.with_suffix(".svg"), bbox_inches="tight")
    return save(fig, path)
