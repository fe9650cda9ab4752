"""``steph predict``: risk scores and survival curves of new patients from a model file."""

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli import completion
from steph_cli.cli.common import State, command, emit_json, examples, fmt, note
from steph_cli.cli.console import out
from steph_cli.cli.tables import table

if TYPE_CHECKING:
    from steph_cli.evaluation.predict import Prediction

EPILOG = examples(
    "steph predict --model merged/LUSC/steph/fold0.safetensors --features new.h5",
    "steph predict --model m.safetensors --features slides/ --features 'more/*.h5'",
    "steph predict --model experts/LUSC/fold0.safetensors --cohort LUSC",
    "steph predict --model m.safetensors --cohort LUSC --split test --csv t.csv",
    "steph predict --model m.safetensors --features a.h5 --csv p.csv",
    "steph predict --model m.safetensors --features a.h5 --patient-id P7 --json",
)


@command
def predict(
    state: State,
    model: Annotated[Path, typer.Option(help="An expert or merged .safetensors file.")],
    features: Annotated[
        list[str] | None,
        typer.Option(
            help="Feature HDF5 file, folder of them, or glob pattern; repeat for several.",
            metavar="<path>",
        ),
    ] = None,
    cohort: Annotated[
        str | None,
        typer.Option(
            help="Predict a registered cohort's patients instead (all slides of each).",
            autocompletion=completion.cohorts,
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="With --cohort: all patients, or the train or test side of the model's fold.",
            **completion.one_of("all", "train", "test"),
        ),
    ] = "all",
    patient_id: Annotated[
        str | None,
        typer.Option(help="Treat all files as one patient's bag (default: one file each)."),
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write risk and curve, one row per patient.")
    ] = None,
) -> None:
    """Risk score (−Σ S_j, higher = worse) and the discrete survival curve per patient.

    Works with expert files and with self-contained merged files (a STEPH file carries its
    hypernetwork, head, θ_init and task vectors), wherever they were made. Survival past
    the model's training follow-up (known when the workspace holds its cohort and fold) is
    an extrapolation: marked † in the table, and given as train_followup_days in the CSV.
    For lifelines' concordance_index, pass -risk (it expects higher = longer survival).
    """
    from dataclasses import asdict

    from steph_cli import api

    preds = api.predict(
        state.ws,
        model,
        features or [],
        cohort=cohort,
        split=split,
        patient_id=patient_id,
        device=state.device,
    )
    if csv_path is not None:
        _write_csv(csv_path, preds)
        note(state, f"wrote {csv_path}")
    if state.json:
        emit_json([asdict(p) for p in preds])
        return
    marks = [0, 2, 4, 9]  # 1, 3, 5 and 10 years with the default bins
    days = [preds[0].days[i] for i in marks if i < len(preds[0].days)]
    rows = [
        [
            p.patient,
            p.patches,
            fmt(p.risk, 4),
            *(
                f"{fmt(p.survival[i])}{'†' if p.beyond_followup(p.days[i]) else ''}"
                for i in marks
                if i < len(p.survival)
            ),
        ]
        for p in preds
    ]
    out.print(
        table(
            f"predictions of {model.name}",
            ["patient", "patches", "risk", *(_horizon(d) for d in days)],
            rows,
        )
    )
    if any(p.beyond_followup(d) for p in preds for d in days):
        note(state, f"†: past the model's training follow-up ({preds[0].followup_days:.0f} days)")


def _write_csv(path: Path, preds: "list[Prediction]") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "model",
                "patient",
                "patches",
                "risk",
                "train_followup_days",
                *(f"S({d:g})" for d in preds[0].days),
            ]
        )
        for p in preds:
            followup = "" if p.followup_days is None else p.followup_days
            writer.writerow([p.model, p.patient, p.patches, p.risk, followup, *p.survival])


def _horizon(days: float) -> str:
    """A column header for S(t): whole years as such (``S(5y)``), else days."""
    years = days / 365
    return f"S({years:g}y)" if years == round(years) else f"S({days:g}d)"
