"""Survival labels: one row per slide, labels per patient.

Accepted columns (first match wins): patient ``patient_id``/``case_id``/
``bcr_patient_barcode``; slide ``slide_id``/``pathology_id``/``slide`` (optional: the
patient id is used when absent, one slide per patient); time ``t``/``time``/
``survival_days`` in days, or CLAM's ``survival_months`` in months; event ``e``/``event``/
``status`` (1 = event, 0 = censored) or CLAM's ``censorship`` (1 = censored, inverted).
UNI2-h-DSS and CLAM label files therefore load as they are; a TCGA-CDR table (``OS``,
``OS.time``, ``DSS``, ...) is read at one endpoint, and :class:`Columns` names the columns of
any other table. Times in months or years are converted to days, the unit every model uses;
a median follow-up implausible for a unit nobody stated is refused, naming the unit that
would be plausible.
"""

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from steph_cli.errors import BadInputError
from steph_cli.workspace import atomic
from steph_cli.workspace.paths import validate_slide_id

PATIENT_COLUMNS = ("patient_id", "case_id", "bcr_patient_barcode")
SLIDE_COLUMNS = ("slide_id", "pathology_id", "slide")
TIME_COLUMNS = ("t", "time", "survival_days", "survival_months")
# Days per unit; a column named for its unit sets it (CLAM's survival_months).
UNITS = {"days": 1.0, "months": 365.25 / 12, "years": 365.25}
STORED_UNIT = "days"  # the unit of a workspace's labels.csv
COLUMN_UNITS = {"survival_days": "days", "survival_months": "months"}
# The median follow-up, in days, below / above which a unit looks mistaken: TCGA's is about
# two years, any cohort's more than a few months and less than forty years.
PLAUSIBLE_MEDIAN_DAYS = (90.0, 40 * 365.25)
EVENT_COLUMNS = ("e", "event", "status")
CENSORSHIP_COLUMN = "censorship"
# TCGA-CDR (Liu et al., Cell 2018): one row per patient, an event and a .time column (days)
# per endpoint. DSS is the default: the endpoint of the UNI2-h-DSS splits STEPH was shown on.
ENDPOINTS = ("OS", "DSS", "DFI", "PFI")
DEFAULT_ENDPOINT = "DSS"
# Cells that mean "not recorded" in TCGA-CDR: a patient without the endpoint is left out.
SEPARATORS = "-._"
MISSING = {"", "na", "nan", "#n/a", "[not available]", "[not applicable]", "[unknown]"}
EVENT_MEANINGS = ("event", "censored")


@dataclass(frozen=True)
class Columns:
    """Which columns of a table hold what, for tables no default recognises; ``None`` leaves
    a column to be recognised by name. ``event_means`` says what a 1 in the event column
    means (``censored`` for CLAM-style censorship flags); ``endpoint`` picks a TCGA-CDR
    endpoint (``OS``, ``DSS``, ``DFI``, ``PFI``)."""

    patient: str | None = None
    slide: str | None = None
    time: str | None = None
    event: str | None = None
    event_means: str | None = None
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if self.event_means is not None and self.event_means not in EVENT_MEANINGS:
            raise BadInputError(
                f"event meaning {self.event_means!r}: use {' or '.join(EVENT_MEANINGS)}"
            )
        if self.endpoint is not None and self.endpoint.upper() not in ENDPOINTS:
            raise BadInputError(f"endpoint {self.endpoint!r}: use {', '.join(ENDPOINTS)}")


