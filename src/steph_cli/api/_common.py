"""What every API call shares: where the workspace is."""

import os
from pathlib import Path

from steph_cli.workspace.paths import Workspace

WorkspaceLike = Workspace | str | os.PathLike[str] | None


def workspace_of(workspace: WorkspaceLike) -> Workspace:
    """A :class:`Workspace` from one, a path, or None (``$STEPH_WORKSPACE``, else the user
    data folder)."""
    if isinstance(workspace, Workspace):
        return workspace
    return Workspace.at(None if workspace is None else Path(workspace))
