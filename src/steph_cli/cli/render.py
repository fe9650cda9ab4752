"""Tables more than one command prints: task reports, evaluation tables, the workspace status."""

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.measure import Measurement
from rich.text import Text

from steph_cli.cli.common import State, emit_json, fmt, note
from steph_cli.cli.console import err, out
from steph_cli.cli.tables import Fitted, table

if TYPE_CHECKING:
    from steph_cli.api.status import Freshness
    from steph_cli.api.study import StudyReport
    from steph_cli.errors import Fix
    from steph_cli.evaluation.summary import Paired, StudyMean, StudyPair, Summary
    from steph_cli.merging.run import MergeResult
    from steph_cli.tasks.execution import Execution
    from steph_cli.tasks.graph import Report
    from steph_cli.training.expert import ExpertResult

LABELS = {"harrell_c": "Harrell's C", "uno_c": "Uno's C", "td_auc": "td-AUC", "ibs": "IBS"}


def tasks(state: State, report: "Report", execution: "Execution") -> None:
    """The task table of a Ray or multi-job run (stderr), each failed task on its own line,
    then exit 1 if any failed (the others' results are already written and shown)."""
    if execution.parallel and not state.json and not state.quiet:
        rows = [
            [o.key, o.status, o.attempts, f"{o.seconds:.1f}", o.error or None]
            for o in report.outcomes.values()
        ]
        # soft-wrapped like stdout: a record's name longer than the terminal stays whole
        err.print(
            table("Tasks", ["task", "status", "attempts", "s", "error"], rows), soft_wrap=True
        )
    for o in report.failed():
        failure(o.key, o.error, o.fix)
    report.raise_failures()


def failure(what: str, why: str, fix: "Fix | None") -> None:
    """One failed unit of work on stderr, with its fix as flags."""
    from rich.markup import escape

    from steph_cli.cli._errors import render

    text = why if fix is None else f"{why}; {render(fix)}"
    err.print(f"[red]failed:[/] {escape(what)}: {escape(text)}", soft_wrap=True)


def evaluation(
    summaries: list["Summary"], tests: list["Paired"], transfer: "Sequence[Paired]" = ()
) -> None:
    """Models side by side (one target) or cohort × model (several), then paired tests
    against the baseline, then each merge against its controls (the transfer effect)."""
    targets = sorted({s.target for s in summaries})
    if len(targets) == 1:
        out.print(_fit(lambda detail: model_table(targets[0], summaries, detail)))
    else:
        out.print(_fit(lambda detail: cohort_table(summaries, detail), (*DETAILS, TRANSPOSED)))
    if any(s.ci for s in summaries):
        out.print(_fit(lambda detail: interval_table(summaries, detail)))
    if tests:
        out.print(paired_table(tests))
        if any(t.p_value is None and t.reason for t in tests):
            reasons = sorted({t.reason for t in tests if t.p_value is None and t.reason})
            out.print(f"n/a: {'; '.join(reasons)}")
    if transfer:  # last: what a reader should take away is whether the sources mattered
        title = "transfer effect: merge − control, Harrell's C (t-interval; Wilcoxon p)"
        out.print(paired_table(transfer, title, "control"))
        for t in transfer:
            if t.p_value is None and t.reason:
                out.print(f"{t.model} vs {t.baseline}: {t.reason}", soft_wrap=True)


# How much a mean ± std cell shows: 0 "0.694 ± 0.047", 1 "0.694±0.047", 2 "0.694".
DETAILS = (0, 1, 2)
# The cohort table turned on its side: one row per model, so that long model names stay whole.
TRANSPOSED = 3


def _fit(build: Callable[[int], Fitted], details: Sequence[int] = DETAILS) -> Fitted:
    """The most detailed layout whose natural width fits the terminal (measured unclamped:
    rich would otherwise squeeze a wide table into the width by wrapping its cells)."""
    for detail in details:
        made = build(detail)
        if Measurement.get(out, out.options.update_width(10_000), made).maximum <= out.width:
            return made
    return made


def _cell(s: "Summary", best: bool, detail: int = 0) -> "Text | str":
    if s.mean is None:
        return f"– (0/{s.folds})"
    text = (f"{s.mean:.3f} ± {s.std:.3f}", f"{s.mean:.3f}±{s.std:.3f}", f"{s.mean:.3f}")[detail]
    if s.n < s.folds:
        text += f" ({s.n}/{s.folds})"
    return Text(f"{text}*", style="bold green") if best else text


