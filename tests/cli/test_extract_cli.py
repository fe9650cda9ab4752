"""``steph extract`` end to end: generated 20x/40x slides, a tiny timm ViT, real HDF5 output."""

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from steph_cli.workspace.features import SlideFeatures, read_features, write_features
from tests.conftest import FAST, Cli, run_steph
from tests.helpers import slides as S

SERIAL = ["--workers", "0"]


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> dict[str, Path]:
    """A slide folder (20x, 40x, blank glass, one corrupt file) and the encoder weights."""
    root = tmp_path_factory.mktemp("kit")
    slides = root / "slides"
    slides.mkdir()
    S.write_20x(slides / "s20.tiff")
    S.write_40x(slides / "s40.tiff")
    S.write_pyramid(slides / "blank.tiff", S.drawing(rects=()), S.MPP_20X)
    (slides / "corrupt.svs").write_bytes(b"not a slide at all" * 64)
    return {"slides": slides, "weights": S.tiny_encoder_weights(root / "tiny.safetensors")}


def extract(cli: Cli, kit, *args: str, code: int = 0, slides: Path | None = None):
    return cli(
        "extract",
        "--cancer",
        "LUAD",
        "--slides",
        str(slides or kit["slides"]),
        *S.tiny_encoder_args(kit["weights"]),
        *SERIAL,
        *args,
        code=code,
    )


def coords_of(path: Path) -> set[tuple[int, int]]:
    return {tuple(c) for c in read_features(path).coords.tolist()}


def test_extract_writes_clam_trident_files_and_reports_failures(cli, workspace, kit, tmp_path):
    result = extract(cli, kit, "--preview", str(tmp_path / "preview"), code=1)
    features = workspace / "features" / "LUAD"
    # the corrupt slide is named, the others were written
    assert "corrupt" in result.stderr and "1 of 4 slide(s) failed" in result.stderr
    assert sorted(p.name for p in features.glob("*.h5")) == ["blank.h5", "s20.h5", "s40.h5"]
    assert "blank: no tissue found" in result.stderr

    s20, s40 = read_features(features / "s20.h5"), read_features(features / "s40.h5")
    assert coords_of(features / "s20.h5") == S.expected_coords()
    assert coords_of(features / "s40.h5") == S.expected_coords(scale=2)
    assert s20.features.shape == s40.features.shape == (14, S.TINY_DIM)
    np.testing.assert_array_equal(s40.coords, 2 * s20.coords)
    np.testing.assert_allclose(s40.features, s20.features, atol=1e-6)
    assert read_features(features / "blank.h5").features.shape == (0, S.TINY_DIM)

    with h5py.File(features / "s40.h5") as fh:
        assert fh["features"].dtype == np.float32 and fh["coords"].dtype == np.int64
        for attrs in (fh.attrs, fh["coords"].attrs):  # CLAM reads the file's, TRIDENT coords'
            assert attrs["patch_size"] == 256 and attrs["patch_size_level0"] == 512
            assert attrs["level0_magnification"] == 40 and attrs["target_magnification"] == 20
            assert attrs["encoder"] == S.TINY_VIT and attrs["name"] == "s40"

    for sid, size in (("s20", (128, 96)), ("s40", (128, 96)), ("blank", (128, 96))):
        with Image.open(tmp_path / "preview" / f"{sid}.png") as png:
            assert png.size == size
    assert (workspace / "steph.toml").read_text().count("feature_dim = 16") == 1
    runs = list((workspace / "runs").glob("*-extract-LUAD"))
    assert len(runs) == 1 and (runs[0] / "manifest.json").is_file()


