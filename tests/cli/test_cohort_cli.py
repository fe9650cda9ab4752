"""`steph cohort` and `steph status` on generated cohorts."""

from pathlib import Path

from tests.conftest import Cli


def test_add_list_show_status(registered: Cli) -> None:
    listed = registered.json("cohort", "list")
    assert [c["name"] for c in listed] == ["AAA", "BBB", "CCC"]
    assert all(c["patients"] == 24 and c["folds"] == [0, 1, 2] for c in listed)
    shown = registered.json("cohort", "show", "BBB")
    assert shown["slides_with_features"] == shown["slides"] >= 24
    assert any("< 200" in w for w in shown["warnings"])
    status = registered.json("status")
    assert status["settings"]["feature_dim"] == 8
    assert [c["summary"]["name"] for c in status["cohorts"]] == ["AAA", "BBB", "CCC"]
    table = registered("status").stdout
    assert "AAA" in table and "CCC" in table


def test_add_twice_needs_force(registered: Cli, tiny_data: Path) -> None:
    args = ["cohort", "add", "AAA", "--labels", str(tiny_data / "AAA" / "labels.csv")]
    assert "already exists in" in registered(*args, code=2).stderr
    assert "; --force replaces it" in registered(*args, code=2).stderr
    registered(*args, "--force")


def test_human_output_goes_to_stdout_notes_to_stderr(cli: Cli, tiny_data: Path) -> None:
    result = cli("cohort", "add", "AAA", "--labels", str(tiny_data / "AAA" / "labels.csv"))
    assert "registered cohort AAA" in result.stderr
    assert "AAA" in result.stdout
    quiet = cli("cohort", "list", "--quiet")
    assert quiet.stderr == ""
