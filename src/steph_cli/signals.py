"""SIGTERM and SIGHUP as exceptions, so that a stopped command unwinds like a failed one.

By default either signal ends the process on the spot: no ``finally`` runs, so a worker
pool is left orphaned and still writing, and temporary files and locks stay behind. Raised
as ``SystemExit(128 + signal)`` instead, they unwind every block: atomic writes remove
their temporary files, a pool stops its workers (which unwind the same way), and the exit
status is the shell's convention for a signal (143 for SIGTERM, 129 for SIGHUP).
"""

import signal
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit(128 + signal)`` in this process."""
    for sig in SIGNALS:
        signal.signal(sig, _stop)