def _over_folds(detail: int) -> str:
    """What the cells hold, for the caption: the narrowest layout drops the spread."""
    if detail == 2:
        return "fold means (± std: --json)"
    return "mean ± std over folds"


def _best(values: list["Summary"], metric: str) -> float | None:
    from steph_cli.evaluation.folds import HIGHER_IS_BETTER

    known = [s.mean for s in values if s.mean is not None]
    if not known:
        return None
    return max(known) if HIGHER_IS_BETTER[metric] else min(known)


def model_table(target: str, summaries: list["Summary"], detail: int = 0) -> Fitted:
    from steph_cli.evaluation.folds import METRICS

    models = sorted({s.model for s in summaries}, key=lambda m: (m != "expert", m))
    by = {(s.model, s.metric): s for s in summaries}
    best = {m: _best([s for s in summaries if s.metric == m], m) for m in METRICS}
    rows = [
        [name, *(_cell(by[(name, m)], by[(name, m)].mean == best[m], detail) for m in METRICS)]
        for name in models
    ]
    return table(
        f"{target}: test metrics, {_over_folds(detail)}; best *, IBS lower is better",
        ["model", *(LABELS[m] for m in METRICS)],
        rows,
    )


def cohort_table(summaries: list["Summary"], detail: int = 0) -> Fitted:

    harrell = [s for s in summaries if s.metric == "harrell_c"]
    models = sorted({s.model for s in harrell}, key=lambda m: (m != "expert", m))
    targets = sorted({s.target for s in harrell})
    by = {(s.target, s.model): s for s in harrell}
    if detail == TRANSPOSED:
        return _models_by_cohort(by, models, targets)
    rows = []
    for t in targets:
        present = [by[(t, m)] for m in models if (t, m) in by]
        best = _best(present, "harrell_c")
        rows.append(
            [
                t,
                *(
                    _cell(by[(t, m)], by[(t, m)].mean == best, detail) if (t, m) in by else None
                    for m in models
                ),
            ]
        )
    rows.append(["mean", *(_cohort_mean(by, m, targets) for m in models)])
    return table(
        f"Harrell's C on the test folds, {_over_folds(detail)} (best marked *)",
        ["cohort", *models],
        rows,
    )


def _models_by_cohort(
    by: dict[tuple[str, str], "Summary"], models: list[str], targets: list[str]
) -> Fitted:
    """Harrell's C with a row per model and a column per cohort (fold means), then the mean
    over cohorts: the layout for many or long model names (controls, grid points)."""

    best = {t: _best([by[(t, m)] for m in models if (t, m) in by], "harrell_c") for t in targets}
    rows = []
    for m in models:
        cells = [
            _cell(by[(t, m)], by[(t, m)].mean == best[t], 2) if (t, m) in by else None
            for t in targets
        ]
        rows.append([m, *cells, _cohort_mean(by, m, targets)])
    return table(
        f"Harrell's C on the test folds, {_over_folds(2)} (best marked *)",
        ["model", *targets, "mean"],
        rows,
    )


def _cohort_mean(
    by: dict[tuple[str, str], "Summary"], model: str, targets: list[str]
) -> str | None:
    """A model's mean over the cohorts that have a value, saying how many when not all."""
    import numpy as np

    values = [v for t in targets if (t, model) in by and (v := by[(t, model)].mean) is not None]
    cover = "" if len(values) == len(targets) else f" ({len(values)}/{len(targets)})"
    return f"{np.mean(values):.3f}{cover}" if values else None


CI_METRICS = ("harrell_c", "uno_c", "td_auc")


def interval_table(summaries: list["Summary"], detail: int = 0) -> Fitted:
    """The bootstrap intervals of the means over folds: models × cohorts of Harrell's C
    when that fits (``detail`` 0), else one row per (cohort, model) with every metric."""
    title = "95% CI of the mean over folds (bootstrap over test patients)"
    by = {(s.target, s.model, s.metric): s for s in summaries}
    models = sorted({s.model for s in summaries}, key=lambda m: (m != "expert", m))
    targets = sorted({s.target for s in summaries})

    def cell(t: str, m: str, metric: str) -> str | None:
        s = by.get((t, m, metric))
        return None if s is None or s.ci is None else f"{s.ci[0]:.3f}–{s.ci[1]:.3f}"

    if detail == 0 and len(targets) > 1:
        rows = [[m, *(cell(t, m, "harrell_c") for t in targets)] for m in models]
        return table(f"Harrell's C, {title}", ["model", *targets], rows)
    rows = [
        [*([t] if len(targets) > 1 else []), m, *(cell(t, m, x) for x in CI_METRICS)]
        for t in targets
        for m in models
    ]
    head = ["cohort"] * (len(targets) > 1)
    return table(
        title, [*head, "model", *(LABELS[x] for x in CI_METRICS)], rows, names=len(head) + 1
    )


