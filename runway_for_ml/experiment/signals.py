"""SIGTERM as Ctrl-C: a ``kill PID`` or a container stop ends a command or a run as ``interrupted``.

Used around every CLI command and around a training run started from Python. Not inside a runway SLURM
job, where submitit owns SIGTERM/SIGUSR2 (checkpoint and requeue), and only in the main thread (the
only one that may set signal handlers).

>>> with sigterm_as_interrupt():
...     pass
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["sigterm_as_interrupt", "under_runway_slurm"]


def under_runway_slurm() -> bool:
    """Whether this process is a job started by runway's SLURM launcher."""
    return os.environ.get("RUNWAY_LAUNCHER") == "slurm"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (cleanup runs, the run is marked interrupted)."""
    if under_runway_slurm() or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
