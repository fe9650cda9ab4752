"""``steph extract``: whole-slide images to patch features, or an import of existing ones."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steph_cli.cli import completion, render
from steph_cli.cli import options as opt
from steph_cli.cli.common import State, command, emit_json, examples, note
from steph_cli.cli.console import out
from steph_cli.cli.progress import RichHooks
from steph_cli.cli.tables import table

if TYPE_CHECKING:
    from steph_cli.api import Imported

ENCODER_PANEL = "Encoder"
PATCH_PANEL = "Tissue and patches"
# The names of slides.encoders.NAMES, repeated so that --help does not import torch and timm.
ENCODER_NAMES = ("uni2-h", "uni", "virchow2", "conch-v1.5", "resnet50-trunc", "custom")
EPILOG = examples(
    "steph extract --cancer LUSC --slides lusc/ --encoder uni2-h --weights w.pt",
    "steph extract --cancer LUSC --slides lusc/ --encoder uni --preview previews/",
    "steph extract --cancer LUSC --from 20x_256px_0px_overlap/features_uni_v2",
)


def _encoder_names(incomplete: str) -> list[str]:
    return [n for n in ENCODER_NAMES if n.startswith(incomplete)]


def _threshold(value: str) -> str:
    if value != "otsu" and not (value.isdigit() and 0 <= int(value) <= 255):
        raise typer.BadParameter("use otsu or a saturation value 0-255")
    return value


@command
def extract(
    state: State,
    cancer: Annotated[
        str, typer.Option(help="Cohort the features belong to.", autocompletion=completion.cohorts)
    ],
    slides: Annotated[
        Path | None, typer.Option(help="Folder of slides (.svs, .ndpi, .mrxs, .tiff, ...).")
    ] = None,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Import the .h5 feature files of CLAM, TRIDENT or UNI2-h-features found "
            "under this folder.",
        ),
    ] = None,
    encoder: Annotated[
        str,
        typer.Option(
            help=f"Patch encoder: {', '.join(ENCODER_NAMES)}.",
            autocompletion=_encoder_names,
            rich_help_panel=ENCODER_PANEL,
        ),
    ] = "uni2-h",
    weights: Annotated[
        Path | None,
        typer.Option(
            help="Local encoder checkpoint (.safetensors, or a torch file read weights-only).",
            rich_help_panel=ENCODER_PANEL,
        ),
    ] = None,
    timm_name: Annotated[
        str | None,
        typer.Option(help="timm architecture for --encoder custom.", rich_help_panel=ENCODER_PANEL),
    ] = None,
    timm_kwargs: Annotated[
        str | None,
        typer.Option(
            help="JSON keyword arguments for timm.create_model (custom encoder).",
            rich_help_panel=ENCODER_PANEL,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Tiles per encoder batch.", rich_help_panel=ENCODER_PANEL)
    ] = 64,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="DataLoader processes reading tiles \\[default: min(4, CPUs - 1)].",
            rich_help_panel=ENCODER_PANEL,
            show_default=False,
        ),
    ] = None,
    mag: Annotated[
        float,
        typer.Option(help="Target magnification (10 / µm per pixel).", rich_help_panel=PATCH_PANEL),
    ] = 20.0,
    patch_size: Annotated[
        int, typer.Option(min=8, help="Patch side in pixels at --mag.", rich_help_panel=PATCH_PANEL)
    ] = 256,
    overlap: Annotated[
        int, typer.Option(min=0, help="Overlap in pixels at --mag.", rich_help_panel=PATCH_PANEL)
    ] = 0,
    min_tissue: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Keep patches with at least this tissue fraction.",
            rich_help_panel=PATCH_PANEL,
        ),
    ] = 0.5,
    tissue_threshold: Annotated[
        str,
        typer.Option(
            help="Saturation threshold: otsu or a value 0-255.",
            callback=_threshold,
            autocompletion=completion.choices("otsu"),
            rich_help_panel=PATCH_PANEL,
        ),
    ] = "otsu",
    mpp: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Microns per pixel of level 0, overriding the slides' metadata.",
            rich_help_panel=PATCH_PANEL,
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="Slide reader (auto: openslide, falling back to tiffslide).",
            **completion.one_of("auto", "openslide", "tiffslide"),
        ),
    ] = "auto",
    preview: Annotated[
        Path | None,
        typer.Option(help="Save SLIDE_ID.png here: thumbnail, tissue contour, patch grid."),
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            "--link", help="With --from: symlink the files instead of copying.", metavar=""
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Redo slides (or re-import files) that already have features.",
            metavar="",
        ),
    ] = False,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    cpus_per_task: opt.CpusPerTask = 1,
    jobs: opt.Jobs = 1,
    threads: opt.Threads = None,
) -> None:
    """Whole-slide images → patch features: features/NAME/SLIDE_ID.h5 (CLAM/TRIDENT layout).

    Per slide: tissue segmentation on a low-resolution view, a patch grid at --mag read from
    the best pyramid level, the encoder on each batch of tiles, one HDF5 file. Finished slides
    are skipped, a slide without tissue gets an empty file, and a failing slide is reported
    while the others go on (exit 1 at the end). Weights are read from local disk only.
    """
    from steph_cli import api
    from steph_cli.slides.extract import ExtractOptions
    from steph_cli.slides.patching import PatchOptions
    from steph_cli.slides.tissue import TissueOptions
    from steph_cli.tasks.execution import Execution

    if (slides is None) == (from_ is None):
        raise typer.BadParameter("give either --slides DIR (extract) or --from DIR (import)")
    with RichHooks(state) as hooks:
        if from_ is not None:
            imported = api.import_features(
                state.ws, cancer, from_, link=link, force=force, hooks=hooks
            )
            _next_step(state, cancer)
            _imported(state, cancer, from_, imported)
            return
        assert slides is not None
        threshold = None if tissue_threshold == "otsu" else int(tissue_threshold)
        options = ExtractOptions(
            patches=PatchOptions(mag, patch_size, overlap, min_tissue),
            tissue=TissueOptions(threshold=threshold),
            mpp=mpp,
            backend=backend,
            batch_size=batch_size,
            workers=workers,
            force=force,
            preview=preview,
        )
        execution = Execution(executor, ray_address, cpus_per_task, jobs, threads)
        report = api.extract(
            state.ws,
            cancer,
            slides,
            encoder=encoder,
            weights=weights,
            timm_name=timm_name,
            timm_kwargs=timm_kwargs,
            options=options,
            execution=execution,
            device=state.device,
            hooks=hooks,
        )
    _next_step(state, cancer)
    if state.json:
        emit_json(report.to_json())
    else:
        rows: list[list[object]] = [
            [r.slide_id, r.status, r.patches, f"{r.seconds:.1f}"] for r in report.results
        ]
        failed = report.failed()
        ok = f"{len(report.results) - len(failed)} ok" + (
            f", {len(failed)} failed" if failed else ""
        )
        total = sum(r.patches for r in report.results)
        seconds = sum(r.seconds for r in report.results)
        rows.append(["total", ok, total, f"{seconds:.1f}"])
        out.print(table(None, ["slide", "status", "patches", "s"], rows))
    for r in report.failed():
        render.failure(f"{r.slide_id} ({r.path})", r.message, r.fix)
    report.raise_failures()


def _next_step(state: State, cancer: str) -> None:
    if not state.ws.labels_file(cancer).is_file():
        note(state, f"next: steph cohort add {cancer} --labels LABELS.csv (features are in place)")


def _imported(state: State, cancer: str, source: Path, imported: "Imported") -> None:
    if state.json:
        emit_json(
            {
                "imported": [
                    {
                        "slide_id": f.slide_id,
                        "patches": f.n_patches,
                        "dim": f.dim,
                        "source": str(f.path),
                    }
                    for f in imported.files
                ],
                "kept_existing": imported.kept,
            }
        )
        return
    rows = [[f.slide_id, f.n_patches, f.dim, _within(f.path, source)] for f in imported.files]
    title = f"imported into features/{cancer} from {source}"
    out.print(table(title, ["slide", "patches", "dim", "file"], rows))


def _within(path: Path, source: Path) -> str:
    """A found file named from the folder the user gave (the whole path repeats it)."""
    return str(path.relative_to(source)) if path.is_relative_to(source) else str(path)
