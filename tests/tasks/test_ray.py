"""The Ray executor on a local Ray (2 CPUs, no dashboard): same bytes as local, failures, resume."""

from pathlib import Path

import pytest

from steph_cli import threads
from steph_cli.tasks.graph import DONE, FAILED, Task, run_local
from steph_cli.workspace.features import read_features
from tests.conftest import FAST, Cli, register_tiny
from tests.helpers import slides as S
from tests.helpers.tasks import always, boom

ray = pytest.importorskip("ray")
RAY = ["--executor", "ray"]
MERGE = ["merge", "--target", "AAA", "--method", "ada", "--fold", "1", "--epochs", "2"]
MERGE += ["--train-missing"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def expert_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "experts").rglob("*.safetensors"))
    }


def test_train_on_ray_writes_the_same_bytes_as_local(tmp_path, tiny_data):
    local = register_tiny(Cli(tmp_path / "local"), tiny_data)
    remote = register_tiny(Cli(tmp_path / "ray"), tiny_data)
    local("train", "--cancer", "all", "--folds", "all", *FAST)
    result = remote.json("train", "--cancer", "all", "--folds", "all", *FAST, *RAY)
    assert len(result) == 9 and not any(r["skipped"] for r in result)
    mine, theirs = expert_bytes(local.workspace), expert_bytes(remote.workspace)
    assert len(mine) == 9 and mine == theirs
    assert (tmp_path / "local" / "init.safetensors").read_bytes() == (
        tmp_path / "ray" / "init.safetensors"
    ).read_bytes()
    # merges over these (non-default architecture) experts, on Ray and here
    merge = ["merge", "--target", "AAA", "--method", "task-arithmetic", "--fold", "0"]
    remote(*merge, *RAY)
    local(*merge)
    merged_file = Path("merged") / "AAA" / "task-arithmetic" / "fold0.safetensors"
    assert (remote.workspace / merged_file).read_bytes() == (
        local.workspace / merged_file
    ).read_bytes()


def test_a_failing_task_is_retried_reported_and_resumed(tmp_path, tiny_data):
    cli = register_tiny(Cli(tmp_path / "ws"), tiny_data)
    split = cli.workspace / "cohorts" / "CCC" / "splits" / "fold1.csv"
    good = split.read_text()
    split.write_text("patient_id,split\nnobody,train\n")
    failed = cli("train", "--cancer", "all", "--folds", "all", *FAST, *RAY, code=1)
    assert "1 of 9 task(s) failed" in failed.stderr
    assert "train CCC fold 1" in failed.stderr
    assert len(expert_bytes(cli.workspace)) == 8  # the others' results are kept
    split.write_text(good)
    again = cli.json("train", "--cancer", "all", "--folds", "all", *FAST, *RAY)
    assert sorted((r["cohort"], r["fold"]) for r in again if not r["skipped"]) == [("CCC", 1)]
    assert len(expert_bytes(cli.workspace)) == 9


def test_merges_wait_for_the_experts_and_vectors_they_need(tmp_path, tiny_data):
    """Nothing trained yet: one graph trains the experts, writes vectors, then merges."""
    cli = register_tiny(Cli(tmp_path / "ws"), tiny_data)
    merged = cli.json(*MERGE, *RAY)
    assert [(m["target"], m["fold"], m["sources"]) for m in merged] == [("AAA", 1, ["BBB", "CCC"])]
    ws = cli.workspace
    assert sorted(str(p.relative_to(ws)) for p in (ws / "experts").rglob("*.safetensors")) == [
        "experts/AAA/fold1.safetensors",
        "experts/BBB/fold0.safetensors",
        "experts/CCC/fold0.safetensors",
    ]
    assert (ws / "vectors" / "AAA" / "fold1.safetensors").is_file()
    local = register_tiny(Cli(tmp_path / "local"), tiny_data)
    with threads.torch_threads(1):  # as a Ray task on one CPU: the same float sums
        local(*MERGE)
    merged_file = Path("merged") / "AAA" / "ada" / "fold1.safetensors"
    assert (ws / merged_file).read_bytes() == (local.workspace / merged_file).read_bytes()
    assert expert_bytes(ws) == expert_bytes(local.workspace)


def test_tasks_the_cluster_cannot_hold_are_refused(tmp_path, tiny_data):
    cli = register_tiny(Cli(tmp_path / "ws"), tiny_data)
    result = cli(
        "train", "--cancer", "AAA", "--fold", "0", *FAST, *RAY, "--cpus-per-task", "64", code=2
    )
    assert "asks for 64 CPU(s) but the Ray cluster has 2" in result.stderr
    assert not (cli.workspace / "experts").exists()


def test_ray_retries_once_and_blocks_dependents(tmp_path):
    from steph_cli.tasks.ray_executor import run_ray

    tasks = [
        Task("flaky", boom, (str(tmp_path / "marker"),)),
        Task("broken", always, ("x",)),
        Task("after broken", boom, (str(tmp_path / "other"),), deps=("broken",)),
        Task("after flaky", always, ("y",), deps=("flaky",)),
    ]
    report = run_ray(tasks)
    status = {k: (o.status, o.attempts) for k, o in report.outcomes.items()}
    assert status["flaky"] == (DONE, 2)
    assert status["broken"] == (FAILED, 2)
    assert status["after broken"] == (FAILED, 0)
    assert "not run: broken failed" in report.outcomes["after broken"].error
    assert "broken for good" in report.outcomes["broken"].error
    assert status["after flaky"][0] == FAILED
    # the local executor gives the same outcome
    (tmp_path / "marker").unlink()
    local = run_local(tasks)
    assert {k: (o.status, o.attempts) for k, o in local.outcomes.items()} == status


def test_extract_on_ray_matches_local(tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    S.write_20x(slides / "s20.tiff")
    S.write_40x(slides / "s40.tiff")
    (slides / "bad.svs").write_bytes(b"junk" * 100)
    weights = S.tiny_encoder_weights(tmp_path / "tiny.safetensors")
    args = ["extract", "--cancer", "LUAD", "--slides", str(slides), *S.tiny_encoder_args(weights)]
    Cli(tmp_path / "local")(*args, "--workers", "0", code=1)
    result = Cli(tmp_path / "ray")(*args, *RAY, code=1)
    assert "bad" in result.stderr and "1 of 3 slide(s) failed" in result.stderr
    for sid in ("s20", "s40"):
        a = read_features(tmp_path / "local" / "features" / "LUAD" / f"{sid}.h5")
        b = read_features(tmp_path / "ray" / "features" / "LUAD" / f"{sid}.h5")
        assert (a.coords == b.coords).all() and (a.features == b.features).all()
    (slides / "bad.svs").unlink()
    again = Cli(tmp_path / "ray").json(*args, *RAY)
    assert [(s["slide_id"], s["status"]) for s in again["slides"]] == [
        ("s20", "skipped"),
        ("s40", "skipped"),
    ]
