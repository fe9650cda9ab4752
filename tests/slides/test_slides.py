"""Slide reading, tissue segmentation, patching and encoders on generated pyramidal TIFFs."""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from steph_cli.errors import StephError
from steph_cli.slides import encoders
from steph_cli.slides.patching import PatchOptions, Tiles, box_means, plan
from steph_cli.slides.reader import Slide
from steph_cli.slides.tissue import TissueOptions, segment, segment_slide
from tests.helpers import slides as S


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scans")
    return {
        "20x": S.write_20x(d / "s20.tiff"),
        "40x": S.write_40x(d / "s40.tiff"),
        "no-mpp": S.write_pyramid(d / "nompp.tiff", S.drawing(), mpp=None),
    }


def drawn_mask(mpp: float) -> np.ndarray:
    """The drawn rectangles rasterised at ``mpp`` µm per pixel (exact: edges fall on pixels)."""
    f = S.MPP_20X / mpp
    mask = np.zeros((round(S.SIZE_20X[1] * f), round(S.SIZE_20X[0] * f)), dtype=bool)
    for x, y, w, h in S.RECTS:
        mask[round(y * f) : round((y + h) * f), round(x * f) : round((x + w) * f)] = True
    return mask


@pytest.mark.parametrize("backend", ["openslide", "tiffslide"])
def test_both_readers_see_the_same_pyramid(scans, backend):
    with Slide(scans["40x"], backend=backend) as slide:
        assert slide.backend == backend
        assert slide.mpp == pytest.approx(0.25)
        assert slide.magnification == pytest.approx(40.0)
        assert slide.level_downsamples == pytest.approx([1, 2, 4, 8])
        # level 1 of the 40x scan is the 20x drawing, pixel for pixel
        region = slide.read(512 * 2, 512 * 2, 1, 64, 48)
    np.testing.assert_array_equal(region, S.drawing()[512 : 512 + 48, 512 : 512 + 64])


def test_best_level_is_the_coarsest_fine_enough(scans):
    with Slide(scans["40x"]) as slide:
        assert [slide.best_level(d) for d in (0.5, 1, 1.9, 2, 3.99, 4, 100)] == [
            0,
            0,
            0,
            1,
            1,
            2,
            3,
        ]


def test_mpp_comes_from_metadata_or_option(scans):
    with pytest.raises(StephError, match=r"no microns-per-pixel.*give it: mpp=0.25"):
        Slide(scans["no-mpp"])
    with Slide(scans["no-mpp"], mpp=0.5) as slide:
        assert slide.magnification == pytest.approx(20.0)
    with pytest.raises(StephError, match="implausible"):
        Slide(scans["20x"], mpp=1000.0)


def test_unknown_backend_and_missing_file_are_refused(scans, tmp_path):
    with pytest.raises(StephError, match="unknown slide backend"):
        Slide(scans["20x"], backend="bioformats")
    with pytest.raises(StephError, match="no such slide"):
        Slide(tmp_path / "absent.svs")


@pytest.mark.parametrize("scan", ["20x", "40x"])
def test_tissue_mask_matches_the_drawing_at_any_scan_resolution(scans, scan):
    with Slide(scans[scan]) as slide:
        tissue = segment_slide(slide)
    expected = drawn_mask(tissue.mpp)
    assert tissue.mask.shape == expected.shape
    iou = (tissue.mask & expected).sum() / (tissue.mask | expected).sum()
    assert iou > 0.97
    assert 20 <= tissue.threshold < 150  # Otsu lands between glass (~5) and tissue (~150)


def test_blank_glass_has_no_tissue_and_a_fixed_threshold_is_used_as_given():
    blank = S.drawing(rects=())[::16, ::16]
    assert not segment(blank, 8.0).mask.any()
    image = S.drawing()[::16, ::16]
    assert not segment(image, 8.0, TissueOptions(threshold=254)).mask.any()
    assert segment(image, 8.0, TissueOptions(threshold=100)).threshold == 100