@dataclass(frozen=True)
class Labels:
    """Per-patient survival labels and each patient's slides, in file order."""

    patients: tuple[str, ...]
    times: np.ndarray  # float64 [P], days
    events: np.ndarray  # int64 [P], 1 event / 0 censored
    slides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # how the file was read (a unit converted)
    warnings: tuple[str, ...] = ()  # what looks wrong in it (a doubtful unit)
    slides_named: bool = True  # False: no slide column, each patient's id stands for its slide

    def __len__(self) -> int:
        return len(self.patients)

    def __repr__(self) -> str:  # counts: a notebook should not print every patient id
        return (
            f"Labels({len(self)} patients, {self.n_slides} slides, {int(self.events.sum())} events)"
        )

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

    def assign_slides(self, slide_ids: "Iterable[str]") -> "Labels":
        """Slides for a table that names none (TCGA-CDR: one row per patient): each patient
        takes the slide ids equal to its id or starting with it and a separator (``-``,
        ``.``, ``_``), as TCGA slide names start with the 12-character patient barcode.
        Patients with no such slide keep their id, so a coverage check names them."""
        if self.slides_named:
            return self
        found: dict[str, list[str]] = {p: [] for p in self.patients}
        for slide in sorted(slide_ids):
            cuts = [i for i, ch in enumerate(slide) if ch in SEPARATORS] + [len(slide)]
            owner = next((slide[:i] for i in cuts if slide[:i] in found), None)
            if owner is not None:
                found[owner].append(slide)
        slides = {p: tuple(found[p]) or (p,) for p in self.patients}
        return replace(self, slides=slides, slides_named=True)


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


def read_labels(
    path: Path, time_unit: str | None = None, columns: "Columns | None" = None
) -> Labels:
    """Read and validate a labels table; every problem names the file, the row and the fix.

    ``time_unit`` (days, months or years) says what the time column holds; by default the
    column's name does (``survival_months``), else days — and then a median follow-up
    implausible for that unit is refused rather than guessed. Times are returned in days.
    ``columns`` names the columns of a table the defaults do not recognise.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"labels file {path} does not exist")
    try:
        return _read(path, time_unit, columns or Columns())
    except UnicodeDecodeError as exc:
        raise _fail(
            path, None, f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", "give a CSV"
        ) from exc
    except csv.Error as exc:
        raise _fail(
            path, None, f"not a readable CSV ({exc})", "give a comma-separated file"
        ) from exc


@dataclass(frozen=True)
class _Layout:
    """The columns a table's header resolves to."""

    patient: str
    slide: str | None
    time: str
    event: str
    censored: bool  # a 1 in the event column means censored
    endpoint: str | None  # a TCGA-CDR table, read at this endpoint


def _named(path: Path, header: Sequence[str], name: str, flag: str) -> str:
    lowered = {h.strip().lower(): h for h in header}
    if name.strip().lower() not in lowered:
        raise _fail(
            path,
            None,
            f"no column {name!r} (given with {flag}; found: {', '.join(header) or 'none'})",
            "name a column of the file",
        )
    return lowered[name.strip().lower()]


def _layout(path: Path, header: Sequence[str], columns: Columns) -> _Layout:
    lowered = {h.strip().lower() for h in header}
    cdr = columns.endpoint is not None or {"os", "os.time"} <= lowered
    endpoint = (columns.endpoint or DEFAULT_ENDPOINT).upper() if cdr else None
    if endpoint is not None and columns.time is None and columns.event is None:
        missing = [c for c in (endpoint, f"{endpoint}.time") if c.lower() not in lowered]
        if missing:
            raise _fail(
                path,
                None,
                f"endpoint {endpoint} asked for but no {' or '.join(missing)} column",
                f"TCGA-CDR tables have {', '.join(f'{e}, {e}.time' for e in ENDPOINTS)}",
            )
    by_default = {
        "patient": _pick(header, PATIENT_COLUMNS),
        "slide": _pick(header, SLIDE_COLUMNS),
        "time": _pick(header, (f"{endpoint.lower()}.time",))
        if endpoint
        else _pick(header, TIME_COLUMNS),
        "event": _pick(header, (endpoint.lower(),)) if endpoint else _pick(header, EVENT_COLUMNS),
    }
    if by_default["event"] is None and not endpoint:
        by_default["event"] = _pick(header, (CENSORSHIP_COLUMN,))
    given = {
        "patient": columns.patient,
        "slide": columns.slide,
        "time": columns.time,
        "event": columns.event,
    }
    picked = {
        role: _named(path, header, name, f"--{role}-col") if name else by_default[role]
        for role, name in given.items()
    }
    missing = [role for role in ("patient", "time", "event") if picked[role] is None]
    if missing:
        raise _fail(
            path,
            None,
            f"missing {' and '.join(missing)} column(s) (found: {', '.join(header) or 'none'})",
            "expected columns patient_id, slide_id, t, e (UNI2-h-DSS: patient_id, pathology_id, "
            "t, e; TCGA-CDR: bcr_patient_barcode, OS, OS.time, ...), or name them with "
            + ", ".join(f"--{role}-col" for role in missing),
        )
    patient, time, event = picked["patient"], picked["time"], picked["event"]
    assert patient is not None and time is not None and event is not None  # checked above
    censored = (
        columns.event_means == "censored"
        if columns.event_means is not None
        else event.strip().lower() == CENSORSHIP_COLUMN
    )
    return _Layout(patient, picked["slide"], time, event, censored, endpoint)


