"""``steph verify``: the workspace's models and features are the bytes their runs wrote."""

from steph_cli.cli.common import State, command, emit_json, examples, note
from steph_cli.cli.console import out
from steph_cli.cli.tables import table
from steph_cli.errors import RunFailedError

EPILOG = examples(
    "steph verify",
    "steph --workspace /mnt/backup/ws verify --json",
)


@command
def verify(state: State) -> None:
    """Re-hash every model and extracted feature file against the run that wrote it.

    Reports files that are modified (not the bytes their run wrote), missing (recorded but
    gone), unrecorded (no run of this workspace wrote them, e.g. copied in) or corrupt; task
    vectors must equal their expert minus θ_init. Exit 1 when anything is reported.
    """
    from steph_cli import api

    result = api.verify(state.ws)
    if state.json:
        emit_json(result.to_json())
    elif result.problems:
        out.print(
            table(
                None,
                ["file", "status", "detail"],
                [[c.path, c.status, c.detail] for c in result.problems],
            )
        )
    if result.problems:
        raise RunFailedError(
            f"{len(result.problems)} of {len(result.checks)} file(s) do not match their records"
        )
    note(state, f"{len(result.checks)} file(s) match their records")
