"""Feature HDF5 files: our layout round-trips; CLAM and TRIDENT files load as they are."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from steph_cli.errors import StephError
from steph_cli.workspace.features import SlideFeatures, read_features, write_features
from tests.conftest import Cli


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(7, 5)).astype(np.float32)
    coords = rng.integers(0, 10_000, size=(7, 2))
    attrs = {"patch_size": 256, "encoder": "uni2-h", "target_magnification": 20}
    write_features(tmp_path / "s.h5", SlideFeatures(feats, coords, attrs))
    back = read_features(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.features, feats)
    np.testing.assert_array_equal(back.coords, coords)
    assert back.attrs == attrs
    with h5py.File(tmp_path / "s.h5") as fh:  # TRIDENT reads attributes off coords
        assert fh["coords"].attrs["encoder"] == "uni2-h"
    assert not list(tmp_path.glob(".*tmp")) and not list(tmp_path.glob("*.lock"))


def _clam_file(path: Path, feats: np.ndarray) -> None:
    with h5py.File(path, "w") as fh:  # CLAM: float32 features, coords, no attributes
        fh["features"] = feats
        fh["coords"] = np.arange(2 * len(feats)).reshape(-1, 2)


def _trident_file(path: Path, feats: np.ndarray) -> None:
    with h5py.File(path, "w") as fh:  # TRIDENT: float16 allowed, attrs on coords, extras
        fh["features"] = feats.astype(np.float16)
        ds = fh.create_dataset("coords", data=np.zeros((len(feats), 2), dtype=np.int32))
        ds.attrs["patch_size"] = 512
        ds.attrs["level0_magnification"] = 40
        ds.attrs["name"] = b"slide"
        ds.attrs["custom"] = "kept"


def test_reads_clam_and_trident(tmp_path: Path) -> None:
    feats = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    _clam_file(tmp_path / "clam.h5", feats)
    _trident_file(tmp_path / "trident.h5", feats)
    clam, trident = read_features(tmp_path / "clam.h5"), read_features(tmp_path / "trident.h5")
    np.testing.assert_array_equal(clam.features, feats)
    assert trident.features.dtype == np.float32
    np.testing.assert_allclose(trident.features, feats, atol=1e-3)
    assert trident.attrs["patch_size"] == 512 and trident.attrs["name"] == "slide"
    assert trident.attrs["custom"] == "kept"


def test_batch_axis_and_missing_coords(tmp_path: Path) -> None:
    feats = np.ones((1, 3, 2), dtype=np.float32)
    with h5py.File(tmp_path / "b.h5", "w") as fh:
        fh["features"] = feats
    slide = read_features(tmp_path / "b.h5")
    assert slide.features.shape == (3, 2) and slide.coords is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda fh: fh.create_dataset("feats", data=np.ones((2, 2))), "no 'features' dataset"),
        (lambda fh: fh.create_dataset("features", data=np.ones(3)), "expected [patches, dim]"),
        (lambda fh: fh.create_dataset("features", data=np.full((2, 2), np.nan)), "NaN or inf"),
    ],
)
def test_bad_files(tmp_path: Path, make, message: str) -> None:
    with h5py.File(tmp_path / "x.h5", "w") as fh:
        make(fh)
    with pytest.raises(StephError, match=message.replace("[", r"\[")):
        read_features(tmp_path / "x.h5")


def test_truncated_file(tmp_path: Path) -> None:
    (tmp_path / "t.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(StephError, match="not a readable HDF5 file"):
        read_features(tmp_path / "t.h5")


def _cohort_dir(tmp_path: Path, writer, dims: dict[str, int]) -> tuple[Path, Path]:
    feats_dir = tmp_path / "feats"
    feats_dir.mkdir()
    rows = ["patient_id,slide_id,t,e"]
    for i, (slide, d) in enumerate(dims.items()):
        writer(feats_dir / f"{slide}.h5", np.full((3 + i, d), i, dtype=np.float32))
        rows.append(f"P{i},{slide},{100 * (i + 1)},{i % 2}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return labels, feats_dir


@pytest.mark.parametrize("writer", [_clam_file, _trident_file])
def test_import_copies_clam_and_trident(cli: Cli, tmp_path: Path, writer) -> None:
    labels, feats = _cohort_dir(tmp_path, writer, {"s0": 6, "s1": 6})
    info = cli.json("cohort", "add", "C", "--labels", str(labels), "--features", str(feats))
    assert info["slides_with_features"] == 2 and info["feature_dim"] == 6
    copied = cli.workspace / "features" / "C" / "s1.h5"
    assert copied.is_file() and not copied.is_symlink()
    assert read_features(copied).features.shape == (4, 6)


def test_import_links(cli: Cli, tmp_path: Path) -> None:
    labels, feats = _cohort_dir(tmp_path, _clam_file, {"s0": 6})
    cli("cohort", "add", "C", "--labels", str(labels), "--features", str(feats), "--link")
    linked = cli.workspace / "features" / "C" / "s0.h5"
    assert linked.is_symlink() and linked.resolve() == (feats / "s0.h5").resolve()


def test_import_refuses_mixed_dims(cli: Cli, tmp_path: Path) -> None:
    labels, feats = _cohort_dir(tmp_path, _clam_file, {"s0": 6, "s1": 7})
    result = cli("cohort", "add", "C", "--labels", str(labels), "--features", str(feats), code=2)
    assert "s1.h5: feature dimension 7 differs from 6" in result.stderr
    assert not (cli.workspace / "features" / "C").exists()


def test_import_refuses_dim_of_other_cohort(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    labels, feats = _cohort_dir(tmp_path / "a", _clam_file, {"s0": 6})
    cli("cohort", "add", "C", "--labels", str(labels), "--features", str(feats))
    labels2, feats2 = _cohort_dir(tmp_path / "b", _clam_file, {"t0": 9})
    result = cli("cohort", "add", "D", "--labels", str(labels2), "--features", str(feats2), code=2)
    assert "features have dimension 9 but this workspace uses 6" in result.stderr


def test_import_reports_file_without_features(cli: Cli, tmp_path: Path) -> None:
    labels, feats = _cohort_dir(tmp_path, _clam_file, {"s0": 6})
    with h5py.File(feats / "s0.h5", "w") as fh:
        fh["embeddings"] = np.ones((2, 2))
    result = cli("cohort", "add", "C", "--labels", str(labels), "--features", str(feats), code=2)
    assert "s0.h5: no 'features' dataset (found: embeddings)" in result.stderr