def _read(path: Path, time_unit: str | None, columns: Columns) -> Labels:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, dialect=_dialect(fh))
        header = reader.fieldnames or []
        _duplicates(path, header)
        layout = _layout(path, header, columns)
        rows = list(enumerate(reader, start=2))
    pcol, scol, tcol, col = layout.patient, layout.slide, layout.time, layout.event

    problems: list[tuple[int, str, str]] = []
    per_patient: dict[str, tuple[float, int, int]] = {}
    slides: dict[str, list[str]] = {}
    unrecorded = 0
    for line, row in rows:
        patient = (row.get(pcol) or "").strip()
        if not patient:
            problems.append((line, f"empty {pcol}", "give every row a patient id"))
            continue
        raw_t, raw_e = (row.get(tcol) or "").strip(), (row.get(col) or "").strip()
        if layout.endpoint and (raw_t.lower() in MISSING or raw_e.lower() in MISSING):
            unrecorded += 1
            continue
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
            meaning = "censored" if layout.censored else "event"
            problems.append(
                (line, f"{col}={raw_e!r} for {patient}", f"{col} must be 0 or 1 (1 = {meaning})")
            )
            continue
        event = 1 - int(e) if layout.censored else int(e)
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
    unit = _unit(path, tcol, time_unit)
    raw = np.array([per_patient[p][0] for p in patients], dtype=np.float64)
    doubt = _doubt(path, tcol, unit, float(np.median(raw)))
    if doubt and time_unit is None:
        raise doubt
    notes = []
    if layout.endpoint:
        notes.append(f"{path}: TCGA-CDR table read at endpoint {layout.endpoint} ({tcol}, {col})")
    if unrecorded:
        notes.append(f"{path}: {unrecorded} patient(s) without {layout.endpoint} left out")
    if unit != "days":
        notes.append(f"{path}: times in {tcol} read as {unit} and converted to days")
    return Labels(
        patients,
        raw * UNITS[unit],
        np.array([per_patient[p][1] for p in patients], dtype=np.int64),
        {p: tuple(slides[p]) for p in patients},
        tuple(notes),
        (str(doubt),) if doubt else (),
        slides_named=scol is not None,
    )


def _dialect(fh: "io.TextIOBase") -> type[csv.Dialect]:
    """Comma-separated, or tab-separated when the header has tabs and no commas (TCGA-CDR is
    distributed as a spreadsheet, often exported as TSV)."""
    first = fh.readline()
    fh.seek(0)
    return csv.excel_tab if "\t" in first and "," not in first else csv.excel


def _doubt(path: Path, column: str, unit: str, median: float) -> BadInputError | None:
    """Why times read as ``unit`` look wrong (a median follow-up no cohort has), naming the
    units that would be plausible; None when they look right."""
    low, high = PLAUSIBLE_MEDIAN_DAYS
    if low <= median * UNITS[unit] <= high:
        return None
    plausible = [u for u, days in UNITS.items() if low <= median * days <= high]
    fix = (
        f"if it holds {' or '.join(plausible)}, give --time-unit {plausible[0]}"
        if plausible
        else "check the column"
    )
    return _fail(
        path,
        None,
        f"the median of {column} is {median:g}, a follow-up of {median * UNITS[unit]:.0f} days "
        f"if read as {unit}, implausible for a survival cohort",
        f"{fix}; --time-unit {unit} keeps {unit}",
    )


def write_labels(path: Path, labels: Labels) -> None:
    """Write the workspace's normalised form: patient_id, slide_id, t, e."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patient_id", "slide_id", "t", "e"])
    for p, t, e in zip(labels.patients, labels.times, labels.events, strict=True):
        writer.writerows([p, s, repr(float(t)), int(e)] for s in labels.slides[p])
    atomic.write_text(path, out.getvalue())
