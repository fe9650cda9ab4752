"""The local process pool (``--jobs N``): same bytes as one process with as many threads,
the same retry and blocking as the in-process executor, and its thread arithmetic."""

import json
import os
import time
from pathlib import Path

import pytest

from steph_cli import threads
from steph_cli.errors import BadInputError
from steph_cli.tasks.execution import Execution
from steph_cli.tasks.graph import DONE, FAILED, Task, run_local
from steph_cli.tasks.pool import run_pool
from tests.conftest import FAST, Cli, register_tiny
from tests.helpers.tasks import always, boom

MERGE = ["merge", "--target", "AAA", "--method", "ada", "--fold", "1", "--epochs", "2"]


def model_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in ("experts", "vectors", "merged")
        for p in sorted((root / folder).rglob("*.safetensors"))
    }


def test_two_jobs_write_the_bytes_of_one_process(tmp_path, tiny_data):
    """Every expert of 3 cohorts × 3 folds, then a merge graph (experts → vectors → merge),
    in 2 processes of 1 thread, against this process on 1 thread."""
    one = register_tiny(Cli(tmp_path / "one"), tiny_data)
    two = register_tiny(Cli(tmp_path / "two"), tiny_data)
    train = ["train", "--cancer", "all", "--folds", "all", *FAST]
    one(*train, "--threads", "1")
    result = two(*train, "--jobs", "2", "--threads", "1")
    assert "train BBB fold 2" in result.stderr  # the task table
    one(*MERGE, "--threads", "1")
    two.json(*MERGE, "--jobs", "2", "--threads", "1")
    mine, theirs = model_bytes(one.workspace), model_bytes(two.workspace)
    assert len(mine) == 9 + 3 + 1
    assert mine == theirs
    # θ_init, made before the jobs started, is still an output of a run's record
    for cli in (one, two):
        assert cli.json("verify")["ok"], cli.json("verify")
    vector = next((two.workspace / "vectors").glob("*/fold0.safetensors"))
    vector.unlink()
    problems = json.loads(two("verify", "--json", code=1).stdout)["problems"]
    assert [(p["path"], p["status"]) for p in problems] == [
        (str(vector.relative_to(two.workspace)), "missing")
    ]
    assert "steph vector --cancer" in problems[0]["detail"]


def test_retries_and_blocking_match_the_in_process_executor(tmp_path):
    tasks = [
        Task("flaky", boom, (str(tmp_path / "marker"),)),
        Task("broken", always, ("x",)),
        Task("after broken", boom, (str(tmp_path / "other"),), deps=("broken",)),
        Task("after flaky", always, ("y",), deps=("flaky",)),
    ]
    pooled = run_pool(tasks, jobs=2, threads=1)
    status = {k: (o.status, o.attempts) for k, o in pooled.outcomes.items()}
    assert status == {
        "flaky": (DONE, 2),
        "broken": (FAILED, 2),
        "after broken": (FAILED, 0),
        "after flaky": (FAILED, 2),
    }
    assert pooled.outcomes["broken"].error == "RuntimeError: broken for good"
    assert "not run: broken failed" in pooled.outcomes["after broken"].error
    (tmp_path / "marker").unlink()
    local = run_local(tasks)
    assert {k: (o.status, o.attempts) for k, o in local.outcomes.items()} == status
    assert local.outcomes["broken"].error == pooled.outcomes["broken"].error


def test_bad_input_in_a_worker_stops_the_run_as_in_one_process(tmp_path, tiny_data):
    """Exit 2 with the worker's message and fix, as without --jobs (no retry heals it)."""
    cli = register_tiny(Cli(tmp_path / "ws"), tiny_data)
    split = cli.workspace / "cohorts" / "CCC" / "splits" / "fold1.csv"
    split.write_text("patient_id,split\nnobody,train\n")
    train = ["train", "--cancer", "CCC", "--folds", "all", *FAST]
    alone = cli(*train, code=2).stderr.splitlines()[-1]
    pooled = cli(*train, "--jobs", "2", "--force", code=2).stderr.splitlines()[-1]
    assert pooled == alone
    assert alone.startswith("error: ") and alone.endswith("fix the id or add it to the labels")
    assert not cli.workspace.joinpath("experts", "CCC", "fold1.safetensors").exists()


def test_jobs_are_refused_on_ray_and_below_one():
    with pytest.raises(BadInputError, match="jobs apply to the local executor"):
        Execution("ray", jobs=2)
    with pytest.raises(BadInputError, match="jobs 0"):
        Execution(jobs=0)


