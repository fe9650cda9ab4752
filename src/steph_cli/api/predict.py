"""Predictions of any model file for new patients or a registered cohort's."""

import glob
from collections.abc import Sequence
from pathlib import Path

from steph_cli import device as devices
from steph_cli.api._common import WorkspaceLike, workspace_of
from steph_cli.errors import BadInputError
from steph_cli.evaluation import predict as lib
from steph_cli.evaluation.inference import load_model
from steph_cli.evaluation.predict import Prediction
from steph_cli.models.io import ModelFile
from steph_cli.workspace.cohorts import load_labels
from steph_cli.workspace.features import h5_files
from steph_cli.workspace.labels import Labels
from steph_cli.workspace.paths import Workspace
from steph_cli.workspace.splits import read_fold

SPLITS = ("all", "train", "test")


def predict(
    workspace: WorkspaceLike,
    model: str | Path,
    features: Sequence[str | Path] = (),
    *,
    cohort: str | None = None,
    split: str = "all",
    patient_id: str | None = None,
    device: str = "auto",
) -> list[Prediction]:
    """Risk score (−Σ S_j, higher = worse) and discrete survival curve per patient.

    Patients come from ``features`` (files, folders of ``.h5`` files and glob patterns; one
    patient per file, or all of them as ``patient_id``'s bag) or from a registered
    ``cohort`` (each patient's bag is all its slides; ``split`` train or test keeps the
    patients of that side of the model's own fold). Works with expert files and every
    merged file, wherever they were made; a relative path not found in the current folder
    is looked up in ``workspace``. Each prediction carries the model's training follow-up
    when the workspace holds the model's cohort and fold, so survival past it can be
    marked as an extrapolation.
    """
    ws = workspace_of(workspace)
    if split not in SPLITS:
        raise BadInputError(f"split {split!r}: use {', '.join(SPLITS)}")
    if (cohort is None) == (not features):
        raise BadInputError("give feature files or a cohort (one of the two)")
    if split != "all" and cohort is None:
        raise BadInputError("a split selects a cohort's patients: give the cohort too")
    found = ws.find(Path(model), "model file")
    if cohort is not None:
        ws.require_cohort(cohort)
    where = devices.resolve(device)
    net, model_file = load_model(found, where)
    if cohort is not None:
        groups = _cohort_bags(ws, cohort, split, model_file, found)
    else:
        paths = expand_features(ws, features)
        groups = {patient_id: paths} if patient_id else {p.stem: [p] for p in paths}
    return lib.predict(net, model_file, found.name, groups, where, _followup(ws, model_file))


def expand_features(ws: Workspace, items: Sequence[str | Path]) -> list[Path]:
    """Feature files from paths, folders (their ``.h5`` files) and glob patterns, in the
    order given, each once."""
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if any(ch in text for ch in "*?["):
            pattern = str(Path(text).expanduser())  # absolute or relative: Path.glob takes neither
            matched = sorted(Path(p) for p in glob.glob(pattern))  # noqa: PTH207
            if not matched:
                raise BadInputError(f"feature pattern {text!r} matches no file")
            paths.extend(p for p in matched if p.is_file())
            continue
        path = ws.find(Path(text), "feature file")
        if path.is_dir():
            inside = h5_files(path)
            if not inside:
                raise BadInputError(f"feature folder {path} holds no .h5 file")
            paths.extend(inside)
        else:
            paths.append(path)
    return list(dict.fromkeys(paths))


def _sides(ws: Workspace, cohort: str, fold: int, labels: Labels) -> dict[str, list[str]] | None:
    """The fold's patients by side: ``train`` (its validation patients included: they are
    training patients) and ``test``; None when the cohort has no such fold."""
    split_file = ws.split_file(cohort, fold)
    if not split_file.is_file():
        return None
    made = read_fold(split_file, fold, labels)
    return {"train": [*made.train, *made.val], "test": list(made.test)}


def _cohort_bags(
    ws: Workspace, cohort: str, split: str, model_file: ModelFile, path: Path
) -> dict[str, list[Path]]:
    labels = load_labels(ws, cohort)
    patients = list(labels.patients)
    if split != "all":
        fold = model_file.meta.get("fold")
        if fold is None:
            raise BadInputError(f"{path} records no fold, so it has no train or test split")
        sides = _sides(ws, cohort, int(fold), labels)
        if sides is None:
            raise BadInputError(f"cohort {cohort} has no fold {fold}, the fold of {path}")
        patients = sides[split]
    folder = ws.features_dir(cohort)
    groups = {
        p: files
        for p in patients
        if (files := [f for s in labels.slides[p] if (f := folder / f"{s}.h5").is_file()])
    }
    if not groups:
        raise BadInputError(f"no patient of cohort {cohort} has feature files in {folder}")
    return groups


def _followup(ws: Workspace, model_file: ModelFile) -> float | None:
    """The longest follow-up among the model's training patients, when the workspace holds
    its cohort and fold with the labels it was made from."""
    cohort, fold = model_file.meta.get("cohort"), model_file.meta.get("fold")
    if cohort is None or fold is None or not ws.labels_file(cohort).is_file():
        return None
    labels = load_labels(ws, cohort)
    sides = _sides(ws, cohort, int(fold), labels)
    return None if sides is None else float(labels.subset(sides["train"]).times.max())
