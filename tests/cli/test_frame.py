"""The command-line frame: global options, output channels, exit codes, subprocess use."""

import json
import re

import pytest
import typer

from steph_cli import __version__
from steph_cli.cli.app import app
from tests.conftest import Cli, run_steph


def test_version(cli: Cli) -> None:
    assert cli("--version").stdout.strip() == f"steph {__version__}"


def test_common_options_before_and_after_command(cli: Cli, workspace) -> None:
    before = cli.runner.invoke(app, ["--workspace", str(workspace), "--json", "status"])
    after = cli.runner.invoke(app, ["status", "--workspace", str(workspace), "--json"])
    assert before.exit_code == after.exit_code == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(after.stdout)["root"] == str(workspace)


def test_option_after_command_wins(cli: Cli, tmp_path) -> None:
    other = tmp_path / "other"
    result = cli("status", "--json", "--workspace", str(other))
    assert json.loads(result.stdout)["root"] == str(other)


def test_workspace_from_environment(cli: Cli, tmp_path) -> None:
    env_ws = tmp_path / "from-env"
    result = cli.runner.invoke(app, ["status", "--json"], env={"STEPH_WORKSPACE": str(env_ws)})
    assert json.loads(result.stdout)["root"] == str(env_ws)


def test_bad_device_is_usage_error(cli: Cli) -> None:
    result = cli("status", "--device", "gpu7", code=2)
    assert "cuda:N" in result.output


def test_bad_input_is_one_line_exit_2(cli: Cli) -> None:
    result = cli("cohort", "show", "NOPE", code=2)
    assert result.stderr.strip().startswith("error: unknown cohort 'NOPE'")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_debug_env_shows_traceback(cli: Cli) -> None:
    result = cli.runner.invoke(
        app,
        ["--workspace", str(cli.workspace), "cohort", "show", "NOPE"],
        env={"STEPH_DEBUG": "1"},
    )
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "MissingArtefactError"
    assert "unknown cohort 'NOPE'" in str(result.exception)


def test_invalid_cohort_name_never_escapes_workspace(cli: Cli, tmp_path) -> None:
    labels = tmp_path / "l.csv"
    labels.write_text("patient_id,t,e\np1,10,1\n")
    result = cli("cohort", "add", "../evil", "--labels", str(labels), code=2)
    assert "invalid cohort name '../evil'" in result.stderr
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["cohort", "extract", "train", "vector", "merge", "evaluate", "predict"]),
        (["cohort", "--help"], ["add", "list", "show", "split", "Register and inspect"]),
        (
            ["demo", "--help"],
            ["--patients", "Patients per cancer", "--full", "[default: 20]"],
        ),
        (["merge", "--help"], ["Method parameters: task-arithmetic", "--gamma", "Examples:"]),
    ],
)
def test_help_teaches(cli: Cli, args: list[str], expected: list[str]) -> None:
    text = cli(*args, env={"COLUMNS": "200"}).stdout
    missing = [e for e in expected if e not in text]
    assert missing == []


def test_subprocess_module_entry_point(workspace) -> None:
    version = run_steph("--version")
    assert version.stdout.strip() == f"steph {__version__}"
    status = run_steph("--workspace", str(workspace), "status", "--json")
    assert json.loads(status.stdout)["cohorts"] == []
    bad = run_steph("--workspace", str(workspace), "cohort", "show", "X", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown cohort 'X'")


def test_workspace_paths_work_from_any_folder(trained: Cli, tmp_path, monkeypatch) -> None:
    """The paths steph prints (experts/..., features/...) resolve against the workspace."""
    monkeypatch.chdir(tmp_path)
    feature = sorted((trained.workspace / "features" / "AAA").glob("*.h5"))[0].name
    rows = trained.json(
        "predict",
        "--model",
        "experts/AAA/fold0.safetensors",
        "--features",
        f"features/AAA/{feature}",
    )
    assert rows[0]["patient"] == feature[:-3]
    missing = trained(
        "predict", "--model", "experts/AAA/fold9.safetensors", "--features", "x.h5", code=2
    )
    assert (
        f"model file experts/AAA/fold9.safetensors is neither in the current folder ({tmp_path})"
        in missing.stderr
    )
    assert f"nor in the workspace ({trained.workspace})" in missing.stderr


def _commands() -> list[list[str]]:
    """Every leaf command's path, from the Click tree Typer builds."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            paths.append(path)
            return
        for name, sub in subcommands.items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _commands(), ids=" ".join)
def test_every_command_teaches_at_80_columns(cli: Cli, path: list[str]) -> None:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    undocumented = [p.name for p in command.params if not getattr(p, "help", None)]
    assert undocumented == []
    assert "Example" in (command.epilog or "")
    text = cli(*path, "--help", env={"COLUMNS": "80"}).stdout
    leaks = [m for m in ("<bool>", "list[", "METHOD §", "…") if m in text]  # … : cut off
    leaks += re.findall(r"\{[a-z_]+\}", text)  # a parameter name, not a metavar
    assert leaks == []
    shown = re.split("Examples?:", text)[1].splitlines()  # none wrapped: copied as they are
    assert [line for line in shown if line.strip() and not line.startswith(" steph")] == []
