"""Studies: the file checked before any work, cells made once, the report's statistics."""

import json
from pathlib import Path

import numpy as np
import pytest

from steph_cli.api.study import _merges, load_study, subsample
from steph_cli.errors import BadInputError
from steph_cli.evaluation.summary import holm
from tests.conftest import Cli
from tests.helpers.widths import WIDE, split_words

STUDY = """
name = "t"
targets = ["AAA", "BBB"]
folds = [0, 1]
seeds = [0, 1]
methods = ["expert", "ada", "task-arithmetic"]
[training]
epochs = 1
accumulate = 4
[merging]
epochs = 1
accumulate = 4
[architecture]
embed_dim = 16
attn_dim = 8
[scarcity]
train_patients = [8, 1.0]
[grid.task-arithmetic]
gamma = [0.3, 0.6]
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("methods = [", 'methods = ["magic", '), "unknown merge method 'magic'"),
        (
            ("[grid.task-arithmetic]\ngamma", "[grid.task-arithmetic]\ntop_k"),
            "top_k: not a parameter of the task-arithmetic method",
        ),
        (
            ('name = "t"', 'name = "t"\nbaseline = "steph"'),
            "baseline steph is not one of its models",
        ),
        (('name = "t"', 'name = "t"\nmethod = "ada"'), "unknown key 'method'"),
        (("epochs = 1\naccumulate", "epochs = -1\naccumulate"), "epochs = -1"),
        (("[8, 1.0]", "[0, 8]"), r"\[scarcity\] train_patients = \[0, 8\]"),
        (("gamma = [0.3, 0.6]", "gamma = [0.3, nan]"), "gamma = nan"),
    ],
)
def test_study_files_are_checked_first(tmp_path: Path, change: tuple[str, str], says: str) -> None:
    with pytest.raises(BadInputError, match=says):
        load_study(_file(tmp_path, STUDY.replace(*change)))


# (what changes in STUDY, the section/key and value the one line must name, what it expects)
DEFECTS = [
    (("epochs = 1\naccumulate", 'epochs = "2"\naccumulate'), '[training] epochs = "2"', "whole"),
    (("epochs = 1\naccumulate", "epochs = 1.5\naccumulate"), "[training] epochs = 1.5", "whole"),
    (("epochs = 1\naccumulate", "epochs = true\naccumulate"), "[training] epochs = True", "whole"),
    (
        ("accumulate = 4\n[merging]", "accumulate = 0\n[merging]"),
        "[training] accumulate = 0",
        "> 0",
    ),
    (("[training]\n", '[training]\nlr = "1e-3"\n'), '[training] lr = "1e-3"', "number > 0"),
    (("[training]\n", "[training]\nlr = -1\n"), "[training] lr = -1", "number > 0"),
    (("[training]\n", "[training]\nwarmup_epochs = -1\n"), "warmup_epochs = -1", ">= 0"),
    (("[training]\n", '[training]\nselect = "first"\n'), '[training] select = "first"', "best"),
    (("[training]\n", "[training]\nval_fraction = 1.5\n"), "val_fraction = 1.5", "< 1"),
    (("[training]\n", "[training]\nmomentum = 0.9\n"), "[training] has no option 'momentum'", ""),
    (("[merging]\nepochs = 1", '[merging]\nepochs = "x"'), '[merging] epochs = "x"', "whole"),
    (("embed_dim = 16", "embed_dim = -3"), "[architecture] embed_dim = -3", "> 0"),
    (("attn_dim = 8", 'attn_dim = "8"'), '[architecture] attn_dim = "8"', "whole"),
    (("attn_dim = 8", "attn_dim = 8\ndropout = 2"), "[architecture] dropout = 2", "< 1"),
    (("attn_dim = 8", "attn_dim = 8\nwidth = 2"), "[architecture] has no option 'width'", ""),
    (("seeds = [0, 1]", "seeds = 0"), "seeds = 0 is int", "list of whole numbers"),
    (("seeds = [0, 1]", 'seeds = ["0"]'), "seeds = ['0']", "list of whole numbers"),
    (("seeds = [0, 1]", "seeds = [-1]"), "seeds = [-1]", ">= 0"),
    (("folds = [0, 1]", 'folds = "0,1"'), 'folds = "0,1"', "list of fold numbers"),
    (("folds = [0, 1]", "folds = 2"), "folds = 2 is int", "list of fold numbers"),
    (('targets = ["AAA", "BBB"]', 'targets = "AAA"'), 'targets = "AAA"', '"all" or a list'),
    (('methods = ["expert"', 'methods = "expert"\nx = ["expert"'), 'methods = "expert"', "list of"),
    (('name = "t"', "name = 3"), "name = 3 is int", "a string"),
    (('name = "t"', 'name = "t"\nsource_fold = "0"'), 'source_fold = "0"', ">= 0"),
    (('name = "t"', 'name = "t"\ncontrols = "permuted"'), 'controls = "permuted"', "list of"),
    (
        ("train_patients = [8, 1.0]", 'train_patients = "8"'),
        '[scarcity] train_patients = "8"',
        "counts",
    ),
    (('name = "t"', 'name = "t"\nfamilies = 3'), "families = 3 is int", "[families] table"),
    (("gamma = [0.3, 0.6]", "gamma = 0.3"), "[grid] task-arithmetic", "parameter = [values"),
    (
        ("[scarcity]", '[families]\nsquamous = "AAA"\n[scarcity]'),
        '[families] squamous = "AAA"',
        "list of cohort",
    ),
    (
        ("[scarcity]", "[variants]\nada = {top_k = 1}\n[scarcity]"),
        "[variants] ada = {'top_k': 1}",
        "list of tables",
    ),
]


@pytest.mark.parametrize(("change", "names", "expects"), DEFECTS)
def test_each_study_defect_is_one_line_naming_where_and_what(
    tmp_path: Path, change: tuple[str, str], names: str, expects: str
) -> None:
    assert change[0] in STUDY
    path = _file(tmp_path, STUDY.replace(*change, 1))
    with pytest.raises(BadInputError) as err:
        load_study(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"study file {path}: ")
    assert names in message and expects in message


def test_study_defects_exit_2_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    path = _file(tmp_path, STUDY.replace("epochs = 1\naccumulate", 'epochs = "2"\naccumulate', 1))
    result = cli("study", "run", str(path), code=2)
    assert '[training] epochs = "2" is str; expected a whole number > 0' in result.stderr
    assert "a bug in steph" not in result.stderr


def test_grid_points_are_models(tmp_path: Path) -> None:
    study = load_study(_file(tmp_path, STUDY))
    assert [m.label for m in study.models] == [
        "expert",
        "ada",
        "task-arithmetic-gamma-0p3",
        "task-arithmetic-gamma-0p6",
    ]
    assert study.models[3].params == {"gamma": 0.6}
    assert study.sizes == [1.0, 8.0] and study.merging.lr == 1e-3 and study.training.lr == 1e-4


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 over 3 tests: 0.03, max(0.03, 0.06), max(0.06, 0.04)
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_subsample_keeps_the_event_rate() -> None:
    train = tuple(f"P{i}" for i in range(20))
    events = {p: int(i < 8) for i, p in enumerate(train)}  # 8 events, 12 censored
    kept = subsample(train, events, 10, seed=1, fold=0)
    assert len(kept) == 10 and sum(events[p] for p in kept) == 4
    assert kept == [p for p in train if p in set(kept)]  # original order
    assert subsample(train, events, 0.5, seed=1, fold=0) == kept
    assert subsample(train, events, 10, seed=2, fold=0) != kept
    assert subsample(train, events, 99, seed=1, fold=0) == list(train)


def test_a_study_runs_resumes_and_reports(trained: Cli, tmp_path: Path) -> None:
    path = _file(tmp_path, STUDY)
    cells = trained.json("study", "run", str(path))["cells"]
    home = trained.workspace / "studies" / "t"
    assert [Path(c["cell"]).name for c in cells] == [
        "s0",
        "s0-n8-AAA",
        "s0-n8-BBB",
        "s1",
        "s1-n8-AAA",
        "s1-n8-BBB",
    ]
    # the scarce cell's target keeps 8 training patients, its sources the full cell's experts
    scarce = home / "s0-n8-AAA"
    split = (scarce / "cohorts" / "AAA" / "splits" / "fold0.csv").read_text().splitlines()
    assert sum(line.endswith(",train") for line in split) == 8
    full = home / "s0" / "experts" / "CCC" / "fold0.safetensors"
    assert (scarce / "experts" / "CCC" / "fold0.safetensors").read_bytes() == full.read_bytes()

    # one bag cache per cohort for the whole study, not one per cell
    shared = {(home / c["cell"] / "cache" / "BBB").resolve() for c in cells}
    assert shared == {(home / "cache" / "BBB").resolve()}
    assert len([d for d in (home / "cache" / "BBB").iterdir() if d.is_dir()]) == 1

    def made() -> list[str]:  # training runs (each report records an evaluation run)
        return sorted(p.name for p in (scarce / "runs").iterdir() if "-evaluate-" not in p.name)

    runs = made()
    trained.json("study", "run", str(path))  # everything made: nothing trains again
    assert made() == runs
    report = trained.json("study", "report", str(path))
    rows = report["rows"]
    assert len(rows) == 4 * 2 * 2 * 2 * 2  # models × targets × folds × seeds × sizes
    assert {r["train_patients"] for r in rows if r["size"] == 8} == {8}
    paired = {(p["model"], p["size"]): p for p in report["paired"]}
    ada = paired[("ada", 8.0)]
    assert ada["pairs"] == 8 and ada["wins"] + ada["ties"] + ada["losses"] == 8
    values = {
        (r["target"], r["model"], r["seed"], r["fold"]): r["harrell_c"]
        for r in rows
        if r["size"] == 8
    }
    diffs = [
        values[(t, "ada", s, f)] - values[(t, "expert", s, f)]
        for t, m, s, f in values
        if m == "ada"
    ]
    assert ada["mean_difference"] == pytest.approx(np.mean(diffs))
    assert (home / "scarcity.png").is_file() and (home / "scarcity.svg").is_file()
    assert json.loads((home / "report.json").read_text())["paired"] == report["paired"]
    table = (home / "rows.csv").read_text().splitlines()
    assert len(table) == len(rows) + 1
    assert table[0].endswith("harrell_c,skipped,uno_c,td_auc,ibs")
    assert {r["ibs"] is not None for r in rows if not r["skipped"]} == {True}


@pytest.mark.parametrize("name", ["demo-study.toml", "demo-select.toml"])
def test_the_shipped_study_files_load(name: str) -> None:
    study = load_study(Path(__file__).resolve().parents[2] / "docs" / name)
    assert study.targets == ["BLCA", "LUSC", "LUAD", "KIRC"]
    assert study.arch.embed_dim == 256 and study.training.epochs == 20


@pytest.mark.parametrize(
    "name",
    [
        "transfer-study.toml",
        "transfer-scarcity.toml",
        "transfer-baselines.toml",
        "transfer-ablations.toml",
        "transfer-source-epochs.toml",
    ],
)
def test_the_transfer_study_files_load(name: str) -> None:
    study = load_study(Path(__file__).resolve().parents[2] / "docs" / name)
    assert study.family_of("LUSC") == ["BLCA", "HNSC"] and study.family_of("KIRC") == []
    assert study.training.lr == 1e-2 and study.merging.lr == 1e-3
    assert study.training.epochs == (5 if "epochs" in name else 20)


def test_controls_are_an_axis_of_a_study(trained: Cli, tmp_path: Path) -> None:
    study = """
