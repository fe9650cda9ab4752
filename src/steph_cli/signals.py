"""SIGTERM and SIGHUP as exceptions, so that a stopped command unwinds like a failed one.

By default either signal ends the process on the spot: no ``finally`` runs, so a worker
pool is left orphaned and still writing, and temporary files and locks stay behind. Raised
as ``SystemExit(128 + signal)`` instead, they unwind every block: atomic writes remove
their temporary files, a pool stops its workers (which unwind the same way), and the exit
status is the shell's convention for a signal (143 for SIGTERM, 129 for SIGHUP).
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


# The signal that stopped this process, if one did: a library that turns the exception into
# its own exit (Ray's wait exits 1 when interrupted) loses the status, the entry point not.
received: int | None = None


def _stop(signum: int, frame: FrameType | None) -> None:
    global received
    received = signum
    raise SystemExit(128 + signum)


def status(code: int) -> int:
    """The exit status: 128 + the signal that stopped the process, else ``code``."""
    return code if received is None else 128 + received


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit(128 + signal)`` in this process."""
    for sig in SIGNALS:
        signal.signal(sig, _stop)


@contextmanager
def kept() -> Iterator[None]:
    """Keep our handlers across a library's start-up that installs its own (Ray's driver
    exits on SIGTERM with ``sys.exit(15)``, skipping every cleanup of ours)."""
    ours = signal.getsignal(signal.SIGTERM) is _stop
    yield
    if ours:
        stop_on_signals()
