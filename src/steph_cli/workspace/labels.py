"""Survival labels: one row per slide, labels per patient.

Accepted columns (first match wins): patient ``patient_id``/``case_id``; slide
``slide_id``/``pathology_id``/``slide`` (optional: the patient id is used when absent, one
slide per patient); time ``t``/``time``/``survival_days`` in days, or CLAM's
``survival_months`` in months; event ``e``/``event``/``status`` (1 = event, 0 = censored) or
CLAM's ``censorship`` (1 = censored, inverted). UNI2-h-DSS and CLAM label files therefore
load as they are. Times in months or years are converted to days, the unit every model
uses; a median follow-up that looks implausible for its unit is reported.
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
TIME_COLUMNS = ("t", "time", "survival_days", "survival_months")
# Days per unit; a column named for its unit sets it (CLAM's survival_months).
UNITS = {"days": 1.0, "months": 365.25 / 12, "years": 365.25}
COLUMN_UNITS = {"survival_days": "days", "survival_months": "months"}
# The median follow-up, in days, below / above which a unit looks mistaken: TCGA's is about
# two years, any cohort's more than a few months and less than forty years.
PLAUSIBLE_MEDIAN_DAYS = (90.0, 40 * 365.25)
EVENT_COLUMNS = ("e", "event", "status")
CENSORSHIP_COLUMN = "censorship"


@dataclass(frozen=True)
class Labels:
    """Per-patient survival labels and each patient's slides, in file order."""

    patients: tuple[str, ...]
    times: np.ndarray  # float64 [P], days
    events: np.ndarray  # int64 [P], 1 event / 0 censored
    slides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # how the file was read (a unit converted)
    warnings: tuple[str, ...] = ()  # what looks wrong in it (a doubtful unit)

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


def _duplicates(path: Path, header: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        key = (name or "").strip().lower()
        if key in seen:
            raise _fail(
                path,
                None,
                f"column {name!r} appears twice (columns {seen[key]} and {i})",
                "keep one: steph will not guess which is meant",
            )
        seen[key] = i


def _unit(path: Path, column: str, asked: str | None) -> str:
    implied = COLUMN_UNITS.get(column.strip().lower())
    if asked is not None and asked not in UNITS:
        raise BadInputError(f"time unit {asked!r}: use {', '.join(UNITS)}")
    if asked is not None and implied is not None and asked != implied:
        raise _fail(
            path, None, f"column {column} holds {implied} but {asked} were asked for", "say one"
        )
    return asked or implied or "days"


def read_labels(path: Path, time_unit: str | None = None) -> Labels:
    """Read and validate a labels CSV; every problem names the file, the row and the fix.

    ``time_unit`` (days, months or years) says what the time column holds; by default the
    column's name does (``survival_months``), else days. Times are returned in days.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"labels file {path} does not exist")
    try:
        return _read(path, time_unit)
    except UnicodeDecodeError as exc:
        raise _fail(
            path, None, f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", "give a CSV"
        ) from exc
    except csv.Error as exc:
        raise _fail(
            path, None, f"not a readable CSV ({exc})", "give a comma-separated file"
        ) from exc


def _read(path: Path, time_unit: str | None) -> Labels:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        _duplicates(path, header)
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
                (line, f"{tcol}={raw_t!r} for {patient}", "times must be finite and >= 0")
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
    assert tcol is not None  # checked with the header
    unit = _unit(path, tcol, time_unit)
    times = np.array([per_patient[p][0] for p in patients], dtype=np.float64) * UNITS[unit]
    return Labels(
        patients,
        times,
        np.array([per_patient[p][1] for p in patients], dtype=np.int64),
        {p: tuple(slides[p]) for p in patients},
        (f"{path}: times in {tcol} read as {unit} and converted to days",)
        if unit != "days"
        else (),
        _doubts(path, unit, float(np.median(times))),
    )


def _doubts(path: Path, unit: str, median_days: float) -> tuple[str, ...]:
    low, high = PLAUSIBLE_MEDIAN_DAYS
    if low <= median_days <= high:
        return ()
    return (
        f"{path}: the median follow-up is {median_days:.0f} days with times read as {unit}, "
        "implausible for a survival cohort; is the time unit right?",
    )


def write_labels(path: Path, labels: Labels) -> None:
    """Write the workspace's normalised form: patient_id, slide_id, t, e."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patient_id", "slide_id", "t", "e"])
    for p, t, e in zip(labels.patients, labels.times, labels.events, strict=True):
        writer.writerows([p, s, repr(float(t)), int(e)] for s in labels.slides[p])
    atomic.write_text(path, out.getvalue())