def test_rerun_skips_finished_slides_and_force_redoes_them(cli, workspace, kit, tmp_path):
    slides = tmp_path / "good"
    slides.mkdir()
    for name in ("s20.tiff", "blank.tiff"):
        shutil.copy(kit["slides"] / name, slides / name)
    extract(cli, kit, slides=slides)
    done = workspace / "features" / "LUAD" / "s20.h5"
    stamp = done.stat().st_mtime_ns
    again = cli.json(
        "extract",
        "--cancer",
        "LUAD",
        "--slides",
        str(slides),
        *S.tiny_encoder_args(kit["weights"]),
        *SERIAL,
    )
    assert [(s["slide_id"], s["status"], s["patches"]) for s in again["slides"]] == [
        ("blank", "skipped", 0),
        ("s20", "skipped", 14),
    ]
    assert done.stat().st_mtime_ns == stamp
    # other patching options are another extraction: refused before any slide, not skipped
    other = extract(cli, kit, "--min-tissue", "0.3", slides=slides, code=2)
    assert "features/LUAD/blank.h5 was made from other inputs or options" in other.stderr
    assert "patches.min_tissue 0.5 → 0.3; --force remakes it" in other.stderr
    assert done.stat().st_mtime_ns == stamp
    extract(cli, kit, "--force", slides=slides)
    assert done.stat().st_mtime_ns != stamp


def test_a_half_written_file_is_not_taken_for_a_finished_slide(cli, workspace, kit, tmp_path):
    slides = tmp_path / "one"
    slides.mkdir()
    shutil.copy(kit["slides"] / "s20.tiff", slides / "s20.tiff")
    target = workspace / "features" / "LUAD" / "s20.h5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\x89HDF\r\n")  # e.g. copied by hand and cut short
    extract(cli, kit, slides=slides)
    assert coords_of(target) == S.expected_coords()


def test_mpp_option_rescues_a_slide_without_metadata(cli, workspace, kit, tmp_path):
    slides = tmp_path / "nompp"
    slides.mkdir()
    S.write_pyramid(slides / "bare.tiff", S.drawing(), mpp=None)
    failed = extract(cli, kit, slides=slides, code=1)
    assert "no microns-per-pixel" in failed.stderr
    assert "give it: --mpp 0.25" in failed.stderr
    extract(cli, kit, "--mpp", "0.5", slides=slides)
    assert coords_of(workspace / "features" / "LUAD" / "bare.h5") == S.expected_coords()


def test_encoder_and_workspace_dimensions_must_agree(registered, kit, tmp_path):
    # the tiny cohorts are 8-d; the tiny ViT gives 16-d features
    result = extract(registered, kit, code=2)
    assert "16-d features but this workspace uses 8" in result.stderr
    assert not (registered.workspace / "features" / "LUAD").exists()


def test_slides_or_from_exactly_one(cli, kit):
    assert "either --slides" in cli("extract", "--cancer", "LUAD", code=2).stderr
    both = cli("extract", "--cancer", "LUAD", "--slides", "a", "--from", "b", code=2)
    assert "either --slides" in both.stderr
    bad = extract(cli, kit, "--tissue-threshold", "high", code=2)
    assert "otsu or a saturation value" in bad.stderr


def test_subprocess_with_reader_workers_and_tiffslide_gives_the_same_features(
    cli, workspace, kit, tmp_path
):
    slides = tmp_path / "pair"
    slides.mkdir()
    for name in ("s20.tiff", "s40.tiff"):
        shutil.copy(kit["slides"] / name, slides / name)
    extract(cli, kit, slides=slides)
    other = tmp_path / "ws2"
    run_steph(
        "--workspace",
        str(other),
        "extract",
        "--cancer",
        "LUAD",
        "--slides",
        str(slides),
        *S.tiny_encoder_args(kit["weights"]),
        "--workers",
        "1",
        "--batch-size",
        "4",
        "--backend",
        "tiffslide",
    )
    for sid in ("s20", "s40"):
        a = read_features(workspace / "features" / "LUAD" / f"{sid}.h5")
        b = read_features(other / "features" / "LUAD" / f"{sid}.h5")
        np.testing.assert_array_equal(a.coords, b.coords)
        np.testing.assert_allclose(a.features, b.features, atol=1e-6)


