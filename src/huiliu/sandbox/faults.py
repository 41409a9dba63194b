"""Fault injection for sandboxes: scripted ("the next 2 Save calls are rate limited") or random at a rate.

A sandbox asks :meth:`FaultPlan.draw` once per request with the operation name and acts on the fault
it gets. Plans can be set from the test process directly, or over HTTP through ``POST /_sandbox/faults``
when the sandbox runs in another process.
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fault", "FaultKind", "FaultPlan"]


class FaultKind(enum.StrEnum):
    """What can go wrong with one request."""

    EXPIRED_TOKEN = "expired_token"
    """The token or session is reported invalid (DingTalk 400 InvalidAuthentication, Kingdee MsgCode 1)."""
    RATE_LIMIT = "rate_limit"
    """The vendor's throttling reply, with Retry-After where the vendor sends one."""
    SERVER_ERROR = "server_error"
    """HTTP 500/502/503."""
    SLOW = "slow"
    """The reply comes after ``delay`` seconds (then normally)."""
    DROP = "drop"
    """The connection is closed before anything is done or answered."""
    APPLIED_REPLY_LOST = "applied_reply_lost"
    """The request is applied, then the connection is closed before the reply."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault."""

    kind: FaultKind
    delay: float = 0.0
    retry_after: float = 1.0


@dataclass
class FaultPlan:
    """Which faults to inject, and a count of what was injected.

    Attributes:
        scripted: per operation, a list of faults used in order, one per request.
        rates: per operation (or ``"*"``), the probability of each fault kind per request.
        seed: seeds the random draws, so a failing run can be repeated.
    """

    scripted: dict[str, list[Fault]] = field(default_factory=dict)
    rates: dict[str, dict[FaultKind, float]] = field(default_factory=dict)
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    slow_delay: float = 2.0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def script(self, operation: str, *faults: Fault) -> None:
        """Queue faults for the next requests of ``operation``."""
        self.scripted.setdefault(operation, []).extend(faults)

    def clear(self) -> None:
        """Remove every scripted fault and rate."""
        self.scripted.clear()
        self.rates.clear()

    def draw(self, operation: str) -> Fault | None:
        """The fault for this request of ``operation``, or ``None``."""
        queue = self.scripted.get(operation)
        if queue:
            fault = queue.pop(0)
            self.injected[f"{operation}:{fault.kind}"] += 1
            return fault
        for key in (operation, "*"):
            for kind, rate in self.rates.get(key, {}).items():
                if rate > 0 and self._rng.random() < rate:
                    self.injected[f"{operation}:{kind}"] += 1
                    return Fault(kind, delay=self.slow_delay if kind is FaultKind.SLOW else 0.0)
        return None

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Apply a JSON spec: ``{"script": {op: [{"kind":…, "delay":…}]}, "rates": {op: {kind: p}}}``."""
        if spec.get("clear"):
            self.clear()
        for op, faults in spec.get("script", {}).items():
            self.script(op, *(Fault(FaultKind(f["kind"]), float(f.get("delay", 0.0)),
                                    float(f.get("retry_after", 1.0))) for f in faults))
        for op, kinds in spec.get("rates", {}).items():
            self.rates[op] = {FaultKind(k): float(v) for k, v in kinds.items()}
