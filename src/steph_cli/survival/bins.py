"""Uniform discrete-time bins shared by every model of a workspace (METHOD §1).

T bins over [0, max_days]; the first edge is 0 and the last bin is open to +inf, so with the
defaults (32 bins to 11680 days) bin(t) = min(floor(t / 365), 31).
"""

import math
from dataclasses import dataclass

import numpy as np

from steph_cli.errors import BadInputError


@dataclass(frozen=True)
class TimeBins:
    count: int = 32
    max_days: float = 11680.0

    def __post_init__(self) -> None:
        if self.count < 2 or not (math.isfinite(self.max_days) and self.max_days > 0):
            raise BadInputError(
                f"time bins: {self.count} bins to {self.max_days!r} days; use at least 2 bins "
                "and a finite positive maximum time"
            )

    @property
    def width(self) -> float:
        return self.max_days / self.count

    @property
    def edges(self) -> np.ndarray:
        """Left edge of each bin in days ([T]); bin j covers [edges[j], edges[j+1])."""
        return np.arange(self.count) * self.width

    def index(self, times: np.ndarray) -> np.ndarray:
        """Bin of each time (int64), the last bin taking everything beyond max_days."""
        t = np.asarray(times, dtype=np.float64)
        return np.minimum(np.floor(t / self.width), self.count - 1).astype(np.int64)

    def as_dict(self) -> dict[str, float | int]:
        return {"count": self.count, "max_days": self.max_days}
