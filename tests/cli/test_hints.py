"""A fix hint names a command that works now: run what the error says, then the command
that failed, and it succeeds — also when the failing command was already forced."""

import re
import shlex

from tests.conftest import Cli

TRAINING = ["--epochs", "1", "--accumulate", "4"]


def _hinted(cli: Cli, *args: str) -> list[str]:
    """The command the error of ``args`` names (exit 2), as arguments after ``steph``."""
    failed = cli(*args, code=2)
    commands = re.findall(r"`steph ([^`]+)`", failed.stderr)
    assert len(commands) == 1, failed.stderr
    return shlex.split(commands[0])


def _corrupt(cli: Cli, path: str) -> None:
    file = cli.workspace / path
    file.write_bytes(file.read_bytes()[:100])


def test_a_corrupt_source_is_remade_by_train_not_by_the_forced_merge(trained: Cli) -> None:
    merge = ("merge", "--target", "AAA", "--method", "task-arithmetic", "--force")
    _corrupt(trained, "experts/CCC/fold0.safetensors")
    hint = _hinted(trained, *merge)
    assert hint == ["train", "--cancer", "CCC", "--fold", "0", "--force"]
    trained(*hint)
    trained(*merge)


def test_a_corrupt_merged_model_names_its_merge(trained: Cli) -> None:
    trained("merge", "--target", "AAA", "--method", "task-arithmetic")
    _corrupt(trained, "merged/AAA/task-arithmetic/fold1.safetensors")
    hint = _hinted(trained, "evaluate", "--target", "AAA")
    assert hint[:5] == ["merge", "--target", "AAA", "--method", "task-arithmetic"]
    trained(*hint)
    trained("evaluate", "--target", "AAA")


def test_a_stale_control_is_remade_by_the_forced_merge(trained: Cli) -> None:
    """The control copies its real expert's options: retraining that expert makes it stale,
    and ``--force`` on the merge (what the error says) remakes it."""
    merge = ("merge", "--target", "AAA", "--method", "ada", "--fold", "0", "--control", "permuted")
    trained(*merge, *TRAINING)
    trained("train", "--cancer", "BBB", "--fold", "0", "--force", "--epochs", "3")
    failed = trained(*merge, *TRAINING, code=2)
    assert "controls/permuted/BBB/fold0.safetensors" in failed.stderr
    assert failed.stderr.rstrip().endswith("--force remakes it")
    trained(*merge, *TRAINING, "--force")
