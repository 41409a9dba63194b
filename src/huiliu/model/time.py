"""Time helpers: every time in huiliu is tz-aware."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware", "from_epoch_ms", "utcnow"]


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
