"""Fault points for fault tests: at a named point the process kills or stops itself.

SIGKILL, or SIGSTOP until someone sends SIGCONT.
Real signals, not exceptions: a killed process gets no chance to clean up, exactly as when the machine
loses power; a stopped one wakes up after its leases ran out, as a worker that was paused or cut off.
Both sets are empty in production.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

__all__ = ["FaultPoints"]


class FaultPoints:
    """The points at which to die or to pause."""

    def __init__(self, crash: Iterable[str] = (), pause: Iterable[str] = ()) -> None:
        self.crash = frozenset(crash)
        self.pause = frozenset(pause)

    def reach(self, name: str) -> None:
        """Kill this process with SIGKILL, or stop it with SIGSTOP, if ``name`` is armed."""
        if name in self.crash:
            os.kill(os.getpid(), signal.SIGKILL)
        if name in self.pause:
            os.kill(os.getpid(), signal.SIGSTOP)
