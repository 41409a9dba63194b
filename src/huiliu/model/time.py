"""Time helpers: every time in huiliu is tz-aware."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "aware", "from_epoch_ms", "utcnow"]


def utcnow() -> datetime:
    """Return the current time in UTC, tz-aware."""
    return datetime.now(UTC)


def aware(value: datetime, name: str = "time") -> datetime:
    """Return ``value`` unchanged if it is tz-aware, else raise ``ValueError`` naming the field."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def from_epoch_ms(ms: int | float) -> datetime:
    """Turn milliseconds since the epoch (DingTalk's unit) into a UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Clock(Protocol):
    """Where time comes from; injected so that tests skip time instead of sleeping."""

    def now(self) -> datetime:
        """The current time, tz-aware."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, for durations and expiries."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()
