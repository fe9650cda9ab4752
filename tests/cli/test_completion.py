"""Shell completion: cohort names come from the workspace; shipped scripts are current."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from steph_cli.cli.app import app
from tests.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
STEPH = shutil.which("steph", path=str(Path(sys.executable).parent)) or "steph"


def _complete(words: str, env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [STEPH],
        env={
            **os.environ,
            **env,
            "_STEPH_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()


def test_cohort_names_complete(registered: Cli) -> None:
    ws = str(registered.workspace)
    assert _complete("steph cohort show A", {"STEPH_WORKSPACE": ws}) == ["AAA"]
    assert _complete(f"steph --workspace {ws} cohort split ", {}) == ["AAA", "BBB", "CCC"]


def test_sources_never_offer_the_target_or_a_name_twice(registered: Cli) -> None:
    ws = str(registered.workspace)
    line = f"steph --workspace {ws} merge --target AAA --sources "
    assert _complete(line, {}) == ["all", "BBB", "CCC"]
    assert _complete(line + "BBB,", {}) == ["BBB,CCC"]  # neither AAA (the target) nor BBB again
    assert _complete(f"steph --workspace {ws} train --cancer BBB --with ", {}) == [
        "all",
        "AAA",
        "CCC",
    ]


def test_closed_sets_complete(trained: Cli) -> None:
    ws = str(trained.workspace)
    trained("merge", "--target", "AAA", "--method", "average", "--fold", "0")
    models = _complete(f"steph --workspace {ws} evaluate --target AAA --model ", {})
    assert models[:3] == ["all", "expert", "ada"] and "steph" in models and "routing" in models
    assert _complete(f"steph --workspace {ws} evaluate --target AAA --model expert,st", {}) == [
        "expert,steph"
    ]
    assert _complete(f"steph --workspace {ws} evaluate --target AAA --baseline av", {}) == [
        "average"
    ]
    assert _complete("steph train --device cu", {}) == ["cuda", "cuda:0", "cuda:1"]
    assert _complete("steph merge --weight-activation s", {}) == ["softplus", "sigmoid"]
    assert _complete("steph merge --scope ", {}) == ["encoder", "head", "all"]
    assert _complete("steph train --select ", {}) == ["last", "best"]
    assert _complete("steph extract --backend t", {}) == ["tiffslide"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shipped_scripts_are_current(shell: str) -> None:
    generated = subprocess.run(
        [STEPH],
        env={**os.environ, "_STEPH_COMPLETE": f"source_{shell}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shipped = (ROOT / "completions" / f"steph.{shell}").read_text()
    assert generated == shipped, "run `make completions`"


def test_show_completion_option() -> None:
    """As a subprocess: Typer's test runner reports the option's exit(0) as 1."""
    env = {**os.environ, "SHELL": "/bin/bash", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = subprocess.run(
        [STEPH, "--show-completion", "bash"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "_STEPH_COMPLETE=complete_bash" in result.stdout


def test_help_shows_each_closed_set_and_completion_offers_it() -> None:
    """An option shown as ``[a|b]`` in help completes exactly a and b, and every closed set
    met in the tree is shown that way (``<str>`` says nothing)."""
    root = typer.main.get_command(app)
    shown: dict[str, list[str]] = {}

    def walk(command: click.Command, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        ctx = click.Context(command)
        for param in command.params:
            metavar = param.metavar or ""
            if re.fullmatch(r"\[[a-z-]+(\|[a-z-]+)+\]", metavar):
                values = metavar[1:-1].split("|")
                offered = [item.value for item in param.shell_complete(ctx, "")]
                assert offered == values, (path, param.name)
                shown[f"{' '.join(path)} --{param.name}"] = values

    walk(root, [])
    assert shown["merge --control"] == ["permuted", "none", "self"]
    assert shown["merge --scope"] == ["encoder", "head", "all"]
    assert shown["evaluate --plot_format"] == ["png", "svg", "pdf"]
    assert {"train --select", "study run --executor", "cohort add --time_unit"} <= set(shown)


def test_completers_never_raise_in_odd_contexts(tmp_path: Path) -> None:
    """Each workspace completer, called with every missing or odd context a half-typed line
    gives, offers a list (maybe empty) and never raises into the shell."""
    from steph_cli.cli import completion

    not_a_workspace = tmp_path / "file"
    not_a_workspace.write_text("x")
    contexts = [
        {},
        {"target": None},
        {"target": "all"},
        {"target": "NOPE,"},
        {"cancer": None, "target": None},
        {"workspace": str(tmp_path / "missing")},
        {"workspace": str(not_a_workspace)},
        {"workspace": str(not_a_workspace), "target": "AAA"},
    ]
    command = typer.main.get_command(app)
    for params in contexts:
        ctx = click.Context(command)
        ctx.params = dict(params)
        for completer in completion.WORKSPACE_COMPLETERS:
            for incomplete in ("", "A", ",", "x,", "all,"):
                offered = completer(ctx, incomplete)
                assert isinstance(offered, list), (completer.__name__, params, incomplete)
    assert completion.learned_methods("st") == ["steph"]


def test_models_complete_without_a_target_and_run_ids_complete(trained: Cli) -> None:
    ws = str(trained.workspace)
    result = subprocess.run(
        [STEPH],
        env={
            **os.environ,
            "_STEPH_COMPLETE": "complete_bash",
            "COMP_WORDS": f"steph --workspace {ws} evaluate --model ",
            "COMP_CWORD": "5",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr + result.stdout
    assert {"expert", "steph"} <= set(result.stdout.split())
    run = sorted(p.name for p in (trained.workspace / "runs").iterdir())[-1]
    offered = _complete(f"steph --workspace {ws} runs show {run[:8]}", {})
    assert run in offered
    assert _complete(f"steph --workspace {ws} reproduce la", {}) == ["last"]