def test_extracted_features_feed_train_unchanged(cli, workspace, kit, tmp_path):
    """Eight patients with different amounts of tissue: extract, register, split, train."""
    slides = tmp_path / "cohort"
    slides.mkdir()
    rows = []
    for i in range(8):
        rects = ((256, 256, 256 * (1 + i % 4), 512), (1536, 512, 256, 256 * (2 + i % 2)))
        S.write_20x(slides / f"P{i}-DX1.tiff", S.drawing(rects=rects, seed=i), levels=2)
        rows.append(
            {"patient_id": f"P{i}", "slide_id": f"P{i}-DX1", "t": 200 + 150 * i, "e": i % 2}
        )
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["patient_id", "slide_id", "t", "e"])
        writer.writeheader()
        writer.writerows(rows)
    extract(cli, kit, slides=slides)
    for i in range(8):
        n = read_features(workspace / "features" / "LUAD" / f"P{i}-DX1.h5").features.shape[0]
        assert n == 2 * (1 + i % 4) + 2 + i % 2
    cli("cohort", "add", "LUAD", "--labels", str(labels))
    cli("cohort", "split", "LUAD", "--folds", "2")
    trained = cli.json("train", "--cancer", "LUAD", "--fold", "0", *FAST)
    assert trained[0]["final_loss"] > 0
    assert (workspace / "experts" / "LUAD" / "fold0.safetensors").is_file()


def clam_file(path: Path, n: int, dim: int, seed: int) -> Path:
    """A CLAM-style file: float16 features with a batch axis, no coords."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as fh:
        fh["features"] = rng.normal(size=(1, n, dim)).astype(np.float16)
    return path


def test_from_imports_nested_clam_and_trident_files(cli, workspace, tmp_path):
    src = tmp_path / "trident" / "20x_256px_0px_overlap" / "features_uni_v2"
    clam_file(src / "A-1.h5", 5, 12, 0)
    write_features(
        src / "nested" / "B-1.h5",
        SlideFeatures(np.ones((3, 12), np.float32), np.zeros((3, 2), np.int64), {"encoder": "x"}),
    )
    payload = cli.json("extract", "--cancer", "LUAD", "--from", str(tmp_path / "trident"))
    assert sorted((s["slide_id"], s["patches"], s["dim"]) for s in payload["imported"]) == [
        ("A-1", 5, 12),
        ("B-1", 3, 12),
    ]
    got = read_features(workspace / "features" / "LUAD" / "A-1.h5").features
    assert got.dtype == np.float32 and got.shape == (5, 12)

    again = cli.json("extract", "--cancer", "LUAD", "--from", str(tmp_path / "trident"))
    assert again == {"imported": [], "kept_existing": 2}
    forced = cli.json("extract", "--cancer", "LUAD", "--from", str(src), "--force")
    assert len(forced["imported"]) == 2


def test_from_refuses_mixed_dimensions_and_duplicate_slides(cli, workspace, tmp_path):
    clam_file(tmp_path / "mixed" / "A.h5", 4, 12, 0)
    clam_file(tmp_path / "mixed" / "B.h5", 4, 10, 1)
    mixed = cli("extract", "--cancer", "LUAD", "--from", str(tmp_path / "mixed"), code=2)
    assert "feature dimension 10 differs from 12" in mixed.stderr
    clam_file(tmp_path / "dup" / "x" / "A.h5", 4, 12, 0)
    clam_file(tmp_path / "dup" / "y" / "A.h5", 4, 12, 1)
    dup = cli("extract", "--cancer", "LUAD", "--from", str(tmp_path / "dup"), code=2)
    assert "are both slide A" in dup.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .h5" in cli("extract", "--cancer", "LUAD", "--from", str(empty), code=2).stderr
    assert not (workspace / "features" / "LUAD").exists()


def test_encoder_names_match_the_library() -> None:
    """--help lists the encoders without importing torch and timm: the list must not drift."""
    from steph_cli.cli import extract as extract_cli
    from steph_cli.slides import encoders

    assert extract_cli.ENCODER_NAMES == encoders.NAMES
