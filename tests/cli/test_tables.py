"""Every table every command prints keeps its identifiers, numbers and headers whole at
60, 80 and 120 columns (see tests/helpers/widths.py for what "whole" is checked as)."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FAST, Cli
from tests.helpers.widths import WIDE, split_words

WIDTHS = (60, 80, 120)
TRAINING = ["--epochs", "1", "--accumulate", "4"]
MERGED = "merged/AAA/steph/fold0.safetensors"


@pytest.fixture(scope="module")
def shown(trained_template: Path, tmp_path_factory) -> Path:
    """Experts, a STEPH merge with its permuted control (long model names), a static merge
    and an evaluation: the workspace whose tables the read-only commands print."""
    root = tmp_path_factory.mktemp("tables") / "ws"
    shutil.copytree(trained_template, root, symlinks=True)
    cli = Cli(root)
    steph = ["merge", "--target", "all", "--method", "steph", *TRAINING]
    cli(*steph)
    cli(*steph, "--control", "permuted")
    cli("merge", "--target", "AAA", "--method", "task-arithmetic")
    cli("evaluate", "--target", "all")
    return root


@pytest.fixture(scope="module")
def damaged(shown: Path, tmp_path_factory) -> Path:
    """The same workspace with a stale cohort, a lost vector, a copied-in and a corrupt model:
    what status's stale table and verify's problem table list."""
    root = tmp_path_factory.mktemp("damaged") / "ws"
    shutil.copytree(shown, root, symlinks=True)
    labels = root / "cohorts" / "BBB" / "labels.csv"
    lines = labels.read_text().splitlines()
    p, s, t, e = lines[1].split(",")
    lines[1] = f"{p},{s},{float(t) + 1!r},{e}"
    labels.write_text("\n".join(lines) + "\n")
    (root / "vectors" / "CCC" / "fold1.safetensors").unlink()
    merged = root / "merged" / "AAA" / "steph-control-permuted"
    shutil.copy(merged / "fold0.safetensors", merged / "fold7.safetensors")
    (root / "experts" / "CCC" / "fold2.safetensors").write_bytes(b"not a model")
    flipped = bytearray((root / MERGED).read_bytes())
    flipped[-1] ^= 1
    (root / MERGED).write_bytes(bytes(flipped))
    return root


def _check(run: Callable[[int], tuple[str, str]]) -> None:
    wide_out, wide_err = run(WIDE)
    for columns in WIDTHS:
        out, err = run(columns)
        broken = split_words(out, wide_out, columns) + split_words(err, wide_err, columns)
        assert not broken, f"at {columns} columns:\n{out}\n{err}\nnot whole: {broken}"


def _runner(root: Path, args: tuple[str, ...], code: int) -> Callable[[int], tuple[str, str]]:
    def run(columns: int) -> tuple[str, str]:
        result = Cli(root)(*args, code=code, env={"COLUMNS": str(columns)})
        return result.stdout, result.stderr

    return run


READS = [
    ("status",),
    ("cohort", "list"),
    ("cohort", "show", "AAA"),
    ("runs", "list"),
    ("runs", "show", "last"),
    ("evaluate", "--target", "all"),
    ("evaluate", "--target", "AAA", "--baseline", "steph-control-permuted"),
    ("predict", "--model", "merged/AAA/steph/fold0.safetensors", "--cohort", "AAA"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reading_commands(shown: Path, args: tuple[str, ...]) -> None:
    args = tuple(str(shown / a) if a.endswith(".safetensors") else a for a in args)
    _check(_runner(shown, args, 0))


DAMAGE = {("status",): 0, ("verify",): 1, ("reproduce", MERGED): 1}


@pytest.mark.parametrize("args", DAMAGE, ids=" ".join)
def test_commands_reporting_damage(damaged: Path, args: tuple[str, ...]) -> None:
    """``reproduce`` of the merge whose output lost a byte prints what differs."""
    runs = Cli(damaged).json("runs", "list")
    made = {r["id"] for r in runs if MERGED in r["outputs_sha256"]}
    shown = tuple(made.pop() if a == MERGED else a for a in args)
    _check(_runner(damaged, shown, DAMAGE[args]))


def _fresh(shown: Path, tmp_path: Path, args: list[str]) -> Callable[[int], tuple[str, str]]:
    """Each width on its own copy of the workspace: the command writes."""

    def run(columns: int) -> tuple[str, str]:
        root = tmp_path / f"ws{columns}"
        shutil.copytree(shown, root, symlinks=True)
        return _runner(root, tuple(args), 0)(columns)

    return run


WRITES = {
    "cohort add": lambda data: [
        "cohort",
        "add",
        "DDD-with-a-longer-name",
        "--labels",
        str(data / "AAA" / "labels.csv"),
        "--features",
        str(data / "AAA" / "features"),
    ],
    "extract --from": lambda data: [
        "extract",
        "--cancer",
        "AAA",
        "--from",
        str(data / "AAA" / "features"),
        "--force",
    ],
    "train": lambda data: ["train", "--cancer", "AAA", "--folds", "0,1", "--force", *FAST],
    "train --jobs 2": lambda data: [
        "train",
        "--cancer",
        "BBB",
        "--folds",
        "0,1",
        "--force",
        "--jobs",
        "2",
        *FAST,
    ],
    "vector": lambda data: ["vector", "--cancer", "all", "--force"],
    "merge": lambda data: [
        "merge",
        "--target",
        "BBB",
        "--method",
        "steph",
        "--control",
        "permuted",
        "--folds",
        "0",
        "--force",
        *TRAINING,
    ],
}


@pytest.mark.parametrize("name", WRITES)
def test_writing_commands(shown: Path, tiny_data: Path, tmp_path: Path, name: str) -> None:
    _check(_fresh(shown, tmp_path, WRITES[name](tiny_data)))


def test_the_check_sees_what_rich_folding_does() -> None:
    """The check fails on a plain rich table squeezed into 40 columns (ids folded between
    characters, or cut with "…") and passes on the same rows through ``table``."""
    import io

    from rich.console import Console
    from rich.table import Table

    from steph_cli.cli.tables import table

    rows = [
        ["20261203-101752-merge-AAA-steph-control-permuted-fold0", "merge", "0.7134"],
        ["20261203-101751-train-BBB-fold2", "train", "12.5"],
    ]

    def shown(renderable: object, width: int) -> str:  # as the CLI's consoles print tables
        console = Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=True)
        console.print(renderable)
        return console.file.getvalue()  # type: ignore[attr-defined]

    for overflow in ("fold", "ellipsis"):
        plain = Table()
        for name in ("run", "step", "s"):
            plain.add_column(name, overflow=overflow)  # type: ignore[arg-type]
        for row in rows:
            plain.add_row(*row)
        assert split_words(shown(plain, 40), shown(plain, WIDE), 40) != [], overflow
    fitted = table(None, ["run", "step", "s"], rows)
    assert split_words(shown(fitted, 40), shown(fitted, WIDE), 40) == []
