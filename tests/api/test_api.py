"""The API's contract: hooks, typed errors with fixes, refusals, exports and import weight."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import steph_cli
from steph_cli import api
from steph_cli.errors import BadInputError, MissingArtefactError
from steph_cli.hooks import Hooks
from steph_cli.training.config import TrainConfig
from tests.conftest import FAST, Cli


class Recorder(Hooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def note(self, message: str) -> None:
        self.calls.append(("note", message))

    def bar(self, name: str, total: int | None, description: str = "") -> None:
        self.calls.append(("bar", name, str(total), description))

    def advance(self, name: str, steps: int = 1) -> None:
        self.calls.append(("advance", name, str(steps)))

    def status(self, name: str, text: str) -> None:
        self.calls.append(("status", name, text))


def test_training_reports_through_hooks(registered: Cli) -> None:
    hooks = Recorder()
    report = api.train(
        registered.workspace,
        "AAA",
        fold=0,
        training=TrainConfig(epochs=2, accumulate=4),
        arch=steph_cli.ArchOptions(16, 8),
        device="cpu",
        hooks=hooks,
    )
    (expert,) = report.results()
    n_train = 16  # 24 patients, 3 folds: 8 test, 16 train
    assert ("bar", "train", str(2 * n_train), "AAA fold 0") in hooks.calls
    assert hooks.calls.count(("advance", "train", "1")) == 2 * n_train
    epochs = [c[2] for c in hooks.calls if c[:2] == ("status", "train")]
    assert [e.split()[1] for e in epochs] == ["1/2", "2/2"]
    assert f"loss {expert.history[-1]['loss']:.4f}" in epochs[-1]
    assert hooks.calls[0] == ("note", "training 1 expert(s) on cpu (local executor)")
    again = Recorder()
    same = TrainConfig(epochs=2, accumulate=4)
    api.train(registered.workspace, "AAA", fold=0, training=same, device="cpu", hooks=again)
    assert ("note", "AAA fold 0: expert exists, skipped (force redoes it)") in again.calls


def test_missing_work_is_typed_with_a_fix_in_each_language(registered: Cli, tiny_data) -> None:
    with pytest.raises(MissingArtefactError) as caught:
        api.merge(registered.workspace, "AAA", method="ada", fold=0)
    assert "the merges need experts that are not trained yet: AAA fold 0" in caught.value.message
    assert str(caught.value).endswith("; train_missing=True trains them first")  # an option
    shell = registered("merge", "--target", "AAA", "--method", "ada", "--fold", "0", code=2)
    assert shell.stderr.strip().endswith("; --train-missing trains them first")
    labels = tiny_data / "AAA" / "labels.csv"
    registered(
        "cohort",
        "add",
        "NEW",
        "--labels",
        str(labels),
        "--features",
        str(tiny_data / "AAA" / "features"),
    )
    with pytest.raises(MissingArtefactError) as caught:  # a step to run first
        api.train(registered.workspace, "NEW")
    assert str(caught.value).endswith("; run split_cohort(name='NEW', folds=5) first")
    shell = registered("train", "--cancer", "NEW", code=2)
    assert shell.stderr.strip().endswith("; run `steph cohort split NEW --folds 5` first")


def test_parameters_of_another_method_are_refused(trained: Cli) -> None:
    with pytest.raises(BadInputError, match="gamma: not a parameter of the steph method"):
        api.merge(trained.workspace, "AAA", method="steph", params={"gamma": 0.9}, fold=0)
    shell = trained("merge", "--target", "AAA", "--method", "steph", "--gamma", "0.9", code=2)
    says = "gamma: not a parameter of the steph method (its parameters: base, beta_lambda"
    assert says in shell.stderr
    assert not (trained.workspace / "merged").exists()
    nan = trained(
        "merge", "--target", "AAA", "--method", "task-arithmetic", "--gamma", "nan", code=2
    )
    assert "gamma = nan: must be a finite number" in nan.stderr


def test_evaluate_refuses_unknown_models(trained: Cli) -> None:
    result = trained("evaluate", "--target", "AAA", "--model", "stph", code=2)
    assert "unknown model 'stph'; use all or any of expert, ada, average" in result.stderr
    assert not (trained.workspace / "runs").exists() or not list(
        (trained.workspace / "runs").glob("*-evaluate-*")
    )


def test_target_all_with_a_source_list_is_refused(trained: Cli) -> None:
    result = trained("merge", "--target", "all", "--sources", "BBB", "--method", "ada", code=2)
    assert "each target takes all other cohorts as its sources" in result.stderr


def test_package_root_exports_the_api() -> None:
    assert set(api.__all__) <= set(steph_cli.__all__)
    for name in steph_cli.__all__:
        assert getattr(steph_cli, name) is not None
    with pytest.raises(AttributeError):
        steph_cli.nothing_here  # noqa: B018


def test_workspace_calls_load_neither_torch_nor_scikit_survival() -> None:
    """``steph cohort list`` and ``steph status`` start in a fraction of a second: the API
    loads a call's module when it is first used, not every module at once."""
    code = (
        "import sys; from steph_cli import api; api.list_cohorts; api.status; "
        "print(sorted(m for m in ('torch', 'sksurv') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_scikit_survival_loads_where_a_metric_is_computed() -> None:
    """Its import (with scikit-learn and SciPy) costs ~1.8 s: training, extraction and
    Harrell's C (the C-index every trained model reports) run without it, and the first
    metric that needs it (Uno's C) brings it in. Training does not load the slide readers
    (scikit-image) either."""
    code = (
        "import sys, numpy as np; from steph_cli import api; api.train; api.merge; "
        "print('skimage' in sys.modules); api.extract; "
        "from steph_cli.survival.metrics import Cohort, harrell_cindex, uno_cindex; "
        "t, e, r = np.array([1., 2., 3., 4.]), np.array([1, 0, 1, 0]), np.array([4., 3., 2., 1.]); "
        "print(harrell_cindex(e, t, r).value, 'sksurv' in sys.modules); "
        "print(uno_cindex(Cohort(t, e), Cohort(t, e), r, None).value > 0, 'sksurv' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "1.0", "False", "True", "True"]


LOAD = """
import json, sys
from steph_cli.evaluation.inference import load_model

load_model(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("steph_cli."))))
"""


def test_loading_a_merged_model_does_not_load_training(trained: Cli) -> None:
    trained("merge", "--target", "AAA", "--fold", "0", *FAST[:2], "--accumulate", "4")
    path = trained.workspace / "merged" / "AAA" / "steph" / "fold0.safetensors"
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "steph_cli.models.merged" in loaded
    trainers = (
        "steph_cli.training",
        "steph_cli.merging.steph_training",
        "steph_cli.merging.learned",
    )
    assert [m for m in loaded if m.startswith(trainers)] == []


def test_open_workspace_creates_settings_only_when_asked(tmp_path: Path) -> None:
    ws = api.open_workspace(tmp_path / "new")
    assert not ws.settings_file.exists()
    api.open_workspace(tmp_path / "new", create=True, seed=9)
    assert "seed = 9" in ws.settings_file.read_text()


def test_notebook_sees_the_api_and_short_reprs(trained: Cli) -> None:
    """Tab completion lists the API before it is loaded; reprs give counts, not every id."""
    import subprocess
    import sys

    import steph_cli as steph

    listed = subprocess.run(
        [sys.executable, "-c", "import steph_cli; print(dir(steph_cli))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("train", "merge", "evaluate", "predict", "Workspace", "open_workspace"):
        assert repr(name) in listed
    from steph_cli.workspace import cohorts

    ws = steph.open_workspace(trained.workspace)
    labels = cohorts.load_labels(ws, "AAA")
    events = int(labels.events.sum())
    assert (
        repr(labels) == f"Labels({len(labels)} patients, {labels.n_slides} slides, {events} events)"
    )
    folds = steph.split_cohort(ws, "BBB", 3, force=True).folds
    assert (
        repr(folds[0]) == f"Fold(0: train {len(folds[0].train)}, val 0, test {len(folds[0].test)})"
    )
    evaluation = steph.evaluate(ws, "AAA", "expert", bootstrap=0)
    shown = repr(evaluation) + repr(evaluation.folds)
    assert shown.startswith("Evaluation(1 target(s), 1 model(s), 3 fold(s) scored, 0 skipped")
    assert "FoldResult(AAA expert fold 0: " in shown
    assert not any(p in shown for p in labels.patients)


def test_tqdm_hooks_write_no_carriage_returns_into_a_log(capsys) -> None:
    """Redirected (not a terminal, not a notebook): notes are written, bars are not, so a
    log holds no carriage-return redraws."""
    from steph_cli.hooks import TqdmHooks

    hooks = TqdmHooks()
    hooks.bar("train", 50, "training")
    for _ in range(50):
        hooks.advance("train")
        hooks.status("train", "loss 0.5")
    hooks.note("expert written")
    hooks.close()
    captured = capsys.readouterr()
    written = captured.out + captured.err
    assert "expert written" in written
    assert "\r" not in written