def test_usable_cpus_follow_affinity_and_the_cgroup_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    v2 = tmp_path / "cpu.max"
    v1 = (tmp_path / "quota", tmp_path / "period")
    assert threads.available_cpus(v2, v1) == 4  # no cgroup files: the affinity mask
    v2.write_text("150000 100000\n")
    assert threads.available_cpus(v2, v1) == 1  # 1.5 CPUs of quota: one thread's worth
    v2.write_text("max 100000\n")
    assert threads.available_cpus(v2, v1) == 4
    v2.unlink()
    v1[0].write_text("300000\n")
    v1[1].write_text("100000\n")
    assert threads.available_cpus(v2, v1) == 3
    v1[0].write_text("-1\n")
    assert threads.available_cpus(v2, v1) == 4


def test_threads_are_shared_out_and_oversubscription_is_named():
    assert threads.per_task(jobs=2, cpus=8) == 4
    assert threads.per_task(jobs=3, cpus=2) == 1
    assert threads.oversubscribed(4, jobs=2, cpus=8) is None
    message = threads.oversubscribed(4, jobs=2, cpus=4)
    assert message is not None
    assert message.startswith("2 jobs × 4 threads on 4 usable CPU(s)")
    assert message.endswith("use 2 thread(s) per job")


def test_the_default_takes_the_idle_cpus_unless_threads_are_pinned(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.default(cpus=8, busy=0.2) == 8
    assert threads.default(cpus=8, busy=5.8) == 2  # six CPUs busy elsewhere
    assert threads.default(cpus=2, busy=0.6) == 2  # a flicker of other work is not a CPU
    assert threads.default(cpus=2, busy=0.8) == 1
    assert threads.default(cpus=2, busy=3.0) == 1  # never fewer than one
    assert threads.default(jobs=2, cpus=8, busy=0.0) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default(cpus=8, busy=0.0) == 3
    with threads.torch_threads(1):
        assert threads.default(cpus=8, busy=0.0) == 1


def test_busy_cpus_sees_work_running_now_not_work_that_finished(tmp_path):
    """A spinning process on one of this process's CPUs counts as about one busy CPU while it
    runs; once it has stopped, a fresh sample no longer counts it (a load average would for
    minutes). /proc/stat's per-CPU lines are what is read."""
    import subprocess
    import sys

    if not threads.PROC_STAT.is_file():
        pytest.skip("no /proc/stat here")
    cpu = min(os.sched_getaffinity(0))
    spin = "\n".join(
        [
            "import os, time",
            f"os.sched_setaffinity(0, {{{cpu}}})",
            "end = time.time() + 3",
            "while time.time() < end: pass",
        ]
    )
    proc = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)
        assert threads.busy_cpus(0.5) >= 0.7
    finally:
        proc.kill()
        proc.wait()
    fake = tmp_path / "stat"
    fake.write_text(
        "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 0 1 7 1 0 0 0 0 0\ncpu1 4 0 0 4 0 0 0 0 0 0\n"
    )
    assert threads._cpu_jiffies(fake, {0}) == (2.0, 10.0)
    assert threads._cpu_jiffies(fake, {0, 1}) == (6.0, 18.0)


def test_too_many_threads_warn_before_the_run(tmp_path, tiny_data):
    cli = register_tiny(Cli(tmp_path / "ws"), tiny_data)
    many = threads.available_cpus() + 1
    result = cli("train", "--cancer", "AAA", "--fold", "0", *FAST, "--threads", str(many))
    assert f"{many} threads on {many - 1} usable CPU(s)" in result.stderr


def test_a_parallel_run_with_nothing_to_do_starts_no_workers(trained: Cli) -> None:
    for executor in (["--jobs", "2"], ["--executor", "ray"]):
        done = trained("train", "--cancer", "all", *FAST, *executor)
        assert "so no workers were started" in done.stderr
        assert done.stderr.count("expert exists, skipped") == 9
    # one expert made otherwise: refused as before, on the workers asked for
    ws = trained.workspace
    done = trained("train", "--cancer", "AAA", "--fold", "0", *FAST, "--lr", "1", "--jobs", "2",
                   code=2)  # fmt: skip
    assert "no workers were started" not in done.stderr
    assert "made from other inputs or options" in done.stderr
    assert (ws / "experts" / "AAA" / "fold0.safetensors").is_file()
