"""Attributing external calls to the work that made them, for the event log.

The HTTP clients report every call to :func:`observe`. The worker opens a :func:`recording` scope
around each message; a handler that succeeds writes :func:`current` calls in its own transaction, and
when it fails the worker writes them with the failed attempt, so every call is logged once either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from huiliu.connectors import CallRecord

__all__ = ["call_rows", "current", "observe", "recording"]

_current: ContextVar[list[CallRecord] | None] = ContextVar("huiliu_calls", default=None)


def observe(record: CallRecord) -> None:
    """Keep ``record`` in the current scope, if any."""
    calls = _current.get()
    if calls is not None:
        calls.append(record)


def current() -> list[CallRecord]:
    """The calls recorded so far in this scope."""
    return list(_current.get() or ())


@contextmanager
def recording() -> Iterator[list[CallRecord]]:
    """Collect the calls made inside the block."""
    calls: list[CallRecord] = []
    token = _current.set(calls)
    try:
        yield calls
    finally:
        _current.reset(token)


def call_rows(calls: Sequence[CallRecord], case_id: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """Event-log rows for calls, timed when each call started."""
    return [{"case_id": case_id, "activity": f"call.{c.operation}", "system": c.system, "run_id": run_id,
             "outcome": c.outcome, "duration_ms": c.duration_ms, "at": c.started_at,
             "detail": {"status": c.status}} for c in calls]