name = "c"
targets = ["AAA"]
folds = [0, 1]
methods = ["expert", "ada"]
controls = ["none", "budget"]
[training]
epochs = 1
accumulate = 4
[merging]
epochs = 1
accumulate = 4
[architecture]
embed_dim = 16
attn_dim = 8
"""
    path = _file(tmp_path, study)
    trained.json("study", "run", str(path))
    report = trained.json("study", "report", str(path))
    assert {r["model"] for r in report["rows"]} == {
        "expert",
        "ada",
        "ada-control-none",
        "ada-control-budget",
    }
    effect = {(p["model"], p["baseline"]): p for p in report["transfer"]}
    assert set(effect) == {("ada", "ada-control-none"), ("ada", "ada-control-budget")}
    assert all(p["pairs"] == 2 for p in effect.values())
    home = trained.workspace / "studies" / "c"
    assert (home / "report.json").is_file() and not (home / "scarcity.png").exists()  # one size
    wide = trained("study", "report", str(path), env={"COLUMNS": str(WIDE)}).stdout
    for columns in (60, 80, 120):
        text = trained("study", "report", str(path), env={"COLUMNS": str(columns)}).stdout
        assert split_words(text, wide, columns) == [], text
    bad = _file(tmp_path, study.replace('"none"', '"nothing"'))
    refused = trained("study", "run", str(bad), code=2)
    assert "control 'nothing'" in refused.stderr


TRANSFER = """
name = "tr"
targets = ["BLCA", "BRCA"]
folds = "all"
methods = ["expert", "oracle", "family-pooled", "ada"]
controls = ["permuted", "budget"]
[variants]
ada = [{lr = 0.01}]
[families]
squamous = ["BLCA", "HNSC", "LUSC"]
glandular = ["BRCA"]
[training]
epochs = 1
accumulate = 4
[merging]
epochs = 1
accumulate = 4
[architecture]
embed_dim = 16
attn_dim = 8
[scarcity]
train_patients = [6]
"""


def test_references_and_shared_controls(cli: Cli, tmp_path: Path) -> None:
    """The oracle scores the true risk, family-pooled trains on the target's family alone,
    and a scarce cell borrows the sources' permuted-label experts instead of retraining."""
    from lifelines.utils import concordance_index

    from steph_cli.models import io
    from steph_cli.workspace import splits
    from steph_cli.workspace.cohorts import load_labels
    from steph_cli.workspace.paths import Workspace

    cli("demo", "--patients", "18", "--cancers", "4", "--feature-dim", "8", "--folds", "2",
        "--data-only")  # fmt: skip
    path = _file(tmp_path, TRANSFER)
    cli.json("study", "run", str(path))
    report = cli.json("study", "report", str(path))
    rows = report["rows"]
    home = cli.workspace / "studies" / "tr"

    # the oracle: lifelines' concordance of the true risk (it expects a survival-like score)
    risk = dict(
        line.split(",") for line in (cli.workspace / "demo-data" / "BLCA" / "true_risk.csv")
        .read_text().splitlines()[1:]
    )  # fmt: skip
    ws = Workspace(home / "s0-n6-BLCA")
    labels = load_labels(ws, "BLCA")
    test = labels.subset(splits.read_fold(ws.split_file("BLCA", 1), 1, labels).test)
    expected = concordance_index(test.times, [-float(risk[p]) for p in test.patients], test.events)
    (oracle,) = [
        r
        for r in rows
        if (r["model"], r["target"], r["size"], r["fold"]) == ("oracle", "BLCA", 6, 1)
    ]
    assert oracle["harrell_c"] == pytest.approx(expected)

    # family-pooled: BLCA's family only; BRCA is alone in its family, so it has none
    scarce = home / "s0-n6-BLCA" / "merged" / "BLCA" / "family-pooled" / "fold0.safetensors"
    pooled = io.read(scarce)
    assert "HNSC" in pooled.meta["sources"] and "LUSC" in pooled.meta["sources"]
    assert "BRCA" not in pooled.meta["sources"]
    assert not (home / "s0-n6-BRCA" / "merged" / "BRCA" / "family-pooled").exists()
    # no full size asked for: the full cell trains the sources and their controls, no merge
    assert not (home / "s0" / "merged").exists()
    assert {r["model"] for r in rows if r["target"] == "BRCA" and r["harrell_c"] is not None} == {
        "expert", "oracle", "ada", "ada-control-permuted", "ada-control-budget", "ada-lr-0p01",
        "ada-lr-0p01-control-permuted", "ada-lr-0p01-control-budget",
    }  # fmt: skip

    # permuted-label experts: made once in the full cell, the same bytes in every scarce cell
    full = home / "s0" / "controls" / "permuted" / "HNSC" / "fold0.safetensors"
    for cell in ("s0-n6-BLCA", "s0-n6-BRCA"):
        copy = home / cell / "controls" / "permuted" / "HNSC" / "fold0.safetensors"
        assert copy.read_bytes() == full.read_bytes()
        assert not [p for p in (home / cell / "runs").iterdir() if "control-permuted" in p.name
                    and "-train-" in p.name]  # fmt: skip
    effect = {(p["model"], p["baseline"], p["group"]) for p in report["transfer"]}
    assert ("ada", "ada-control-permuted", "family") in effect
    assert ("ada", "ada-control-permuted", "alone") in effect
    # a variant changes its merge's learning rate alone, and has its own control
    assert ("ada-lr-0p01", "ada-lr-0p01-control-permuted", "family") in effect
    variant = home / "s0-n6-BLCA" / "merged" / "BLCA" / "ada-lr-0p01" / "fold0.safetensors"
    assert io.read(variant).json("training_config")["lr"] == 0.01
    assert io.read(scarce.parent.parent / "ada" / "fold0.safetensors").json("training_config")[
        "lr"
    ] == pytest.approx(1e-3)
    # each labelled model's matched budget is read from its own merges
    budget = scarce.parent.parent / "ada-lr-0p01-control-budget" / "fold0.safetensors"
    assert io.read(budget).json("training_config")["lr"] == 0.01
    assert (scarce.parent.parent / "family-pooled-control-budget" / "fold0.safetensors").is_file()


