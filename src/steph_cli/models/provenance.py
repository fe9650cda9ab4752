"""What every artefact is made from — its fingerprint — in one place.

A fingerprint is the sha256 of each input, keyed by the input's path in the workspace (a
cohort's features by their folder, ``features/NAME``: one digest over the files of its
labelled patients' slides), and every option that changes the artefact's bytes, the seed
among them. Model files carry theirs in their metadata (``fingerprint``); run manifests too.

- An output is **fresh** while every input it records still has the recorded sha256; it is
  **stale** when one changed (or when it records no fingerprint: made by an older steph).
  ``steph status`` counts both, ``evaluate`` never scores a stale model.
- A step **reuses** an existing output only when the fingerprint of what it would be made
  from now — inputs and options — equals the recorded one; otherwise it refuses, naming what
  changed, unless told to remake it (``force``). Nothing stale is silently kept.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from steph_cli.errors import Fix, StaleArtefactError
from steph_cli.models.header import read_metadata
from steph_cli.workspace.hashing import Hashes
from steph_cli.workspace.labels import STORED_UNIT, read_labels
from steph_cli.workspace.paths import Workspace

FEATURES = "features/"
META_KEY = "fingerprint"
NO_RECORD = "made before steph recorded what models are made from"


@dataclass(frozen=True)
class Fingerprint:
    inputs: dict[str, str | None]  # workspace-relative input -> sha256 (None: absent)
    options: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"inputs": dict(sorted(self.inputs.items())), "options": self.options}

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> "Fingerprint":
        return cls(dict(raw.get("inputs") or {}), dict(raw.get("options") or {}))  # type: ignore[call-overload]

    def changes(self, recorded: "Fingerprint", options: bool = True) -> list[str]:
        """What differs from ``recorded``, in words (inputs, then options)."""
        out = [
            _input_change(key, recorded.inputs.get(key), self.inputs.get(key))
            for key in sorted(set(self.inputs) | set(recorded.inputs))
            if recorded.inputs.get(key) != self.inputs.get(key)
        ]
        if options:
            was, now = _flat(recorded.options), _flat(self.options)
            for key in sorted(set(was) | set(now)):
                before, after = was.get(key, "unset"), now.get(key, "unset")
                if _canonical(before) != _canonical(after):
                    out.append(f"{key} {_show(before)} → {_show(after)}")
        return out


def _flat(options: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested options as dotted names (``training.lr``), so a change names the one value."""
    out: dict[str, object] = {}
    for key, value in options.items():
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _show(value: object) -> str:
    return value if isinstance(value, str) else _canonical(value)


def _input_change(key: str, then: str | None, now: str | None) -> str:
    if then is None:
        return f"{key} is a new input"
    if now is None:
        return f"{key} is gone"
    return f"{key} changed ({then[:8]}… → {now[:8]}…)"


def relative(ws: Workspace, path: Path) -> str:
    return path.relative_to(ws.root).as_posix()


def fold_inputs(ws: Workspace, cohort: str, fold: int) -> list[str]:
    """A cohort's fold is its labels, the fold's split and the cohort's features."""
    return [
        relative(ws, ws.labels_file(cohort)),
        relative(ws, ws.split_file(cohort, fold)),
        FEATURES + cohort,
    ]


def expert_inputs(ws: Workspace, cohort: str, fold: int) -> list[str]:
    """An expert is made from its fold's data and the shared initialisation."""
    return [*fold_inputs(ws, cohort, fold), relative(ws, ws.init_file)]


def vector_inputs(ws: Workspace, cohort: str, fold: int) -> list[str]:
    return [relative(ws, ws.expert_file(cohort, fold)), relative(ws, ws.init_file)]


def merged_inputs(
    ws: Workspace,
    target: str,
    fold: int,
    sources: Iterable[str],
    source_fold: int,
    control: str | None = None,
) -> list[str]:
    """A merge is made from the target fold's data (it trains on its train patients and
    records its test C-index), the target's expert of that fold and the sources' experts —
    for a control, their permuted-label experts, or none (``none`` and ``self``)."""
    if control is None:
        files = [ws.expert_file(s, source_fold) for s in sources]
    elif control == "permuted":
        files = [ws.control_expert_file(s, source_fold) for s in sources]
    else:  # none, self, budget: the target alone
        files = []
    return [
        *expert_inputs(ws, target, fold),
        relative(ws, ws.expert_file(target, fold)),
        *(relative(ws, f) for f in files),
    ]


class Digests:
    """sha256 of inputs as they are now, each computed once."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.hashes = Hashes(ws.cache_dir)
        self.done: dict[str, str | None] = {}

    def __call__(self, key: str) -> str | None:
        if key not in self.done:
            self.done[key] = (
                self._features(key[len(FEATURES) :])
                if key.startswith(FEATURES)
                else self._file(self.ws.root / key)
            )
        return self.done[key]

    def _file(self, path: Path) -> str | None:
        return self.hashes(path) if path.is_file() else None

    def _features(self, cohort: str) -> str | None:
        labels_file = self.ws.labels_file(cohort)
        if not labels_file.is_file():
            return None
        labels = read_labels(labels_file, STORED_UNIT)
        folder = self.ws.features_dir(cohort)
        shas = {
            slide: self.hashes(path)
            for slides in labels.slides.values()
            for slide in slides
            if (path := folder / f"{slide}.h5").is_file()
        }
        return hashlib.sha256(_canonical(sorted(shas.items())).encode()).hexdigest()

    def fingerprint(self, keys: Iterable[str], options: Mapping[str, object]) -> Fingerprint:
        inputs = {key: self(key) for key in keys}
        self.hashes.save()
        return Fingerprint(inputs, json.loads(_canonical(dict(options))))


def now(ws: Workspace, keys: Iterable[str], options: Mapping[str, object]) -> Fingerprint:
    """The fingerprint of an output made now from ``keys`` with ``options``."""
    return Digests(ws).fingerprint(keys, options)


def recorded(path: Path) -> Fingerprint | None:
    raw = read_metadata(path).get(META_KEY)
    return Fingerprint.from_json(json.loads(raw)) if raw else None


def stale(path: Path, digests: Digests) -> list[str]:
    """Why the output at ``path`` is stale (its recorded inputs changed); empty if fresh."""
    record = recorded(path)
    if record is None:
        return [NO_RECORD]
    current = digests.fingerprint(record.inputs, record.options)
    return current.changes(record, options=False)


def reuse(ws: Workspace, path: Path, expected: Fingerprint, force: bool) -> bool:
    """True when the model file ``path`` holds what ``expected`` describes (skip the work);
    False when it must be made (absent, or ``force``). Refuses a different existing output."""
    if force or not path.is_file():
        return False
    return same(relative(ws, path), recorded(path), expected)


def same(name: str, record: Fingerprint | None, expected: Fingerprint) -> bool:
    """True when ``record`` is ``expected``; else refuses, naming what changed."""
    changes = [NO_RECORD] if record is None else expected.changes(record)
    if not changes:
        return True
    raise StaleArtefactError(
        f"{name} was made from other inputs or options than asked for now: " + "; ".join(changes),
        Fix.set("force", "{} remakes it"),
    )
