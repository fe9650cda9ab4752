"""Registering cohorts and describing them: the library behind ``steph cohort`` and ``status``."""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from steph_cli.errors import BadInputError, Fix
from steph_cli.workspace import features as feature_store
from steph_cli.workspace import settings as ws_settings
from steph_cli.workspace import splits as ws_splits
from steph_cli.workspace.labels import STORED_UNIT, Columns, Labels, read_labels, write_labels
from steph_cli.workspace.paths import Workspace, validate_name

# The reference study keeps cohorts with >= 200 patients and an event rate >= 5%.
MIN_PATIENTS = 200
MIN_EVENT_RATE = 0.05


def load_labels(ws: Workspace, cohort: str) -> Labels:
    return read_labels(ws.labels_file(ws.require_cohort(cohort)), STORED_UNIT)


def patients_without_features(labels: Labels, slide_ids: set[str]) -> list[str]:
    return [p for p in labels.patients if not any(s in slide_ids for s in labels.slides[p])]


def check_feature_coverage(labels: Labels, slide_ids: set[str], source: str) -> None:
    """Every patient needs at least one slide with features; name the first that has none."""
    missing = patients_without_features(labels, slide_ids)
    if missing:
        p = missing[0]
        more = f" and {len(missing) - 1} more patients" if len(missing) > 1 else ""
        raise BadInputError(
            f"{source}: patient {p} has no feature file (slides: {', '.join(labels.slides[p])})"
            f"{more}; extract or import its features, or remove it from the labels"
        )


def _with_feature_slides(labels: Labels, stems: "list[str] | set[str]") -> Labels:
    """A patient-level table (TCGA-CDR lists every patient of every cancer) with its slides
    found among the feature files; when there are feature files, the patients with none are
    left out, with a note, rather than refused."""
    found = labels.assign_slides(stems)
    have = set(stems)
    kept = [p for p in found.patients if any(s in have for s in found.slides[p])]
    if not have or len(kept) == len(found.patients) or not kept:
        return found
    note = (
        f"{len(found.patients) - len(kept)} patient(s) of the table have no feature file, left out"
    )
    return replace(found.subset(kept), notes=(*found.notes, note), warnings=found.warnings)


def add_cohort(
    ws: Workspace,
    name: str,
    labels_csv: Path,
    splits_dir: Path | None = None,
    features_dir: Path | None = None,
    link: bool = False,
    force: bool = False,
    time_unit: str | None = None,
    settings_seed: int | None = None,
    columns: Columns | None = None,
) -> Labels:
    """Validate everything first, then write labels (times in days), splits and features
    into the workspace. ``time_unit`` says what the labels' time column holds and
    ``columns`` which columns hold what; a new workspace records ``settings_seed``
    (default 0) once all is valid. A table without slides (TCGA-CDR) takes its slides from
    the feature files' names: ``features_dir``'s, else those already in the workspace."""
    validate_name(name)
    if ws.labels_file(name).is_file() and not force:
        raise BadInputError(
            f"cohort {name} already exists in {ws.root}", Fix.set("force", "{} replaces it")
        )
    labels = read_labels(labels_csv, time_unit, columns)
    if not labels.slides_named:
        stems = (
            [p.stem for p in feature_store.h5_files(features_dir)]
            if features_dir is not None
            else feature_slides(ws, name)
        )
        labels = _with_feature_slides(labels, stems)
    folds = ws_splits.import_splits(splits_dir, labels) if splits_dir else []
    files: list[feature_store.FeatureFile] = []
    if features_dir is not None:
        wanted = {s for slides in labels.slides.values() for s in slides}
        files, dim = feature_store.scan(
            p for p in feature_store.h5_files(features_dir) if p.stem in wanted
        )
        if dim is None:
            raise BadInputError(
                f"{features_dir}: no feature file matches a slide of {labels_csv}; "
                "files must be named SLIDE_ID.h5"
            )
        check_feature_coverage(labels, {f.slide_id for f in files}, str(features_dir))
    ws_settings.ensure(ws, seed=settings_seed)
    if files:
        ws_settings.set_feature_dim(ws, files[0].dim, str(features_dir))
    write_labels(ws.labels_file(name), labels)
    if folds:
        write_folds(ws, name, folds)
    if files:
        feature_store.install(files, ws.features_dir(name), link)
    return labels


