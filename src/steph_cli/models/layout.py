"""Flattening a set of named parameters into one vector, and back, with one fixed layout.

Task vectors are stacked once as an [M, P] tensor so that every merge is a matrix product
over rows, never a Python loop over parameters × sources.
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Layout:
    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, state: dict[str, torch.Tensor], keys: list[str]) -> "Layout":
        return cls(tuple(keys), tuple(tuple(state[k].shape) for k in keys))

    @property
    def sizes(self) -> list[int]:
        return [int(torch.Size(s).numel()) for s in self.shapes]

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for key, n in zip(self.keys, self.sizes, strict=True):
            out[key] = slice(start, start + n)
            start += n
        return out

    def flatten(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([state[k].reshape(-1) for k in self.keys])

    def stack(self, states: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """[M, P]: one row per state."""
        return torch.stack([self.flatten(s) for s in states])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views into ``flat`` (no copy), so gradients flow back to whatever produced it."""
        parts = torch.split(flat, self.sizes, dim=-1)
        lead = flat.shape[:-1]
        return {
            k: p.reshape(*lead, *s) for k, p, s in zip(self.keys, parts, self.shapes, strict=True)
        }

    def matrices(self) -> list[str]:
        """Keys of 2-D parameters (the ones isotropic merging treats as matrices)."""
        return [k for k, s in zip(self.keys, self.shapes, strict=True) if len(s) == 2]
