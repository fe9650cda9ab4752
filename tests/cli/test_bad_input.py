"""Bad input, table-driven: file kind × defect × command.

Every row runs the command line as users get it (``steph_cli.cli.app.run``: the same
function as the installed ``steph``, usage errors included) and asserts the contract: the
exit code (2 bad input, 1 a failed run), exactly one ``error:`` line that names the file,
option or value, no traceback, stdout empty or valid JSON without NaN under ``--json``, the
workspace byte for byte as it was (for bad input), and no temporary or lock file anywhere.
A new command inherits the table by adding rows.
"""

import hashlib
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from steph_cli.cli.app import run
from steph_cli.models import io
from tests.conftest import FAST
from tests.helpers import slides as S

Setup = Callable[[Path, Path], None]  # (workspace, a scratch folder for input files)


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # "{tmp}" and "{ws}" are replaced by the scratch folder and workspace
    says: tuple[str, ...]  # fragments of the one error line
    code: int = 2
    base: str = "registered"  # registered (cohorts, splits) | trained (+ experts) | empty
    setup: Setup | None = None


def labels(text: str, name: str = "labels.csv") -> Setup:
    def make(ws: Path, tmp: Path) -> None:
        (tmp / name).write_text(text)

    return make


def raw(data: bytes, name: str = "labels.csv") -> Setup:
    def make(ws: Path, tmp: Path) -> None:
        (tmp / name).write_bytes(data)

    return make


def feature_file(**datasets: object) -> Setup:
    """A features folder with one file for slide P1 (the labels of ``GOOD``)."""

    def make(ws: Path, tmp: Path) -> None:
        (tmp / "labels.csv").write_text("patient_id,slide_id,t,e\nP1,P1,400,1\n")
        (tmp / "feats").mkdir()
        with h5py.File(tmp / "feats" / "P1.h5", "w") as fh:
            for name, value in datasets.items():
                fh.create_dataset(name, data=value)

    return make


def in_workspace(path: str, change: Callable[[Path], None]) -> Setup:
    def make(ws: Path, tmp: Path) -> None:
        change(ws / path)

    return make


def first_feature(change: Callable[[h5py.File], None]) -> Setup:
    def make(ws: Path, tmp: Path) -> None:
        path = sorted((ws / "features" / "AAA").glob("*.h5"))[0]
        with h5py.File(path, "r+") as fh:
            change(fh)

    return make


def nan_model(ws: Path, tmp: Path) -> None:
    model = io.read(ws / "experts" / "AAA" / "fold0.safetensors")
    model.tensors["head.bias"][0] = math.nan
    io.write(tmp / "nan.safetensors", model.tensors, "expert", model.arch)


def features_of_dim(dim: int) -> Setup:
    def make(ws: Path, tmp: Path) -> None:
        with h5py.File(tmp / "new.h5", "w") as fh:
            fh.create_dataset("features", data=np.ones((3, dim), dtype=np.float32))

    return make


def string_features(ws: Path, tmp: Path) -> None:
    with h5py.File(tmp / "new.h5", "w") as fh:
        fh.create_dataset("features", data=np.array([[b"a", b"b"]] * 3))


GOOD = "patient_id,slide_id,t,e\nP1,P1,400,1\nP2,P2,800,0\n"
ADD = ("cohort", "add", "NEW", "--labels", "{tmp}/labels.csv")
TRAIN = ("train", "--cancer", "AAA", "--fold", "0", *FAST)
MERGE = ("merge", "--target", "AAA", "--fold", "0")
EXPERT = "{ws}/experts/AAA/fold0.safetensors"
PREDICT = ("predict", "--model", EXPERT, "--features", "{tmp}/new.h5")

