"""The two kinds of failure the CLI distinguishes, mapped to exit codes in one place."""


class StephError(Exception):
    """Bad usage or bad input: the message names the file or field and the fix (exit code 2)."""

    exit_code = 2


class RunFailedError(StephError):
    """The input was fine but the work failed, e.g. a diverging loss (exit code 1)."""

    exit_code = 1
