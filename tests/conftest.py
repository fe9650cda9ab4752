"""Shared fixtures: tiny synthetic cohorts written as real files, and CLI runners."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steph_cli import threads
from steph_cli.cli.app import app
from steph_cli.demo.synthetic import SyntheticConfig, generate, write_cohort

# Tests compare bytes across runs, and float sums depend on the thread count: one that
# followed the machine's load (the default policy) would make them flaky. pytest-xdist's
# workers share the CPUs rather than each taking them all.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, threads.available_cpus() // _WORKERS)))

TINY = SyntheticConfig(
    cancers=(("AAA", "fam1"), ("BBB", "fam1"), ("CCC", "other")),
    patients=24,
    feature_dim=8,
    patches=(5, 20),
    seed=3,
)


class Cli:
    """Runs ``steph`` in-process through Typer's runner against one workspace."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0, env: dict | None = None):
        result = self.runner.invoke(
            app, ["--workspace", str(self.workspace), *args], env=env, catch_exceptions=False
        )
        if code is not None:
            assert result.exit_code == code, (
                f"exit {result.exit_code} != {code}\nstdout:\n{result.stdout}\n"
                f"stderr:\n{result.stderr}"
            )
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def cli(workspace: Path) -> Cli:
    return Cli(workspace)


@pytest.fixture(scope="session")
def tiny_cohorts():
    return generate(TINY)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, tiny_cohorts) -> Path:
    """Label CSVs and feature folders of the tiny cohorts, as a user would have them."""
    root = tmp_path_factory.mktemp("data")
    for cohort in tiny_cohorts:
        write_cohort(cohort, root / cohort.name)
    return root


def register_tiny(cli: Cli, tiny_data: Path) -> Cli:
    """Register the tiny cohorts (features copied) and split each in 3 folds."""
    for name in ("AAA", "BBB", "CCC"):
        cli(
            "cohort",
            "add",
            name,
            "--labels",
            str(tiny_data / name / "labels.csv"),
            "--features",
            str(tiny_data / name / "features"),
        )
        cli("cohort", "split", name, "--folds", "3", "--seed", "0")
    return cli


@pytest.fixture
def registered(cli: Cli, tiny_data: Path) -> Cli:
    return register_tiny(cli, tiny_data)


FAST = ["--epochs", "2", "--embed-dim", "16", "--attn-dim", "8", "--accumulate", "4"]


@pytest.fixture(scope="session")
def registered_template(tmp_path_factory, tiny_data: Path) -> Path:
    """A workspace with the tiny cohorts registered and split in 3 folds, nothing trained."""
    root = tmp_path_factory.mktemp("registered") / "ws"
    register_tiny(Cli(root), tiny_data)
    return root


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory, tiny_data: Path) -> Path:
    """A workspace with the tiny cohorts split in 3 folds and small experts for every fold."""
    root = tmp_path_factory.mktemp("trained") / "ws"
    cli = register_tiny(Cli(root), tiny_data)
    cli("train", "--cancer", "all", *FAST)
    return root


@pytest.fixture
def trained(trained_template: Path, workspace: Path) -> Cli:
    """A private copy of the trained workspace."""
    shutil.copytree(trained_template, workspace, symlinks=True)
    return Cli(workspace)


def run_steph(*args: str, env: dict | None = None, check: bool = True):
    """Run the installed CLI as a real subprocess (``python -m steph_cli``)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "steph_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        check=check,
        timeout=300,
    )
