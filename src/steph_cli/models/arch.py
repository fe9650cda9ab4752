"""The expert architecture's description, stored as JSON in every model file."""

import json
from dataclasses import asdict, dataclass

from steph_cli.errors import BadInputError


@dataclass(frozen=True)
class Architecture:
    in_dim: int
    embed_dim: int = 512
    attn_dim: int = 384
    n_bins: int = 32
    dropout: float = 0.25
    name: str = "abmil"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        return cls(**json.loads(text))


@dataclass(frozen=True)
class ArchOptions:
    """The architecture a user may ask for; None = the workspace's θ_init's, else the default.

    The feature dimension and the time bins are not options here: they are the workspace's.
    """

    embed_dim: int | None = None
    attn_dim: int | None = None
    dropout: float | None = None

    def __post_init__(self) -> None:
        for name in ("embed_dim", "attn_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BadInputError(f"{name} = {value}: use a whole number of 1 or more")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise BadInputError(f"dropout = {self.dropout!r}: use a value from 0 up to (not) 1")

    def given(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}
