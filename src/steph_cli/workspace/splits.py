"""k-fold splits at patient level: generated (stratified) or imported as they come.

Stored as ``cohorts/NAME/splits/fold{K}.csv`` with columns ``patient_id, split``.
Imported split files may be that long layout or the wide CLAM/UNI2-h-DSS layout
(``splits_{k}.csv``: one column per split whose name contains train, val or test, padded
with empty cells; with no test column, val is the test split). Ids may be patient or
slide ids; slides map to their patient.
"""

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steph_cli.errors import BadInputError, Fix, MissingArtefactError
from steph_cli.workspace import atomic
from steph_cli.workspace.labels import Labels

SPLITS = ("train", "val", "test")
_IMPORT_NAME = re.compile(r"(?:splits_|fold)(\d+)\.csv")


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        return {s: len(getattr(self, s)) for s in SPLITS}

    def __repr__(self) -> str:  # counts: a notebook should not print every patient id
        return (
            f"Fold({self.index}: " + ", ".join(f"{k} {v}" for k, v in self.counts().items()) + ")"
        )


def make_folds(labels: Labels, k: int, seed: int) -> list[Fold]:
    """Patient-level k-fold splits stratified by event and by time (above/below median).

    Patients are shuffled within each stratum and dealt to folds in turn, so every fold gets
    its share of each stratum and fold sizes differ by at most one.
    """
    n = len(labels)
    if not 2 <= k <= n:
        raise BadInputError(f"cannot make {k} folds of {n} patients: use 2 to {n} folds")
    rng = np.random.default_rng(seed)
    late = np.zeros(n, dtype=bool)
    for event in (0, 1):
        members = labels.events == event
        if members.any():
            late[members] = labels.times[members] > np.median(labels.times[members])
    stratum = labels.events * 2 + late
    order = np.concatenate([rng.permutation(np.flatnonzero(stratum == s)) for s in range(4)])
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % k
    folds = []
    for f in range(k):
        test = tuple(labels.patients[i] for i in np.flatnonzero(fold_of == f))
        train = tuple(labels.patients[i] for i in np.flatnonzero(fold_of != f))
        folds.append(Fold(f, train, (), test))
    return folds


def _read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [row for row in csv.reader(fh)]


def parse_split_file(path: Path, index: int, labels: Labels) -> Fold:
    """Read one split file in the long or the wide layout and check it against the labels."""
    rows = _read_rows(path)
    if not rows:
        raise BadInputError(f"{path}: empty split file; expected patient_id,split rows")
    header = [h.strip().lower() for h in rows[0]]
    members: dict[str, list[tuple[int, str]]] = {s: [] for s in SPLITS}
    id_col = next((header.index(c) for c in ("patient_id", "case_id") if c in header), None)
    if id_col is not None and "split" in header:
        split_col = header.index("split")
        for line, row in enumerate(rows[1:], start=2):
            name = row[split_col].strip().lower() if split_col < len(row) else ""
            if name not in SPLITS:
                raise BadInputError(
                    f"{path}, row {line}: split {name!r} is not one of train, val, test"
                )
            members[name].append((line, row[id_col].strip()))
    else:
        columns = {
            s: [i for i, h in enumerate(header) if s in h] for s in SPLITS
        }  # "train", "val", "test" or names containing them
        if not columns["train"] or not (columns["test"] or columns["val"]):
            raise BadInputError(
                f"{path}: no split columns (found {', '.join(rows[0])}); expected "
                "patient_id,split or columns named train, val, test"
            )
        for s, cols in columns.items():
            for line, row in enumerate(rows[1:], start=2):
                members[s].extend(
                    (line, row[c].strip()) for c in cols if c < len(row) and row[c].strip()
                )
        if not columns["test"]:
            members["test"], members["val"] = members["val"], []
    to_patient = {p: p for p in labels.patients} | labels.slide_to_patient()
    placed: dict[str, str] = {}
    resolved: dict[str, list[str]] = {s: [] for s in SPLITS}
    for s in SPLITS:
        for line, ident in members[s]:
            patient = to_patient.get(ident)
            if patient is None:
                raise BadInputError(
                    f"{path}, row {line}: {ident!r} is neither a patient nor a slide of the "
                    "labels; fix the id or add it to the labels"
                )
            if placed.get(patient, s) != s:
                raise BadInputError(
                    f"{path}, row {line}: patient {patient} is in both {placed[patient]} and "
                    f"{s}; a patient belongs to one split per fold"
                )
            if patient not in placed:
                placed[patient] = s
                resolved[s].append(patient)
    if not resolved["train"] or not resolved["test"]:
        raise BadInputError(f"{path}: a fold needs train and test patients")
    return Fold(index, *(tuple(resolved[s]) for s in SPLITS))


def import_splits(directory: Path, labels: Labels) -> list[Fold]:
    """Read every ``splits_{k}.csv`` or ``fold{k}.csv`` in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BadInputError(f"splits directory {directory} does not exist")
    found = sorted(
        (int(m.group(1)), p) for p in directory.iterdir() if (m := _IMPORT_NAME.fullmatch(p.name))
    )
    if not found:
        raise BadInputError(
            f"{directory}: no split files; expected splits_0.csv, splits_1.csv, ... "
            "or fold0.csv, fold1.csv, ..."
        )
    return [parse_split_file(path, k, labels) for k, path in found]


def write_fold(path: Path, fold: Fold) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patient_id", "split"])
    for s in SPLITS:
        writer.writerows([p, s] for p in getattr(fold, s))
    atomic.write_text(path, out.getvalue())


def read_fold(path: Path, index: int, labels: Labels) -> Fold:
    if not path.is_file():
        raise MissingArtefactError(
            f"split file {path} does not exist",
            Fix.run("cohort split", name=path.parents[1].name, folds=5),
        )
    return parse_split_file(path, index, labels)