def paired_table(
    tests: "Sequence[Paired]",
    title: str = "paired comparison over (cohort, fold) pairs, Harrell's C (Wilcoxon signed-rank)",
    against: str = "vs",
) -> Fitted:
    rows = [
        [
            t.model,
            t.baseline,
            None if t.mean_difference is None else f"{t.mean_difference:+.3f}",
            _ci(t.ci),
            f"{t.wins}/{t.pairs}",
            f"{t.p_value:.3g}" if t.p_value is not None else "n/a",
        ]
        for t in tests
    ]
    # "wins" shows the pairs too (8/12): one column fewer keeps the table within 80 columns
    columns = ["model", against, "mean Δ", "95% CI", "wins", "p"]
    return table(title, columns, rows, names=2)


def _ci(ci: tuple[float, float] | None) -> str | None:
    """An interval as one unbreakable word (``-0.007,+0.016``): a space let narrow
    terminals wrap it over two lines."""
    return None if ci is None else f"{ci[0]:+.3f},{ci[1]:+.3f}"


def _counts(*kinds: "Freshness") -> str:
    fresh = sum(len(k.fresh) for k in kinds)
    stale = sum(len(k.stale) for k in kinds)
    missing = sum(len(k.missing) for k in kinds)
    return f"{fresh}/{stale}/{missing}"


def status(state: State) -> None:
    """The workspace at a glance (``steph status``, and the end of ``steph demo``)."""
    from steph_cli import api

    inv = api.status(state.ws)
    if state.json:
        emit_json(asdict(inv))
        return
    s = inv.settings
    note(
        state,
        f"workspace {inv.root}  feature dim {s.feature_dim or '–'}, "
        f"{s.time_bins} time bins to {s.max_time_days:g} days, seed {s.seed}, "
        f"shared init {'yes' if inv.initialised else 'not yet'}",
    )
    if not inv.cohorts:
        note(state, "no cohorts yet: `steph cohort add NAME --labels CSV` or `steph demo`")
        return
    rows = []
    for c in inv.cohorts:
        merged = _counts(*c.merged.values()) if c.merged else None
        rows.append(
            [
                c.summary.name,
                c.summary.patients,
                f"{c.summary.slides_with_features}/{c.summary.slides}",
                f"{c.summary.event_rate:.0%}",
                len(c.summary.folds) or None,
                _counts(c.experts),
                _counts(c.vectors),
                merged and f"{merged} ({len(c.merged)})",
            ]
        )
    columns = [
        "cohort",
        "patients",
        "slides",
        "events",
        "folds",
        "experts",
        "vectors",
        "merged (methods)",
    ]
    note(state, "models per cohort as fresh/stale/missing folds; stale: an input changed")
    out.print(table(None, columns, rows, optional=("slides", "folds", "events")))
    stale = [
        [f"{folder}/fold{k}", "; ".join(why)]
        for c in inv.cohorts
        for folder, kind in [
            (f"experts/{c.summary.name}", c.experts),
            (f"vectors/{c.summary.name}", c.vectors),
            *((f"merged/{c.summary.name}/{m}", f) for m, f in c.merged.items()),
        ]
        for k, why in kind.stale.items()
    ]
    if stale:
        out.print(
            table(
                "stale (remade by the step that made them, with --force)", ["model", "why"], stale
            )
        )
    scored = [c for c in inv.cohorts if c.cindex]
    if scored:
        models = sorted({m for c in scored for m in c.cindex}, key=lambda m: (m != "expert", m))
        out.print(
            table(
                "recorded test C-index (Harrell, mean over fresh folds)",
                ["cohort", *models],
                [[c.summary.name, *(fmt(c.cindex.get(m)) for m in models)] for c in scored],
            )
        )


