"""Crash points for fault tests: at a named point, the process kills itself with SIGKILL.

Real SIGKILL, not an exception: nothing in the process gets to clean up, exactly as when the machine
loses power or the kernel kills the worker. Empty in production.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

__all__ = ["FaultPoints"]


class FaultPoints:
    """The set of points at which to die."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = frozenset(names)

    def reach(self, name: str) -> None:
        """Kill this process with SIGKILL if ``name`` is armed."""
        if name in self.names:
            os.kill(os.getpid(), signal.SIGKILL)
