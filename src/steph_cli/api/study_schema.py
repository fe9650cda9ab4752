"""The types a study file's keys take, checked before anything reads them, so that every
mistake is one line naming the file, the section, the key, the value and what was expected
(a string where a number belongs reached Python as a TypeError before)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from steph_cli.errors import BadInputError

Check = tuple[Callable[[Any], bool], str]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _list(item: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(item(x) for x in v)


def _all_or(item: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v == "all" or _list(item)(v)


POSITIVE_INT: Check = (lambda v: _int(v) and v > 0, "a whole number > 0")
NON_NEGATIVE_INT: Check = (lambda v: _int(v) and v >= 0, "a whole number >= 0")
NUMBER: Check = (_number, "a number")
FRACTION: Check = (lambda v: _number(v) and 0 <= v < 1, "a number >= 0 and < 1")
NAME: Check = (_str, "a string")
NAMES: Check = (_all_or(_str), '"all" or a list of strings')
TRAINING: dict[str, Check] = {
    "epochs": POSITIVE_INT,
    "lr": (lambda v: _number(v) and v > 0, "a number > 0"),
    "weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "accumulate": POSITIVE_INT,
    "warmup_epochs": NON_NEGATIVE_INT,
    "alpha_u": NUMBER,
    "val_fraction": FRACTION,
    "select": (lambda v: v in ("last", "best"), '"last" or "best"'),
}
TOP: dict[str, Check] = {
    "name": NAME,
    "targets": NAMES,
    "sources": NAMES,
    "folds": (_all_or(lambda k: _int(k) and k >= 0), '"all" or a list of fold numbers'),
    "seeds": (_list(lambda s: _int(s) and s >= 0), "a list of whole numbers >= 0, e.g. [0, 1]"),
    "methods": (_list(_str), 'a list of method names, e.g. ["expert", "steph"]'),
    "baseline": NAME,
    "source_fold": NON_NEGATIVE_INT,
    "controls": (_list(_str), 'a list of control kinds, e.g. ["permuted"]'),
}
SECTIONS: dict[str, dict[str, Check]] = {
    "training": TRAINING,
    "merging": TRAINING,
    "protocol": {k: TRAINING[k] for k in ("val_fraction", "select")},
    "architecture": {
        "embed_dim": POSITIVE_INT,
        "attn_dim": POSITIVE_INT,
        "dropout": FRACTION,
    },
    "scarcity": {
        "train_patients": (
            _list(lambda s: _number(s) and s > 0),
            "a list of patient counts (> 1) or fractions (<= 1), e.g. [15, 30, 1.0]",
        )
    },
}
# Tables whose keys are the user's own (family names, methods): each value's type only.
OPEN_TABLES: dict[str, Check] = {
    "families": (_list(_str), "a list of cohort names"),
    "grid": (
        lambda v: isinstance(v, dict) and all(isinstance(x, list) and x for x in v.values()),
        "a table of parameter = [values, ...]",
    ),
    "variants": (
        lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
        "a list of tables, e.g. [{ top_k = 1 }]",
    ),
}


def check(path: Path, raw: dict[str, Any]) -> None:
    """Refuse the first key of ``raw`` (a parsed study file) whose value has the wrong type
    or range, or which no section takes."""
    known = sorted([*TOP, *SECTIONS, *OPEN_TABLES])
    for key, value in raw.items():
        if key in TOP:
            _value(path, None, key, value, TOP[key])
        elif key in SECTIONS or key in OPEN_TABLES:
            if not isinstance(value, dict):
                raise _error(path, None, key, value, f"a [{key}] table")
            for inner, item in value.items():
                if key in OPEN_TABLES:
                    _value(path, key, inner, item, OPEN_TABLES[key])
                elif inner in SECTIONS[key]:
                    _value(path, key, inner, item, SECTIONS[key][inner])
                else:
                    raise BadInputError(
                        f"study file {path}: [{key}] has no option {inner!r} "
                        f"(it takes {', '.join(SECTIONS[key])})"
                    )
        else:
            raise BadInputError(
                f"study file {path}: unknown key {key!r} (known: {', '.join(known)})"
            )


def _value(path: Path, section: str | None, key: str, value: Any, rule: Check) -> None:
    ok, expected = rule
    if not ok(value):
        raise _error(path, section, key, value, expected)


def _error(path: Path, section: str | None, key: str, value: Any, expected: str) -> BadInputError:
    where = f"[{section}] {key}" if section else key
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return BadInputError(
        f"study file {path}: {where} = {shown} is {type(value).__name__}; expected {expected}"
    )