def merges(results: list["MergeResult"]) -> None:
    """Merged vs. target expert per fold, then what each source contributed."""
    rows = []
    for r in results:
        delta = (
            r.test_cindex - r.expert_cindex
            if r.test_cindex is not None and r.expert_cindex is not None
            else None
        )
        rows.append(
            [
                r.target,
                r.fold,
                r.method,
                fmt(r.test_cindex) or r.test_cindex_reason,
                fmt(r.expert_cindex),
                None if delta is None else f"{delta:+.3f}",
                "skipped" if r.skipped else f"{r.seconds:.1f}",
                fmt(r.inference_ms, 1),
            ]
        )
    columns = ["target", "fold", "method", "test C-index", "expert", "Δ", "s", "ms/bag"]
    out.print(table("merged vs. target expert (Harrell's C, test split)", columns, rows, 3))
    stats: dict[str, dict[str, list[float]]] = {}
    for r in results:
        for source, values in r.source_stats.items():
            for key, value in values.items():
                stats.setdefault(source, {}).setdefault(key, []).append(value)
    if stats:
        keys = sorted({k for v in stats.values() for k in v})
        rows = [
            [s, *(fmt(sum(v[k]) / len(v[k])) if k in v else None for k in keys)]
            for s, v in sorted(stats.items(), key=lambda kv: -sum(kv[1].get(keys[0], [0])))
        ]
        out.print(table("sources (mean over merges)", ["source", *keys], rows))


def study(report: "StudyReport") -> None:
    """Per training-set size: cohort × model means, then each model against the baseline."""
    sizes = sorted({m.size for m in report.summary})
    models = sorted({m.model for m in report.summary}, key=lambda m: (m != report.baseline, m))
    for size in sizes:
        means = {(m.target, m.model): m for m in report.summary if m.size == size}
        targets = [*sorted({t for t, _ in means if t != "mean"}), "mean"]
        lines = [[m, *(_mean_sd(means.get((t, m))) for t in targets)] for m in models]
        title = f"{report.study}, {_size(size)}: Harrell's C, mean ± sd over folds × seeds"
        out.print(table(title, ["model", *targets], lines))
    title = "paired over (cohort, seed, fold): Wilcoxon signed-rank, Holm-adjusted per size"
    out.print(_study_pairs(report.paired, title, "vs"))
    if report.transfer:
        title = (
            "transfer effect: merge − control over (cohort, seed, fold), Wilcoxon signed-rank; "
            "n 2pt: pairs that would detect 0.02 at this spread (α 0.05, power 0.8)"
        )
        out.print(_study_pairs(report.transfer, title, "control", power=True))


def _study_pairs(
    pairs: "Sequence[StudyPair]", title: str, against: str, power: bool = False
) -> Fitted:
    rows: list[list[object]] = [
        [
            p.model,
            p.baseline,
            *([p.group] if power else []),
            _size(p.size),
            p.pairs,
            None if p.mean_difference is None else f"{p.mean_difference:+.3f}",
            _ci(p.ci),
            f"{p.wins}/{p.ties}/{p.losses}",
            None if p.p_value is None else f"{p.p_value:.3g}",
            None if p.p_holm is None else f"{p.p_holm:.3g}",
            *([p.needed] if power else []),
        ]
        for p in pairs
    ]
    columns = [
        "model",
        against,
        *(["targets"] if power else []),
        "size",
        "pairs",
        "mean Δ",
        "95% CI",
        "W/T/L",
        "p",
        "p (Holm)",
        *(["n 2pt"] if power else []),
    ]
    return table(title, columns, rows, names=2)


def _size(size: float) -> str:
    """A training-set size as the study file gave it: all, a count, or a fraction."""
    return "all patients" if size == 1.0 else f"{size:g} patients" if size > 1 else f"{size:.0%}"


def _mean_sd(entry: "StudyMean | None") -> str | None:
    if entry is None or entry.mean is None:
        return None
    return f"{entry.mean:.3f}" + (f" ± {entry.sd:.3f}" if entry.sd is not None else "")


def experts(results: list["ExpertResult"], title: str | None = None) -> None:
    out.print(
        table(
            title,
            ["cohort", "fold", "status", "final loss", "test C-index", "s"],
            [
                [
                    r.cohort,
                    r.fold,
                    "skipped" if r.skipped else "trained",
                    fmt(r.final_loss, 4),
                    fmt(r.test_cindex) or r.test_cindex_reason,
                    f"{r.seconds:.1f}",
                ]
                for r in results
            ],
        )
    )
