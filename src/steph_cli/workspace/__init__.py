"""The on-disk workspace: paths, settings, cohorts, labels, splits and feature files."""

from steph_cli.workspace.paths import Workspace, validate_name

__all__ = ["Workspace", "validate_name"]
