"""Merge methods, one module each, registered by name.

A method is one of three kinds:

- ``static``: builds the merged encoder directly (``build(pool, options) -> [P]``) and keeps
  the target expert's head (task arithmetic);
- ``scalar``: builds the [M, P] rows that learned scalar weights combine,
  θ = θ_init + Σ_i w_i row_i, trained with a new head (ada, and TIES / Iso-C / Iso-CTS pairs
  of the target with each source);
- ``hyper``: the STEPH hypernetwork.

Options mean the same for every method that uses them (``MergeOptions``).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from steph_cli.errors import StephError
from steph_cli.merging.options import MergeOptions
from steph_cli.merging.pool import Pool

Builder = Callable[[Pool, MergeOptions], torch.Tensor]


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # static | scalar | hyper
    summary: str
    build: Builder | None = None  # static: the encoder [P]; scalar: the rows [M, P]


REGISTRY: dict[str, Method] = {}


def register(name: str, kind: str, summary: str) -> Callable[[Builder], Builder]:
    def add(build: Builder) -> Builder:
        REGISTRY[name] = Method(name, kind, summary, build)
        return build

    return add


def get(name: str) -> Method:
    _load_all()
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise StephError(f"unknown merge method {name!r}; choose one of {known}")
    return REGISTRY[name]


def names() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def _load_all() -> None:
    """Import the method modules so that they register themselves."""
    from steph_cli.merging.methods import (  # noqa: F401
        ada,
        iso_c,
        iso_cts,
        steph,
        task_arithmetic,
        ties,
    )
