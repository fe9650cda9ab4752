"""``steph.toml``: the settings every model of a workspace must share.

The time bins and the feature dimension are fixed per workspace because experts are only
interchangeable (and task vectors only comparable) when they agree on both.
"""

import tomllib
from dataclasses import asdict, dataclass, replace

from steph_cli.errors import BadInputError
from steph_cli.workspace import atomic
from steph_cli.workspace.paths import Workspace

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Settings:
    format_version: int = FORMAT_VERSION
    seed: int = 0
    time_bins: int = 32
    max_time_days: float = 11680.0
    feature_dim: int | None = None

    def to_toml(self) -> str:
        lines = ["# steph workspace settings; shared by every model in this workspace"]
        for key, value in asdict(self).items():
            if value is not None:
                lines.append(f"{key} = {value!r}")
        return "\n".join(lines) + "\n"


def load(ws: Workspace) -> Settings:
    """The workspace's settings, or the defaults when it has none yet."""
    if not ws.settings_file.is_file():
        return Settings()
    try:
        raw = tomllib.loads(ws.settings_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(
            f"{ws.settings_file}: not valid TOML ({exc}); fix or delete it"
        ) from exc
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BadInputError(f"{ws.settings_file}: unknown setting(s) {', '.join(unknown)}")
    settings = Settings(**raw)
    if settings.format_version > FORMAT_VERSION:
        raise BadInputError(
            f"{ws.settings_file}: format version {settings.format_version} is newer than this "
            f"steph understands ({FORMAT_VERSION}); upgrade steph"
        )
    return settings


def save(ws: Workspace, settings: Settings) -> None:
    atomic.write_text(ws.settings_file, settings.to_toml())


def ensure(ws: Workspace, seed: int | None = None) -> Settings:
    """Create the workspace (and its settings, with ``seed`` or 0) on first use; return them."""
    if ws.settings_file.is_file():
        return load(ws)
    settings = Settings(seed=check_seed(seed) if seed is not None else 0)
    ws.root.mkdir(parents=True, exist_ok=True)
    save(ws, settings)
    return settings


def check_seed(seed: int) -> int:
    if not 0 <= seed < 2**32:
        raise BadInputError(f"seed {seed}: use a whole number from 0 to {2**32 - 1}")
    return seed


def resolve_seed(ws: Workspace, seed: int | None) -> int:
    """The one resolution of a run's seed: the one given, else the workspace's (recorded in
    steph.toml when the workspace was created, 0 unless chosen then)."""
    return check_seed(seed) if seed is not None else ensure(ws).seed


def set_feature_dim(ws: Workspace, dim: int, source: str) -> Settings:
    """Record the workspace's feature dimension, or refuse one that disagrees with it."""
    settings = ensure(ws)
    if settings.feature_dim is None:
        settings = replace(settings, feature_dim=int(dim))
        save(ws, settings)
    elif settings.feature_dim != dim:
        raise BadInputError(
            f"{source}: features have dimension {dim} but this workspace uses "
            f"{settings.feature_dim}; use features from the same encoder or another workspace"
        )
    return settings
