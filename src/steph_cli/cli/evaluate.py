"""``steph evaluate``: k-fold test metrics of experts and merged models, side by side."""

from pathlib import Path
from typing import Annotated

import typer

from steph_cli.cli import completion, render
from steph_cli.cli import options as opt
from steph_cli.cli.common import State, command, emit_json, examples, note
from steph_cli.cli.progress import RichHooks

EPILOG = examples(
    "steph evaluate --target all --model all",
    "steph evaluate --target LUSC --model expert,steph --csv lusc.csv --plot plots/",
    "steph evaluate --target LUSC --baseline ada --json",
    "steph evaluate --target all --predictions oof.csv --bootstrap 2000",
)


@command
def evaluate(
    state: State,
    target: Annotated[
        str,
        typer.Option(help="Target cohort, or all.", autocompletion=completion.cohorts_or_all),
    ],
    model: Annotated[
        str,
        typer.Option(
            help="expert, a merge method (steph, ada, ...), a list, or all.",
            autocompletion=completion.models,
        ),
    ] = "all",
    fold: opt.Fold = None,
    folds: opt.Folds = "all",
    baseline: Annotated[
        str,
        typer.Option(help="Model the paired tests compare with.", autocompletion=completion.models),
    ] = "expert",
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write one row per fold and metric.")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            help="Write out-of-fold predictions, one row per model, cohort, fold and test "
            "patient (.csv, or .parquet with pyarrow).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Folder for Kaplan–Meier plots and the C-index bar chart."),
    ] = None,
    time_unit: Annotated[
        str,
        typer.Option(
            help="Time axis of the --plot Kaplan–Meier curves.",
            **completion.one_of("days", "months", "years"),
        ),
    ] = "days",
    bootstrap: Annotated[
        int,
        typer.Option(
            help="Resamples of each fold's test patients for the 95% intervals of Harrell's "
            "C, Uno's C and td-AUC (0: none).",
            min=0,
        ),
    ] = 1000,
    plot_format: Annotated[
        str,
        typer.Option(help="Image format of --plot.", **completion.one_of("png", "svg", "pdf")),
    ] = "png",
) -> None:
    """K-fold test metrics of experts and merged models, side by side.

    Per fold: Harrell's C, Uno's C, time-dependent AUC and integrated Brier score
    (scikit-survival; IPCW from the fold's train split), then mean ± std over folds.

    A fold without a model, or a metric that cannot be computed (e.g. no events in the test
    split), is reported as missing with the reason; means say how many folds they cover.
    Every model is compared with --baseline on the same folds (Wilcoxon signed-rank).

    95% intervals: percentile bootstrap over each fold's test patients (--bootstrap
    resamples, seeded by --seed); a mean over folds is bootstrapped by resampling every
    fold at once.
    """
    from steph_cli import api
    from steph_cli.plotting import FORMATS

    if predictions is not None and predictions.suffix not in (".csv", ".parquet"):
        raise typer.BadParameter("give a .csv or .parquet path", param_hint="--predictions")
    if time_unit not in ("days", "months", "years"):
        raise typer.BadParameter("use days, months or years", param_hint="--time-unit")
    if plot_format not in FORMATS:
        raise typer.BadParameter(f"use {', '.join(FORMATS)}", param_hint="--plot-format")
    with RichHooks(state) as hooks:
        evaluation = api.evaluate(
            state.ws,
            target,
            model,
            fold=fold,
            folds=folds,
            baseline=baseline,
            risk_groups=plot is not None,
            bootstrap=bootstrap,
            seed=state.seed,
            device=state.device,
            hooks=hooks,
        )
    if csv_path is not None:
        note(state, f"wrote {evaluation.write_csv(csv_path)}")
    if predictions is not None:
        note(state, f"wrote {evaluation.write_predictions(predictions)}")
    if plot is not None:
        for path, p in evaluation.plot(plot, plot_format, time_unit).items():
            note(state, f"{path}: log-rank p = {p:.3g}" if p is not None else f"{path} saved")
    if state.json:
        emit_json(evaluation.to_json())
        return
    render.evaluation(evaluation.summary, evaluation.paired, evaluation.transfer)
