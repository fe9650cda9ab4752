"""Training options (plain data, importable without torch), checked when they are made."""

import math
from dataclasses import asdict, dataclass, fields, replace

from steph_cli.errors import BadInputError

# (lowest, highest, lowest allowed itself) of each numeric option; the message names the field.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "epochs": (1, math.inf, True),
    "lr": (0.0, math.inf, False),
    "weight_decay": (0.0, math.inf, True),
    "accumulate": (1, math.inf, True),
    "warmup_epochs": (0, math.inf, True),
    "alpha_u": (0.0, 1.0, True),
    "seed": (0, 2**32 - 1, True),
    "val_fraction": (0.0, 0.9, True),
}
SELECTIONS = ("last", "best")


@dataclass(frozen=True)
class TrainConfig:
    """METHOD §2 defaults; learned merges use the same schedule (with ``MERGE_LR``)."""

    epochs: int = 20
    lr: float = 1e-4
    weight_decay: float = 1e-5
    accumulate: int = 16
    warmup_epochs: int = 1
    alpha_u: float = 0.5
    seed: int | None = None  # None: the workspace's (``settings.resolve_seed``)
    # Training patients held out to watch (and with select="best", choose) the epoch;
    # the split's own val patients when it has them.
    val_fraction: float = 0.0
    select: str = "last"  # the epoch kept: the last (METHOD §2), or the best on validation

    def __post_init__(self) -> None:
        if self.select not in SELECTIONS:
            raise BadInputError(f"select = {self.select!r}: use {' or '.join(SELECTIONS)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in _RANGES or (value is None and f.name == "seed"):
                continue
            low, high, closed = _RANGES[f.name]
            ok = math.isfinite(value) and (value >= low if closed else value > low)
            if not ok or value > high:
                bound = f">= {low:g}" if closed else f"> {low:g}"
                limit = "" if math.isinf(high) else f" and <= {high:g}"
                raise BadInputError(f"{f.name} = {value!r}: must be a finite number {bound}{limit}")

    def as_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)

    @property
    def run_seed(self) -> int:
        """The seed of a resolved config (see ``resolved``)."""
        if self.seed is None:
            raise ValueError("the seed is not resolved yet (TrainConfig.resolved)")
        return self.seed

    def resolved(self, seed: int) -> "TrainConfig":
        """This config with the run's seed, unless one was given."""
        return self if self.seed is not None else replace(self, seed=seed)


# Learned merges (steph, ada, ties, iso-c, iso-cts) move the encoder only through a few
# mixing weights per bag, so at the experts' lr of 1e-4 they barely leave their start in the
# ~100 updates a small cohort gives. Measured on the demo (docs/merging.md): STEPH's mean
# C-index over 7 cohorts 0.690 at 1e-4 and 0.710 at 1e-3 (experts 0.694); experts trained at
# 1e-3 did not improve.
MERGE_LR = 1e-3
