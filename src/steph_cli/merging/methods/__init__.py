"""Merge methods, one module each, registered by name.

Every module of this package (but ``base``) is imported on first use, so adding a method is
adding one module whose class carries ``@register``: see docs/merging.md.
"""

import importlib
import pkgutil

from steph_cli.errors import BadInputError
from steph_cli.merging.methods.base import MergeMethod

REGISTRY: dict[str, MergeMethod] = {}


def register(cls: type[MergeMethod]) -> type[MergeMethod]:
    """Class decorator: one instance of ``cls`` under ``cls.name``."""
    if cls.name in REGISTRY and type(REGISTRY[cls.name]) is not cls:
        raise ValueError(f"two merge methods are called {cls.name!r}")
    REGISTRY[cls.name] = cls()
    return cls


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def get(name: str) -> MergeMethod:
    _load_all()
    if name not in REGISTRY:
        raise BadInputError(f"unknown merge method {name!r}; choose one of {', '.join(names())}")
    return REGISTRY[name]


def names() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def all_methods() -> list[MergeMethod]:
    return [REGISTRY[n] for n in names()]
