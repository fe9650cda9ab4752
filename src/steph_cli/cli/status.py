"""``steph status``: the workspace at a glance."""

from steph_cli.cli import render
from steph_cli.cli.common import State, command, examples

EPILOG = examples(
    "steph status",
    'steph status --json | jq ".cohorts[].experts"',
)


@command
def status(state: State) -> None:
    """Cohorts, slides, folds, experts, task vectors and merged models in the workspace."""
    render.status(state)