def test_specks_are_dropped_and_holes_filled():
    """80 µm specks and holes (6,400 µm², survive the median blur) are under the 20,000 µm² cuts."""
    image = S.drawing(rects=((256, 256, 1024, 1024), (1600, 1200, 160, 160)))
    image[640:800, 640:800] = 245
    mask = segment(image[::16, ::16], 8.0).mask
    assert not mask[1200 // 16 - 2 : 1360 // 16 + 2, 1600 // 16 - 2 : 1760 // 16 + 2].any()
    assert mask[640 // 16 : 800 // 16, 640 // 16 : 800 // 16].all()
    unfiltered = segment(
        image[::16, ::16], 8.0, TissueOptions(min_object_um2=0, max_hole_um2=0)
    ).mask
    assert unfiltered[1200 // 16 : 1360 // 16, 1600 // 16 : 1760 // 16].any()
    assert not unfiltered[640 // 16 : 800 // 16, 640 // 16 : 800 // 16].all()


def test_box_means_against_a_direct_sum():
    rng = np.random.default_rng(0)
    mask = rng.random((20, 30)) > 0.5
    x0, y0 = rng.integers(0, 25, 50), rng.integers(0, 15, 50)
    x1, y1 = x0 + rng.integers(1, 6, 50), y0 + rng.integers(1, 6, 50)
    direct = [mask[a:c, b:d].mean() for a, b, c, d in zip(y0, x0, y1, x1, strict=True)]
    np.testing.assert_allclose(box_means(mask, x0, y0, x1, y1), direct)


@pytest.mark.parametrize(("scan", "scale", "level"), [("20x", 1, 0), ("40x", 2, 1)])
def test_patches_match_the_drawn_tissue(scans, scan, scale, level):
    with Slide(scans[scan]) as slide:
        grid = plan(slide, segment_slide(slide), PatchOptions(magnification=20, patch_size=256))
    assert {tuple(c) for c in grid.coords.tolist()} == S.expected_coords(scale=scale)
    assert len(grid.coords) == 14
    assert grid.patch_size_level0 == 256 * scale
    assert (grid.level, grid.read_size) == (level, 256)
    assert grid.tissue.min() > 0.9


def test_overlap_and_lower_magnification(scans):
    with Slide(scans["40x"]) as slide:
        tissue = segment_slide(slide)
        overlapping = plan(slide, tissue, PatchOptions(20, 256, overlap=128, min_tissue=0.9))
        at_10x = plan(slide, tissue, PatchOptions(10, 128))
    # 256 px patches every 128 px wholly inside the rectangles: 7 x 5 + 3 x 1
    assert len(overlapping.coords) == 38
    assert set(map(tuple, overlapping.coords.tolist())) >= S.expected_coords(scale=2)
    # a 128 px patch at 10x is the same 128 µm square as a 256 px patch at 20x
    assert {tuple(c) for c in at_10x.coords.tolist()} == S.expected_coords(scale=2)
    assert (at_10x.level, at_10x.read_size) == (2, 128)


def test_upsampling_and_bad_overlap_are_refused(scans):
    with Slide(scans["20x"]) as slide:
        tissue = segment_slide(slide)
        with pytest.raises(StephError, match="would upsample"):
            plan(slide, tissue, PatchOptions(magnification=40))
        with pytest.raises(StephError, match="overlap"):
            plan(slide, tissue, PatchOptions(overlap=256))


def test_tiles_of_a_40x_scan_equal_those_of_the_20x_scan(scans):
    tiles = []
    for scan in ("20x", "40x"):
        with Slide(scans[scan]) as slide:
            grid = plan(slide, segment_slide(slide))
            tiles.append(Tiles(scans[scan], grid, slide.mpp, slide.backend))
    assert len(tiles[0]) == len(tiles[1]) == 14
    for i in range(len(tiles[0])):
        assert tiles[0][i].shape == (256, 256, 3)
        torch.testing.assert_close(tiles[0][i], tiles[1][i], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "dim", "params_m"),
    [
        ("uni2-h", 1536, 681),
        ("uni", 1024, 303),
        ("virchow2", 2560, 631),
        ("conch-v1.5", 1024, 304),
        ("resnet50-trunc", 1024, 9),
    ],
)
def test_named_encoders_build_the_published_architectures(name, dim, params_m):
    """Built on the meta device: the shapes and sizes of the model cards, no memory, no weights."""
    with torch.device("meta"):
        model, spec = encoders.build_model(encoders.ENCODERS[name])
        encoder = encoders.Encoder(model, spec)
        feats = encoder(torch.zeros(2, 256, 256, 3, dtype=torch.uint8))
    assert tuple(feats.shape) == (2, dim) and encoder.dim == dim
    assert round(sum(p.numel() for p in model.parameters()) / 1e6) == params_m


def test_encoder_normalises_with_its_published_statistics(tmp_path):
    weights = S.tiny_encoder_weights(tmp_path / "tiny.safetensors")
    encoder = encoders.load_encoder("custom", weights, S.TINY_VIT, S.TINY_VIT_KWARGS)
    assert encoder.spec.input_size == 32 and encoder.dim == S.TINY_DIM
    mean = torch.tensor(encoder.spec.normalize[0])
    tile = (mean * 255).round().to(torch.uint8).expand(1, 32, 32, 3)
    residual = (tile[0, 0, 0].float() / 255 - mean) / torch.tensor(encoder.spec.normalize[1])
    with torch.inference_mode():
        expected = encoder.model(residual.view(1, 3, 1, 1).expand(1, 3, 32, 32))
        torch.testing.assert_close(encoder(tile), expected)
        # larger tiles are resized to the encoder's input, not cropped
        big = tile.repeat(1, 8, 8, 1)
        torch.testing.assert_close(encoder(big), expected, atol=1e-5, rtol=1e-5)


def test_weights_load_from_torch_files_with_a_prefix_and_are_checked(tmp_path):
    weights = S.tiny_encoder_weights(tmp_path / "tiny.safetensors")
    reference = encoders.load_encoder("custom", weights, S.TINY_VIT, S.TINY_VIT_KWARGS)
    state = encoders.read_weights(weights)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pth")
    again = encoders.load_encoder("custom", tmp_path / "w.pth", S.TINY_VIT, S.TINY_VIT_KWARGS)
    tiles = torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)
    with torch.inference_mode():
        torch.testing.assert_close(reference(tiles), again(tiles), rtol=0, atol=0)

    save_file(
        {k: v for k, v in state.items() if not k.startswith("blocks")}, tmp_path / "p.safetensors"
    )
    with pytest.raises(StephError, match=r"tensors are missing.*blocks"):
        encoders.load_encoder("custom", tmp_path / "p.safetensors", S.TINY_VIT, S.TINY_VIT_KWARGS)
    wide = '{"img_size": 32, "patch_size": 16, "embed_dim": 32, "depth": 1, "num_heads": 2}'
    with pytest.raises(StephError, match="do not fit"):
        encoders.load_encoder("custom", weights, S.TINY_VIT, wide)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(StephError, match="cannot read"):
        encoders.load_encoder("custom", tmp_path / "junk.pt", S.TINY_VIT, S.TINY_VIT_KWARGS)


def test_encoder_choices_are_validated():
    with pytest.raises(StephError, match="needs its checkpoint on local disk"):
        encoders.load_encoder("uni2-h", None)
    with pytest.raises(StephError, match="unknown encoder"):
        encoders.spec_for("uni3")
    with pytest.raises(StephError, match="needs a timm architecture name"):
        encoders.spec_for("custom")
    with pytest.raises(StephError, match="not valid JSON"):
        encoders.spec_for("custom", S.TINY_VIT, "{img_size: 32}")
    with pytest.raises(StephError, match="custom encoder only, not uni"):
        encoders.spec_for("uni", S.TINY_VIT)
