"""The README's "Using it on your data" block, run as it is written, against a tiny data set
laid out as the block assumes: TRIDENT features, CLAM labels and splits, a TCGA-CDR table."""

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
STUDY = """name = "readme"
targets = ["LUSC"]
sources = ["LUAD"]
folds = [0]
seeds = [0]
methods = ["expert", "steph"]

[architecture]
embed_dim = 16
attn_dim = 8

[training]
epochs = 2

[merging]
epochs = 2
"""


def readme_block() -> str:
    """The first ``sh`` block after the "Using it on your data" heading."""
    text = README.read_text()
    section = text[text.index("## Using it on your data") :]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "the README's data section has no sh block"
    return found.group(1)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def lay_out(data: Path, folder: Path) -> None:
    """The user's files: AAA as LUSC (TRIDENT features, CLAM labels in months, CLAM splits),
    BBB as LUAD (a TCGA-CDR table of several cancers, a flat feature folder), CCC's features
    as new slides."""
    nested = folder / "lusc_trident" / "20x_256px_0px_overlap" / "features_uni_v2"
    shutil.copytree(data / "AAA" / "features", nested)
    lusc = _rows(data / "AAA" / "labels.csv")
    with (folder / "lusc_clam.csv").open("w") as fh:
        fh.write("case_id,slide_id,survival_months,censorship\n")
        for r in lusc:
            months = float(r["t"]) / (365.25 / 12)
            fh.write(f"{r['patient_id']},{r['slide_id']},{months!r},{1 - int(r['e'])}\n")
    patients = list(dict.fromkeys(r["patient_id"] for r in lusc))
    splits = folder / "lusc_splits"
    splits.mkdir()
    for k in range(3):
        test = [p for i, p in enumerate(patients) if i % 3 == k]
        train = [p for p in patients if p not in test]
        lines = ["train,val,test"] + [
            ",".join(cols)
            for cols in zip(train, [""] * len(train), [*test, *[""] * len(train)], strict=False)
        ]
        (splits / f"splits_{k}.csv").write_text("\n".join(lines) + "\n")
    luad = {r["patient_id"]: r for r in _rows(data / "BBB" / "labels.csv")}
    header = "bcr_patient_barcode\ttype\tOS\tOS.time\tDSS\tDSS.time\tPFI\tPFI.time\n"
    body = "".join(
        f"{p}\tLUAD\t{r['e']}\t{r['t']}\t#N/A\t#N/A\t{r['e']}\t{r['t']}\n" for p, r in luad.items()
    )
    other = "TCGA-XX-0001\tKIRC\t1\t700\t1\t700\t1\t300\n"
    (folder / "TCGA-CDR.tsv").write_text(header + body + other)
    shutil.copytree(data / "BBB" / "features", folder / "luad_feats")
    new = folder / "new_slides"
    new.mkdir()
    for path in sorted((data / "CCC" / "features").glob("*.h5"))[:3]:
        shutil.copy(path, new / path.name)
    (folder / "study.toml").write_text(STUDY)


def test_readme_block_runs_as_written(tiny_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    lay_out(tiny_data, folder)
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "80",
    }
    env.pop("STEPH_WORKSPACE", None)
    script = "set -euo pipefail\nset -x\n" + readme_block()
    done = subprocess.run(
        ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]
    ws = home / "steph-ws"
    assert sorted(p.name for p in (ws / "experts" / "LUSC").glob("fold*.safetensors")) == [
        f"fold{k}.safetensors" for k in range(3)
    ]
    assert (ws / "merged" / "LUSC" / "steph" / "fold0.safetensors").is_file()
    oof = _rows(folder / "oof.csv")
    assert {r["cohort"] for r in oof} == {"LUSC", "LUAD"}
    assert len(_rows(folder / "luad.csv")) >= 1 and (folder / "cos.png").stat().st_size > 0
    luad = _rows(ws / "cohorts" / "LUAD" / "labels.csv")
    assert "TCGA-XX-0001" not in {r["patient_id"] for r in luad}  # another cancer's row
    assert (ws / "studies" / "readme").is_dir()