CASES = [
    # labels files × cohort add
    Case("labels-missing", ADD, ("labels file", "labels.csv does not exist")),
    Case("labels-no-time", ADD, ("missing time column",), setup=labels("patient_id,e\nP1,1\n")),
    Case(
        "labels-two-t-columns",
        ADD,
        ("column 't' appears twice (columns 2 and 4)",),
        setup=labels("patient_id,t,e,t\nP1,1,1,5\n"),
    ),
    Case(
        "labels-negative-time", ADD, ("row 2", "t='-5'"), setup=labels("patient_id,t,e\nP1,-5,1\n")
    ),
    Case("labels-nan-time", ADD, ("t='nan'", "finite"), setup=labels("patient_id,t,e\nP1,nan,1\n")),
    Case(
        "labels-event-2", ADD, ("e='2'", "must be 0 or 1"), setup=labels("patient_id,t,e\nP1,5,2\n")
    ),
    Case(
        "labels-empty-patient", ADD, ("empty patient_id",), setup=labels("patient_id,t,e\n,5,1\n")
    ),
    Case(
        "labels-rows-disagree",
        ADD,
        ("labels are per patient",),
        setup=labels("patient_id,slide_id,t,e\nP1,A,5,1\nP1,B,6,1\n"),
    ),
    Case(
        "labels-slide-of-two-patients",
        ADD,
        ("slide A belongs to both P1 and P2",),
        setup=labels("patient_id,slide_id,t,e\nP1,A,5,1\nP2,A,6,1\n"),
    ),
    Case("labels-binary-junk", ADD, ("not a UTF-8 text file",), setup=raw(b"\xff\xfe\x00\x81junk")),
    Case("labels-no-rows", ADD, ("no patients",), setup=labels("patient_id,t,e\n")),
    Case(
        "labels-bad-slide-id",
        ADD,
        ("invalid slide id 'a b'",),
        setup=labels("patient_id,slide_id,t,e\nP1,a b,5,1\n"),
    ),
    Case(
        "labels-months-said-days",
        (*ADD, "--time-unit", "days"),
        ("column survival_months holds months but days were asked for",),
        setup=labels("case_id,survival_months,censorship\nP1,12,0\n"),
    ),
    Case(
        "labels-unknown-unit",
        (*ADD, "--time-unit", "weeks"),
        ("time unit 'weeks'",),
        setup=labels(GOOD),
    ),
    # names
    Case(
        "cohort-name-escapes",
        ("cohort", "add", "../evil", "--labels", "{tmp}/labels.csv"),
        ("invalid cohort name '../evil'",),
        setup=labels(GOOD),
    ),
    Case(
        "cohort-name-300-characters",
        ("cohort", "add", "A" * 300, "--labels", "{tmp}/labels.csv"),
        ("invalid cohort name", "(300 characters)", "up to 64"),
        setup=labels(GOOD),
    ),
    Case(
        "cohort-exists",
        ("cohort", "add", "AAA", "--labels", "{tmp}/labels.csv"),
        ("cohort AAA already exists", "--force replaces it"),
        setup=labels(GOOD),
    ),
    # split files × cohort add --splits
    *(
        Case(
            f"splits-{name}",
            (*ADD, "--splits", "{tmp}/splits"),
            (says,),
            setup=lambda ws, tmp, text=text: (
                (tmp / "labels.csv").write_text(GOOD),
                (tmp / "splits").mkdir(),
                (tmp / "splits" / "fold0.csv").write_text(text),
            ),
        )
        for name, text, says in [
            ("unknown-id", "patient_id,split\nP1,train\nP9,test\n", "'P9' is neither a patient"),
            ("patient-twice", "patient_id,split\nP1,train\nP1,test\n", "is in both train and test"),
            (
                "unknown-split",
                "patient_id,split\nP1,train\nP2,holdout\n",
                "'holdout' is not one of",
            ),
            ("no-columns", "a,b\nP1,P2\n", "no split columns"),
        ]
    ),
    Case(
        "splits-folder-missing",
        (*ADD, "--splits", "{tmp}/none"),
        ("none does not exist",),
        setup=labels(GOOD),
    ),
    # feature files × cohort add --features
    Case(
        "features-no-dataset",
        (*ADD, "--features", "{tmp}/feats"),
        ("P1.h5: no 'features' dataset",),
        setup=feature_file(other=np.ones(3)),
    ),
    Case(
        "features-strings",
        (*ADD, "--features", "{tmp}/feats"),
        ("P1.h5: 'features' holds", "expected numbers"),
        setup=feature_file(features=np.array([[b"a", b"b"]] * 3)),
    ),
    Case(
        "features-1d",
        (*ADD, "--features", "{tmp}/feats"),
        ("'features' has shape (256,); expected [patches, dim]",),
        setup=feature_file(features=np.ones(256, dtype=np.float32)),
    ),
    Case(
        "features-truncated",
        (*ADD, "--features", "{tmp}/feats"),
        ("P1.h5: not a readable HDF5 file",),
        setup=lambda ws, tmp: (
            (tmp / "labels.csv").write_text(GOOD),
            (tmp / "feats").mkdir(),
            (tmp / "feats" / "P1.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20),
        ),
    ),
    Case(
        "features-other-dimension",
        (*ADD, "--features", "{tmp}/feats"),
        ("features have dimension 5 but this workspace uses 8",),
        setup=feature_file(features=np.ones((3, 5), dtype=np.float32)),
    ),
    # the workspace's own files × train
    Case(
        "train-coords-wrong-shape",
        TRAIN,
        ("'coords' has shape (3,)", "expected [patches, 2]"),
        setup=first_feature(
            lambda fh: (fh.__delitem__("coords"), fh.create_dataset("coords", data=np.arange(3)))
        ),
    ),
    Case(
        "train-string-features",
        TRAIN,
        ("'features' holds", "expected numbers"),
        setup=first_feature(
            lambda fh: (
                fh.__delitem__("features"),
                fh.create_dataset("features", data=np.array([[b"x"] * 8] * 3)),
            )
        ),
    ),
    Case(
        "train-nan-features",
        TRAIN,
        ("features contain NaN or inf",),
        setup=first_feature(lambda fh: fh["features"].__setitem__((0, 0), np.nan)),
    ),
    Case(
        "train-patient-without-features",
        TRAIN,
        ("patient AAA-0003 has no feature file",),
        setup=lambda ws, tmp: [p.unlink() for p in (ws / "features" / "AAA").glob("AAA-0003*")],
    ),
    Case(
        "train-settings-not-toml",
        TRAIN,
        ("steph.toml: not valid TOML",),
        setup=in_workspace("steph.toml", lambda p: p.write_text("seed = = 1\n")),
    ),
    Case(
        "workspace-is-a-file",
        ("--workspace", "{tmp}/file", "status"),
        ("is a file; give a folder",),
        setup=raw(b"x", "file"),
    ),
    # options × train
    Case("train-lr-negative", (*TRAIN, "--lr", "-1"), ("lr = -1.0: must be a finite number > 0",)),
    Case("train-lr-nan", (*TRAIN, "--lr", "nan"), ("lr = nan: must be a finite number",)),
    Case(
        "train-lr-not-a-number",
        (*TRAIN, "--lr", "abc"),
        ("Invalid value for '--lr'", "`steph train --help`"),
    ),
    Case("train-epochs-0", (*TRAIN, "--epochs", "0"), ("epochs = 0",)),
    Case("train-accumulate-0", (*TRAIN, "--accumulate", "0"), ("accumulate = 0",)),
    Case("train-alpha-u-2", (*TRAIN, "--alpha-u", "2"), ("alpha_u = 2.0", "<= 1")),
    Case("train-seed-negative", ("--seed", "-1", *TRAIN), ("seed = -1",)),
    Case("train-max-time-negative", (*TRAIN, "--max-time-days", "-5"), ("time bins", "-5.0 days")),
    Case("train-embed-dim-0", (*TRAIN, "--embed-dim", "0"), ("embed_dim = 0",)),
    Case(
        "train-fold-and-folds", (*TRAIN, "--folds", "0,2"), ("one fold (0) and a fold list (0,2)",)
    ),
    Case("train-folds-junk", ("train", "--cancer", "AAA", "--folds", "abc"), ("folds 'abc'",)),
    Case(
        "train-fold-missing",
        ("train", "--cancer", "AAA", "--fold", "7"),
        ("cohort AAA has no fold 7",),
    ),
    Case("train-unknown-cohort", ("train", "--cancer", "ZZZ"), ("unknown cohort 'ZZZ'",)),
    Case("train-missing-option", ("train",), ("Missing option '--cancer'",)),
    Case(
        "train-device-cuda",
        ("--device", "cuda", *TRAIN),
        ("no CUDA GPU is available", "--device cpu"),
    ),
    Case("unknown-command", ("trian",), ("No such command 'trian'",)),
    # merges
    Case(
        "merge-unknown-method",
        (*MERGE, "--method", "magic"),
        ("unknown merge method 'magic'",),
        base="trained",
    ),
    Case(
        "merge-gamma-nan",
        (*MERGE, "--method", "task-arithmetic", "--gamma", "nan"),
        ("gamma = nan: must be a finite number",),
        base="trained",
    ),
    Case(
        "merge-other-methods-parameter",
        (*MERGE, "--method", "steph", "--gamma", "0.9"),
        ("gamma: not a parameter of the steph method",),
        base="trained",
    ),
    Case(
        "merge-density-2",
        (*MERGE, "--method", "ties", "--density", "2"),
        ("density = 2.0",),
        base="trained",
    ),
    Case("merge-top-k-0", (*MERGE, "--top-k", "0"), ("top_k = 0",), base="trained"),
    Case(
        "merge-activation",
        (*MERGE, "--weight-activation", "tanh"),
        ("weight_activation = 'tanh': use one of relu, softplus, sigmoid",),
        base="trained",
    ),
    Case(
        "merge-target-in-sources",
        (*MERGE, "--sources", "AAA,BBB"),
        ("target AAA is among its own sources",),
        base="trained",
    ),
    Case(
        "merge-all-with-sources",
        ("merge", "--target", "all", "--sources", "BBB"),
        ("each target takes all other cohorts",),
        base="trained",
    ),
    Case(
        "merge-untrained",
        MERGE,
        ("experts that are not trained yet: AAA fold 0 and 2 more", "--train-missing trains them"),
    ),
    Case(
        "merge-corrupt-expert",
        MERGE,
        ("experts/BBB/fold0.safetensors: corrupt or truncated",),
        base="trained",
        setup=in_workspace(
            "experts/BBB/fold0.safetensors", lambda p: p.write_bytes(p.read_bytes()[:100])
        ),
    ),
    # evaluate, predict, runs, demo
    Case(
        "evaluate-unknown-model",
        ("evaluate", "--target", "AAA", "--model", "stph"),
        ("unknown model 'stph'",),
        base="trained",
    ),
    Case(
        "evaluate-unknown-baseline",
        ("evaluate", "--target", "AAA", "--baseline", "nope"),
        ("unknown model 'nope'",),
        base="trained",
    ),
    Case(
        "predict-model-missing",
        ("predict", "--model", "{tmp}/none.safetensors", "--features", "x.h5"),
        ("none.safetensors does not exist",),
    ),
    Case(
        "predict-string-features",
        PREDICT,
        ("new.h5: 'features' holds",),
        base="trained",
        setup=string_features,
    ),
    Case(
        "predict-other-dimension",
        PREDICT,
        ("features have dimension 5 but", "expects 8"),
        base="trained",
        setup=features_of_dim(5),
    ),
    Case(
        "predict-nan-model",
        ("predict", "--model", "{tmp}/nan.safetensors", "--features", "{tmp}/new.h5"),
        ("head.bias holds NaN or infinite values",),
        base="trained",
        setup=lambda ws, tmp: (nan_model(ws, tmp), features_of_dim(8)(ws, tmp)),
    ),
    Case(
        "predict-vector-file",
        ("predict", "--model", "{ws}/init.safetensors", "--features", "{tmp}/new.h5"),
        ("init files hold no runnable model",),
        base="trained",
        setup=features_of_dim(8),
    ),
    Case(
        "reproduce-unknown-run",
        ("reproduce", "nope"),
        ("no run of", "match 'nope'"),
        base="trained",
    ),
    Case(
        "demo-other-settings",
        ("demo", "--patients", "30", "--cancers", "2", "--feature-dim", "4", "--folds", "2"),
        ("holds a demo built with other settings (patients 10 → 30)",),
        base="empty",
        setup=lambda ws, tmp: run(
            [
                "--workspace",
                str(ws),
                "-q",
                "demo",
                "--data-only",
                "--patients",
                "10",
                "--cancers",
                "2",
                "--feature-dim",
                "4",
                "--folds",
                "2",
            ]
        ),
    ),
]


# Defects found late: every other input of the command is fine and comes first (cohorts
# AAA and BBB, fold 0, the first file), so a command that works while it checks would have
# written something before it met the defect.
def corrupt(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def last_feature(ws: Path, tmp: Path) -> None:
    corrupt(sorted((ws / "features" / "CCC").glob("*.h5"))[-1])


def good_then_bad(ws: Path, tmp: Path) -> None:
    shutil.copy(sorted((ws / "features" / "AAA").glob("*.h5"))[0], tmp / "a.h5")
    string_features(ws, tmp)


def import_folder_bad_last(ws: Path, tmp: Path) -> None:
    shutil.copytree(ws / "features" / "AAA", tmp / "feats")
    corrupt(sorted((tmp / "feats").glob("*.h5"))[-1])


def slide_and_junk_weights(ws: Path, tmp: Path) -> None:
    (tmp / "slides").mkdir()
    S.write_20x(tmp / "slides" / "AAA-0000-DX1.tif")
    (tmp / "junk.pt").write_bytes(b"PK\x03\x04 not a torch archive")


LATE = [
    Case(
        "late-train-all-last-cohort-unsplit",
        ("train", "--cancer", "all", *FAST),
        ("CCC",),
        setup=in_workspace("cohorts/CCC/splits", shutil.rmtree),
    ),
    Case(
        "late-train-all-last-feature-corrupt",
        ("train", "--cancer", "all", *FAST),
        ("not a readable HDF5 file",),
        setup=last_feature,
    ),
    Case(
        "late-vector-last-fold-untrained",
        ("vector", "--cancer", "all", "--folds", "0,1,2", "--force"),
        ("CCC fold 2",),
        base="trained",
        setup=in_workspace("experts/CCC/fold2.safetensors", Path.unlink),
    ),
    Case(
        "late-merge-all-last-target-untrained",
        ("merge", "--target", "all", "--method", "task-arithmetic"),
        ("CCC fold 2",),
        base="trained",
        setup=in_workspace("experts/CCC/fold2.safetensors", Path.unlink),
    ),
    Case(
        "late-merge-last-source-corrupt",
        ("merge", "--target", "AAA", "--method", "task-arithmetic", "--force"),
        ("experts/CCC/fold0.safetensors: corrupt", "steph train --cancer CCC --fold 0 --force"),
        base="trained",
        setup=in_workspace("experts/CCC/fold0.safetensors", corrupt),
    ),
    Case(
        "late-evaluate-last-expert-corrupt",
        ("evaluate", "--target", "all"),
        ("experts/CCC/fold2.safetensors: corrupt", "steph train --cancer CCC --fold 2 --force"),
        base="trained",
        setup=in_workspace("experts/CCC/fold2.safetensors", corrupt),
    ),
    Case(
        "late-predict-second-file-bad",
        (*PREDICT[:4], "{tmp}/a.h5", "--features", "{tmp}/new.h5", "--csv", "{ws}/p.csv"),
        ("new.h5: 'features' holds",),
        base="trained",
        setup=good_then_bad,
    ),
    Case(
        "late-extract-from-last-file-corrupt",
        ("extract", "--cancer", "AAA", "--from", "{tmp}/feats", "--force"),
        ("not a readable HDF5 file",),
        setup=import_folder_bad_last,
    ),
]
CASES += LATE
# third-party failures in a few words: no torch advice, no h5py errno dump
CASES += [
    Case(
        "extract-weights-junk",
        (
            "extract",
            "--cancer",
            "AAA",
            "--slides",
            "{tmp}/slides",
            *S.tiny_encoder_args(Path("{tmp}/junk.pt")),
        ),
        ("junk.pt: cannot read", "give a safetensors file or a torch state dict"),
        setup=slide_and_junk_weights,
    ),
    Case(
        "predict-features-folder-of-nothing",
        ("predict", "--model", EXPERT, "--features", "{tmp}/empty.h5"),
        ("feature folder", "empty.h5 holds no .h5 file"),
        base="trained",
        setup=lambda ws, tmp: (tmp / "empty.h5").mkdir(),
    ),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's sha256 (a link's target), but the cache: the hash memo and the bag
    cache, which any read may refresh and which hold nothing but copies of inputs."""
    out = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        rel = path.relative_to(root).as_posix()
        if rel.startswith("cache/"):
            continue
        if path.is_symlink():
            out[rel] = f"-> {path.readlink()}"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _leftovers(*roots: Path) -> list[str]:
    return [
        str(p)
        for root in roots
        if root.exists()
        for p in root.rglob("*")
        if p.name.endswith((".tmp", ".lock")) or ".tmp" in p.name.split(".")
    ]


def _reject_constant(name: str) -> None:
    raise AssertionError(f"{name} in JSON output")


@pytest.fixture
def bases(registered_template: Path, trained_template: Path, tmp_path: Path):
    def base(kind: str) -> Path:
        ws = tmp_path / "ws-case"
        if kind == "registered":
            shutil.copytree(registered_template, ws, symlinks=True)
        elif kind == "trained":
            shutil.copytree(trained_template, ws, symlinks=True)
        return ws

    return base


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_bad_input(case: Case, as_json: bool, bases, tmp_path: Path, capsys) -> None:
    ws = bases(case.base)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    if case.setup is not None:
        case.setup(ws, inputs)
    capsys.readouterr()
    before = _snapshot(ws)
    args = [a.replace("{tmp}", str(inputs)).replace("{ws}", str(ws)) for a in case.args]
    if args[0] != "--workspace":
        args = ["--workspace", str(ws), *args]
    code = run([*args, "--json"] if as_json else args)
    out, err = capsys.readouterr()

    assert code == case.code, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    missing = [s for s in case.says if s not in errors[0]]
    assert missing == [], errors[0]
    assert "Traceback" not in err and "a bug in steph" not in err
    assert "weights_only" not in err and "errno" not in err
    if as_json and out.strip():
        json.loads(out, parse_constant=_reject_constant)
    elif as_json:
        assert out == ""
    if case.code == 2:
        assert _snapshot(ws) == before, "bad input changed the workspace"
    assert _leftovers(ws, inputs) == []


def test_the_table_covers_enough() -> None:
    assert len(CASES) >= 40
    kinds = {c.args[0] if c.args[0] != "--workspace" else c.args[2] for c in CASES}
    assert kinds >= {"cohort", "train", "merge", "evaluate", "predict", "reproduce", "demo"}


def test_interrupted_cache_build_leaves_nothing(registered, monkeypatch) -> None:
    """Ctrl-C while the bag cache is built: its temporary folder is removed."""
    from steph_cli.workspace import features

    calls = {"n": 0}
    read = features.read_features

    def interrupt(path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return read(path)

    monkeypatch.setattr(features, "read_features", interrupt)
    code = run(["--workspace", str(registered.workspace), *TRAIN])
    assert code == 130
    assert _leftovers(registered.workspace) == []
    cache = registered.workspace / "cache" / "AAA"
    assert not cache.exists() or not any(p.is_dir() for p in cache.iterdir())


def test_an_unwritable_workspace_is_named(tmp_path: Path, capsys) -> None:
    """A folder that cannot be written (/sys is read-only even for root in a container)."""
    target = Path("/sys/steph-test-workspace")
    try:
        target.mkdir()
    except OSError:
        pass
    else:  # a writable /sys: nothing to test here
        target.rmdir()
        pytest.skip("/sys is writable on this machine")
    (tmp_path / "labels.csv").write_text(GOOD)
    code = run(
        [
            "--workspace",
            str(target),
            "cohort",
            "add",
            "NEW",
            "--labels",
            str(tmp_path / "labels.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: cannot write {target}" in err and "permission denied" in err
    assert "Traceback" not in err


def test_a_dead_processs_temporary_folder_is_reclaimed(registered) -> None:
    """kill -9 leaves .KEY.PID.tmp behind: the next build of that cache removes it."""
    ws = registered.workspace
    run(["--workspace", str(ws), *TRAIN])
    (final,) = [p for p in (ws / "cache" / "AAA").iterdir() if not p.name.startswith(".")]
    dead = final.with_name(f".{final.name}.999999.tmp")
    (dead / "sub").mkdir(parents=True)
    shutil.rmtree(final)  # the next command must build the cache again
    assert run(["--workspace", str(ws), *TRAIN, "--force"]) == 0
    assert not dead.exists()
