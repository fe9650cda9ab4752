"""Option types shared by several commands, and ``merge``'s options built from the methods.

Every training default of METHOD.md is an option, spelled and documented the same way
everywhere; each merge method's parameters become options from its ``Params`` dataclass
(the one place their defaults live), grouped in one help panel per declaring class.
"""

import inspect
import typing
from dataclasses import Field, fields
from typing import Annotated, Any

import typer

from steph_cli.cli import completion
from steph_cli.merging import methods
from steph_cli.tasks.graph import EXECUTORS

TRAIN_PANEL = "Training"
EXECUTION_PANEL = "Execution"

Fold = Annotated[int | None, typer.Option(help="One fold.")]
Folds = Annotated[str, typer.Option(help="all, or fold numbers like 0,2,4.")]
Epochs = Annotated[
    int, typer.Option(help="Passes over the training bags.", rich_help_panel=TRAIN_PANEL)
]
Lr = Annotated[float, typer.Option(help="Peak learning rate.", rich_help_panel=TRAIN_PANEL)]
WeightDecay = Annotated[
    float, typer.Option(help="AdamW weight decay (none on biases).", rich_help_panel=TRAIN_PANEL)
]
Accumulate = Annotated[int, typer.Option(help="Bags per update.", rich_help_panel=TRAIN_PANEL)]
WarmupEpochs = Annotated[
    int, typer.Option(help="Linear warm-up before cosine decay.", rich_help_panel=TRAIN_PANEL)
]
ValFraction = Annotated[
    float,
    typer.Option(
        help="Training patients held out (per event group, seeded) to watch the validation "
        "C-index each epoch; the split's own val patients when it has them.",
        rich_help_panel=TRAIN_PANEL,
    ),
]
Select = Annotated[
    str,
    typer.Option(
        help="Epoch kept: last (the paper's protocol), or best validation C-index (needs "
        "validation patients). Test patients never choose.",
        **completion.one_of("last", "best"),
        rich_help_panel=TRAIN_PANEL,
    ),
]
AlphaU = Annotated[
    float,
    typer.Option(help="Extra weight of the uncensored NLL term.", rich_help_panel=TRAIN_PANEL),
]

Executor = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local: one task after another in this process; ray: one Ray task per unit of "
        "work, on a local Ray or the cluster at --ray-address.",
        **completion.one_of(*EXECUTORS),
        rich_help_panel=EXECUTION_PANEL,
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="Ray cluster to join, e.g. ray://head:10001 or auto \\[default: start a local Ray].",
        rich_help_panel=EXECUTION_PANEL,
        show_default=False,
    ),
]
Jobs = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Local executor: run independent tasks (folds, cohorts, merges, slides) in this "
        "many processes, the CPUs shared out between them. Same bytes as --jobs 1 with as "
        "many --threads.",
        rich_help_panel=EXECUTION_PANEL,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="Torch threads of this process, or of each job \\[default: OMP_NUM_THREADS, "
        "else the CPUs this process may use, shared by the jobs].",
        rich_help_panel=EXECUTION_PANEL,
        show_default=False,
    ),
]
CpusPerTask = Annotated[
    int,
    typer.Option(
        "--cpus-per-task",
        help="Ray: CPUs (and torch threads) per task. Results are byte-identical to a local "
        "run with as many threads (OMP_NUM_THREADS).",
        rich_help_panel=EXECUTION_PANEL,
    ),
]


def _plain_type(annotation: Any) -> type:
    """``float | None`` → float: every generated option may be left out (None = default)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def method_options() -> list[inspect.Parameter]:
    """One option per parameter of any registered method, defaulting to None ("not given"),
    with its help and default from the field; a help panel per set of methods that share it."""
    found: dict[str, tuple[Field[Any], Any]] = {}
    users: dict[str, list[str]] = {}
    for method in methods.all_methods():
        hints = typing.get_type_hints(method.Params)
        for f in fields(method.Params):
            seen = found.setdefault(f.name, (f, hints[f.name]))
            if (seen[0].default, seen[1]) != (f.default, hints[f.name]):
                raise TypeError(f"merge methods disagree on the default or type of {f.name}")
            users.setdefault(f.name, []).append(method.name)
    params = []
    for name, (f, hint) in found.items():
        choices = f.metadata.get("choices")
        text = f.metadata["help"].replace("[", "\\[")
        if f.default is not None:
            text += f" \\[default: {f.default}]"
        option = typer.Option(
            "--" + name.replace("_", "-"),
            help=text[0].upper() + text[1:],
            show_default=False,
            rich_help_panel=f"Method parameters: {', '.join(users[name])}",
            **(completion.one_of(*choices) if choices else {}),
        )
        annotation = Annotated[_plain_type(hint) | None, option]  # type: ignore[valid-type]
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )
    return params
