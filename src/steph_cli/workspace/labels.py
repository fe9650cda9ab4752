"""Survival labels: one row per slide, labels per patient.

Accepted columns (first match wins): patient ``patient_id``/``case_id``; slide
``slide_id``/``pathology_id``/``slide`` (optional: the patient id is used when absent, one
slide per patient); time ``t``/``time``/``survival_days`` in days; event ``e``/``event``/
``status`` (1 = event, 0 = censored) or CLAM's ``censorship`` (1 = censored, inverted).
UNI2-h-DSS label files therefore load as they are.
"""

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steph_cli.errors import BadInputError
from steph_cli.workspace import atomic
from steph_cli.workspace.paths import validate_slide_id

PATIENT_COLUMNS = ("patient_id", "case_id")
SLIDE_COLUMNS = ("slide_id", "pathology_id", "slide")
TIME_COLUMNS = ("t", "time", "survival_days")
EVENT_COLUMNS = ("e", "event", "status")
CENSORSHIP_COLUMN = "censorship"


@dataclass(frozen=True)
class Labels:
    """Per-patient survival labels and each patient's slides, in file order."""

    patients: tuple[str, ...]
    times: np.ndarray  # float64 [P], days
    events: np.ndarray  # int64 [P], 1 event / 0 censored
    slides: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patients)

    @property
    def n_slides(self) -> int:
        return sum(len(s) for s in self.slides.values())

    def slide_to_patient(self) -> dict[str, str]:
        return {s: p for p, slides in self.slides.items() for s in slides}

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.patients)}

    def subset(self, patients: list[str] | tuple[str, ...]) -> "Labels":
        idx = self.index()
        rows = [idx[p] for p in patients]
        return Labels(
            tuple(patients),
            self.times[rows],
            self.events[rows],
            {p: self.slides[p] for p in patients},
        )


def _pick(header: Sequence[str], options: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    return next((lowered[o] for o in options if o in lowered), None)


def _fail(path: Path, row: int | None, problem: str, fix: str, more: int = 0) -> BadInputError:
    where = f"{path}, row {row}" if row is not None else str(path)
    extra = f" ({more} more problem{'s' * (more > 1)} after this one)" if more else ""
    return BadInputError(f"{where}: {problem}; {fix}{extra}")


def read_labels(path: Path) -> Labels:
    """Read and validate a labels CSV; every problem names the file, the row and the fix."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"labels file {path} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        pcol = _pick(header, PATIENT_COLUMNS)
        scol = _pick(header, SLIDE_COLUMNS)
        tcol = _pick(header, TIME_COLUMNS)
        ecol = _pick(header, EVENT_COLUMNS)
        ccol = None if ecol else _pick(header, (CENSORSHIP_COLUMN,))
        missing = [
            name
            for name, col, opts in (
                ("patient", pcol, PATIENT_COLUMNS),
                ("time", tcol, TIME_COLUMNS),
                ("event", ecol or ccol, (*EVENT_COLUMNS, CENSORSHIP_COLUMN)),
            )
            if col is None
        ]
        if missing:
            wanted = "patient_id, slide_id, t, e"
            raise _fail(
                path,
                None,
                f"missing {' and '.join(missing)} column(s) (found: {', '.join(header) or 'none'})",
                f"expected columns {wanted} (UNI2-h-DSS: patient_id, pathology_id, t, e)",
            )
        rows = list(enumerate(reader, start=2))

    problems: list[tuple[int, str, str]] = []
    per_patient: dict[str, tuple[float, int, int]] = {}
    slides: dict[str, list[str]] = {}
    for line, row in rows:
        patient = (row.get(pcol) or "").strip()
        if not patient:
            problems.append((line, f"empty {pcol}", "give every row a patient id"))
            continue
        raw_t, raw_e = (row.get(tcol) or "").strip(), (row.get(ecol or ccol) or "").strip()
        try:
            t = float(raw_t)
        except ValueError:
            t = math.nan
        if not math.isfinite(t) or t < 0:
            problems.append(
                (line, f"{tcol}={raw_t!r} for {patient}", "times must be finite days >= 0")
            )
            continue
        try:
            e = float(raw_e)
        except ValueError:
            e = math.nan
        if e not in (0.0, 1.0):
            col = ecol or ccol
            problems.append(
                (line, f"{col}={raw_e!r} for {patient}", f"{col} must be 0 or 1 (1 = event)")
            )
            continue
        event = int(e) if ecol else 1 - int(e)
        slide = (row.get(scol) or "").strip() if scol else patient
        try:
            validate_slide_id(slide or patient)
        except BadInputError:
            problems.append(
                (line, f"invalid slide id {slide or patient!r}", "use letters, digits, . - _ only")
            )
            continue
        seen = per_patient.get(patient)
        if seen is not None and (seen[0], seen[1]) != (t, event):
            problems.append(
                (
                    line,
                    f"patient {patient} has t={t:g}, e={event} here but "
                    f"t={seen[0]:g}, e={seen[1]} on row {seen[2]}",
                    "labels are per patient: make all of its rows agree",
                )
            )
            continue
        per_patient.setdefault(patient, (t, event, line))
        patient_slides = slides.setdefault(patient, [])
        if (slide or patient) not in patient_slides:
            patient_slides.append(slide or patient)
    if problems:
        line, problem, fix = problems[0]
        raise _fail(path, line, problem, fix, more=len(problems) - 1)
    if not per_patient:
        raise _fail(path, None, "no patients", "add one row per slide")
    patients = tuple(per_patient)
    owner: dict[str, str] = {}
    for p in patients:
        for s in slides[p]:
            if s in owner:
                raise _fail(
                    path,
                    None,
                    f"slide {s} belongs to both {owner[s]} and {p}",
                    "a slide belongs to one patient",
                )
            owner[s] = p
    return Labels(
        patients,
        np.array([per_patient[p][0] for p in patients], dtype=np.float64),
        np.array([per_patient[p][1] for p in patients], dtype=np.int64),
        {p: tuple(slides[p]) for p in patients},
    )


def write_labels(path: Path, labels: Labels) -> None:
    """Write the workspace's normalised form: patient_id, slide_id, t, e."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patient_id", "slide_id", "t", "e"])
    for p, t, e in zip(labels.patients, labels.times, labels.events, strict=True):
        writer.writerows([p, s, repr(float(t)), int(e)] for s in labels.slides[p])
    atomic.write_text(path, out.getvalue())
