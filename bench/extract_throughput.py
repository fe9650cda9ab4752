"""Tiles per second of ``steph extract`` on a generated slide, and where the time goes.

One 20x slide (0.5 µm/px, JPEG tiles, a few tissue regions) is generated, then timed:

- segmentation: thumbnail read at 8 µm/px + saturation/Otsu/closing/filters;
- planning: the patch grid and its tissue fractions;
- reading: every kept 256 px tile through the DataLoader (``workers`` 0 and 1);
- encoding: a ViT-S/16 at 224 px (random weights) on the tiles already in memory;
- end to end: ``steph_cli.extract`` (the API) writing the HDF5 file, workers 0 and 1.

Ratios against baselines measured in the same run: reading against bulk-decoding the
whole level 0 with tifffile on one thread (pixels per second of the codec alone), and
encoding against the bare model forward on preprocessed tensors (the preprocessing
overhead).
Usage: python bench/extract_throughput.py [--size 8192] [--encoder vit_small_patch16_224]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from steph_cli.api import extract
from steph_cli.slides import encoders
from steph_cli.slides.extract import EncoderRef, ExtractOptions, load
from steph_cli.slides.patching import Tiles, plan
from steph_cli.slides.reader import Slide
from steph_cli.slides.tissue import segment_slide
from steph_cli.workspace import Workspace
from timing import best_of

MPP = 0.5


def make_slide(path: Path, size: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 240, dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for cx, cy, r in ((0.3, 0.35, 0.22), (0.7, 0.6, 0.25), (0.35, 0.8, 0.12)):
        blob = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        texture = rng.integers(-30, 31, size=(int(blob.sum()), 3))
        image[blob] = np.clip(np.array([190, 90, 170]) + texture, 0, 255)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for i in range(4):
            res = 1e4 / (MPP * 2**i)
            tif.write(
                image[:: 2**i, :: 2**i],
                tile=(256, 256),
                photometric="rgb",
                compression="jpeg",
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                subfiletype=int(i > 0),
            )
    return path


def read_all(tiles: Tiles, workers: int) -> list[torch.Tensor]:
    return list(DataLoader(tiles, batch_size=64, num_workers=workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="level-0 side in pixels")
    parser.add_argument("--encoder", default="vit_small_patch16_224")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        slide_path = make_slide(root / "bench.tiff", args.size)
        with Slide(slide_path) as slide:
            t_seg = best_of(lambda: segment_slide(slide), args.rounds)
            tissue = segment_slide(slide)
            t_plan = best_of(lambda: plan(slide, tissue), args.rounds)
            grid = plan(slide, tissue)
        n = len(grid.coords)
        tiles = Tiles(slide_path, grid, MPP, "auto")
        t_read = {w: best_of(lambda w=w: read_all(tiles, w), args.rounds) for w in (0, 1)}
        t_decode = best_of(lambda: tifffile.imread(slide_path, level=0, maxworkers=1), args.rounds)

        spec = encoders.custom_spec(args.encoder, None)
        model, spec = encoders.build_model(spec)
        weights = root / "encoder.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
        ref = EncoderRef("custom", weights, args.encoder)
        device = torch.device("cpu")
        encoder = load(ref, device)
        batches = read_all(tiles, 0)
        ready = [torch.randn(len(b), 3, spec.input_size, spec.input_size) for b in batches]

        def run_encoder() -> None:
            with torch.inference_mode():
                for b in batches:
                    encoder(b)

        def run_model() -> None:
            with torch.inference_mode():
                for x in ready:
                    encoder.model(x)

        t_enc = best_of(run_encoder, 1)
        t_model = best_of(run_model, 1)
        t_total = {}
        for w in (0, 1):
            ws = Workspace.at(root / f"ws{w}")
            options = ExtractOptions(workers=w, force=True)
            start = time.perf_counter()
            extract(
                ws,
                "BENCH",
                slide_path.parent,
                encoder="custom",
                weights=weights,
                timm_name=args.encoder,
                options=options,
                device="cpu",
            )
            t_total[w] = time.perf_counter() - start

    pixels = args.size * args.size
    tile_pixels = n * grid.read_size**2
    print(
        f"slide {args.size}x{args.size} at 20x, {n} tissue tiles of 256 px; encoder {args.encoder}"
    )
    print(f"{'stage':<28}{'seconds':>9}{'tiles/s':>10}")
    rows = [
        ("segmentation", t_seg),
        ("patch planning", t_plan),
        ("reading, workers=0", t_read[0]),
        ("reading, workers=1", t_read[1]),
        ("encoding (tiles in memory)", t_enc),
        ("end to end, workers=0", t_total[0]),
        ("end to end, workers=1", t_total[1]),
    ]
    for name, t in rows:
        print(f"{name:<28}{t:>9.3f}{n / t:>10.1f}")
    serial = t_seg + t_plan + t_read[0] + t_enc
    print(
        "share of the serial stages: "
        + ", ".join(
            f"{name} {t / serial:.0%}"
            for name, t in (
                ("segmentation", t_seg),
                ("planning", t_plan),
                ("reading", t_read[0]),
                ("encoding", t_enc),
            )
        )
    )
    print(
        f"without the encoder (segment + plan + read, workers=0): "
        f"{n / (t_seg + t_plan + t_read[0]):.1f} tiles/s"
    )
    codec = pixels / t_decode
    print(
        f"reading vs bulk tifffile decode of level 0: {tile_pixels / t_read[0] / 1e6:.1f} vs "
        f"{codec / 1e6:.1f} Mpx/s (ratio {codec / (tile_pixels / t_read[0]):.2f})"
    )
    print(f"encoding vs bare model forward: {t_enc:.3f} / {t_model:.3f} s = {t_enc / t_model:.2f}")
    print(
        f"end to end vs serial sum of stages: workers=0 {t_total[0] / serial:.2f}, "
        f"workers=1 {t_total[1] / serial:.2f}"
    )


if __name__ == "__main__":
    main()
