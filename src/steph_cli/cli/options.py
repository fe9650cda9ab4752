"""Option types shared by the commands that train (``train``, ``merge``, ``demo``).

Every training default of METHOD.md is an option, spelled and documented the same way
everywhere.
"""

from typing import Annotated

import typer

TRAIN_PANEL = "Training (METHOD §2 defaults)"

Fold = Annotated[int | None, typer.Option(help="One fold.")]
Folds = Annotated[str, typer.Option(help="all, or fold numbers like 0,2,4.")]
Epochs = Annotated[int, typer.Option(min=1, rich_help_panel=TRAIN_PANEL)]
Lr = Annotated[float, typer.Option(help="Peak learning rate.", rich_help_panel=TRAIN_PANEL)]
WeightDecay = Annotated[
    float, typer.Option(help="AdamW weight decay (none on biases).", rich_help_panel=TRAIN_PANEL)
]
Accumulate = Annotated[
    int, typer.Option(min=1, help="Bags per update.", rich_help_panel=TRAIN_PANEL)
]
WarmupEpochs = Annotated[
    int,
    typer.Option(min=0, help="Linear warm-up before cosine decay.", rich_help_panel=TRAIN_PANEL),
]
AlphaU = Annotated[
    float,
    typer.Option(help="Extra weight of the uncensored NLL term.", rich_help_panel=TRAIN_PANEL),
]
