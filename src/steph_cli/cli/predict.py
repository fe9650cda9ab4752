"""``steph predict``: risk scores and survival curves of new patients from a model file."""

import csv
from pathlib import Path
from typing import Annotated

import typer

from steph_cli.cli.common import State, command, emit_json, examples, fmt, out, table

EPILOG = examples(
    "steph predict --model merged/LUSC/steph/fold0.safetensors --features new.h5",
    "steph predict --model m.safetensors --features a.h5 --features b.h5",
    "steph predict --model m.safetensors --features a.h5 --csv p.csv",
    "steph predict --model m.safetensors --features a.h5 --patient-id P7 --json",
)


@command
def predict(
    state: State,
    model: Annotated[Path, typer.Option(help="An expert or merged .safetensors file.")],
    features: Annotated[
        list[Path],
        typer.Option(help="Feature HDF5 file(s); repeat the option for several.", metavar="<path>"),
    ],
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
    hypernetwork, head, θ_init and task vectors), wherever they were made.
    """
    from dataclasses import asdict

    from steph_cli import api

    preds = api.predict(
        model, features, patient_id=patient_id, device=state.device, workspace=state.ws
    )
    if csv_path is not None:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with csv_path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["patient", "risk", *(f"S({d:g})" for d in preds[0].days)])
            for p in preds:
                writer.writerow([p.patient, p.risk, *p.survival])
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
            *(fmt(p.survival[i]) for i in marks if i < len(p.survival)),
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


def _horizon(days: float) -> str:
    """A column header for S(t): whole years as such (``S(5y)``), else days."""
    years = days / 365
    return f"S({years:g}y)" if years == round(years) else f"S({days:g}d)"