def test_variants_change_one_thing_each(tmp_path: Path) -> None:
    text = STUDY.replace(
        'methods = ["expert", "ada", "task-arithmetic"]', 'methods = ["expert", "ada"]'
    )
    text = text.split("[grid.task-arithmetic]")[0]
    study = load_study(
        _file(tmp_path, text + '[variants]\nada = [{head_init = "fresh"}, {epochs = 3}]\n')
    )
    assert [(m.label, m.params, m.training) for m in study.models[1:]] == [
        ("ada", {}, {}),
        ("ada-head_init-fresh", {"head_init": "fresh"}, {}),
        ("ada-epochs-3", {}, {"epochs": 3}),
    ]
    with pytest.raises(BadInputError, match="top_k: not a parameter of the ada method"):
        load_study(_file(tmp_path, text + "[variants]\nada = [{top_k = 2}]\n"))
    with pytest.raises(BadInputError, match="grid or variants for steph"):
        load_study(_file(tmp_path, text + "[variants]\nsteph = [{top_k = 2}]\n"))


def test_family_pooled_needs_families(tmp_path: Path) -> None:
    text = TRANSFER.split("[families]")[0] + "[training]" + TRANSFER.split("[training]")[1]
    with pytest.raises(BadInputError, match=r"family-pooled needs a \[families\] table"):
        load_study(_file(tmp_path, text))


def test_a_cells_merges_are_one_graph_and_budgets_follow(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "transfer-study.toml").read_text()
    text = text.replace('controls = ["permuted"]', 'controls = ["permuted", "budget"]')
    study = load_study(_file(tmp_path, text))
    pool = ["BLCA", "BRCA", "HNSC", "KIRC", "LUAD", "LUSC", "UCEC"]
    specs, budgets = _merges(study, ["LUSC", "KIRC"], pool, study.merging)
    made = {(s.target, s.label or s.method, s.control, s.sources) for s in specs}
    kinds = (None, "permuted")
    others = {t: ",".join(c for c in pool if c != t) for t in ("LUSC", "KIRC")}
    assert made == {
        ("LUSC", "family-pooled", None, "BLCA,HNSC"),  # the family's; KIRC is alone in its own
        *((t, m, c, others[t]) for t in others for m in ("steph", "soup") for c in kinds),
    }
    assert all(s.training == study.merging for s in specs)
    # matched budgets read the merges they match, so they run after the graph
    assert budgets == [
        ("LUSC", "pooled", "family-pooled"),
        *((t, m, m) for m in ("steph", "soup") for t in ("LUSC", "KIRC")),
    ]