def import_features(
    ws: Workspace, name: str, source: Path, link: bool = False, force: bool = False
) -> tuple[list[feature_store.FeatureFile], int]:
    """Import CLAM/TRIDENT/UNI2-h-features HDF5 files found under ``source`` (recursively).

    A TRIDENT output folder nests its files (``20x_256px_0px_overlap/features_uni_v2/``), so the
    search recurses; the slide id is the file name without ``.h5``. Every file is validated
    before any is copied. Returns the imported files and how many existing ones were kept.
    """
    validate_name(name)
    source = Path(source)
    if not source.is_dir():
        raise BadInputError(f"feature folder {source}: no such directory")
    paths = sorted(p for p in source.rglob("*") if p.suffix in (".h5", ".hdf5") and p.is_file())
    if not paths:
        raise BadInputError(f"feature folder {source}: no .h5 files found (searched recursively)")
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise BadInputError(f"{path} and {seen[path.stem]} are both slide {path.stem}")
        seen[path.stem] = path
    files, dim = feature_store.scan(paths)
    assert dim is not None
    ws_settings.set_feature_dim(ws, dim, str(source))
    dest = ws.features_dir(name)
    new = [f for f in files if force or not (dest / f"{f.slide_id}.h5").exists()]
    feature_store.install(new, dest, link)
    return new, len(files) - len(new)


def write_folds(ws: Workspace, cohort: str, folds: list[ws_splits.Fold]) -> None:
    for old in ws.folds(cohort):
        if old >= len(folds):
            ws.split_file(cohort, old).unlink()
    for fold in folds:
        ws_splits.write_fold(ws.split_file(cohort, fold.index), fold)


def split_cohort(ws: Workspace, cohort: str, k: int, seed: int) -> list[ws_splits.Fold]:
    labels = load_labels(ws, cohort)
    folds = ws_splits.make_folds(labels, k, seed)
    write_folds(ws, cohort, folds)
    return folds


def feature_slides(ws: Workspace, cohort: str) -> set[str]:
    d = ws.features_dir(cohort)
    return {p.stem for p in d.glob("*.h5")} if d.is_dir() else set()


@dataclass(frozen=True)
class CohortSummary:
    name: str
    patients: int
    slides: int
    slides_with_features: int
    events: int
    median_time_days: float
    folds: list[int]
    feature_dim: int | None
    warnings: list[str]

    @property
    def event_rate(self) -> float:
        return self.events / self.patients if self.patients else 0.0


def summarize(ws: Workspace, cohort: str) -> CohortSummary:
    labels = load_labels(ws, cohort)
    have = feature_slides(ws, cohort)
    slide_ids = {s for slides in labels.slides.values() for s in slides}
    notes = []
    if len(labels) < MIN_PATIENTS:
        notes.append(f"{len(labels)} patients (< {MIN_PATIENTS} of the reference study)")
    rate = float(labels.events.mean())
    if rate < MIN_EVENT_RATE:
        notes.append(f"event rate {rate:.1%} (< {MIN_EVENT_RATE:.0%} of the reference study)")
    no_features = patients_without_features(labels, have)
    if no_features:
        notes.append(f"{len(no_features)} patients without feature files")
    return CohortSummary(
        name=cohort,
        patients=len(labels),
        slides=labels.n_slides,
        slides_with_features=len(have & slide_ids),
        events=int(labels.events.sum()),
        median_time_days=float(np.median(labels.times)),
        folds=ws.folds(cohort),
        feature_dim=ws_settings.load(ws).feature_dim,
        warnings=notes,
    )
