"""Attributing external calls to the work that made them, for the event log.

The HTTP clients report every call to :func:`observe`; a handler opens a :func:`recording` scope and
writes what was recorded in its own transaction, so the log never disagrees with the state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from huiliu.connectors import CallRecord

__all__ = ["observe", "recording"]

_current: ContextVar[list[CallRecord] | None] = ContextVar("huiliu_calls", default=None)


def observe(record: CallRecord) -> None:
    """Keep ``record`` in the current scope, if any."""
    calls = _current.get()
    if calls is not None:
        calls.append(record)


@contextmanager
def recording() -> Iterator[list[CallRecord]]:
    """Collect the calls made inside the block."""
    calls: list[CallRecord] = []
    token = _current.set(calls)
    try:
        yield calls
    finally:
        _current.reset(token)
