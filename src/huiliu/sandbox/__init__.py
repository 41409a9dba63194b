"""Local simulators of vendor APIs, faithful to ``shared/contracts/``.

Auth, signatures, encryption, envelopes, error codes and rate limits, with fault injection.

Used by ``huiliu demo`` and by the tests. Each sandbox is an aiohttp application plus the in-memory state
a test can inspect; :mod:`huiliu.sandbox.server` runs any of them on 127.0.0.1.
"""

from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.server import SandboxServer

__all__ = ["Fault", "FaultKind", "FaultPlan", "SandboxServer"]
