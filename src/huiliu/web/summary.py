"""The summary's counts, and reusing them while counting them again would be slow.

Owns: what ``GET /api/summary`` counts (envelopes by type, runs by status, effects done by action, dead
letters) and how old an answer may be. Does not own the rows: it only reads them.

Exact counts read every entry of an index: a few milliseconds on a young store, hundreds of milliseconds
with a million runs (``bench/console.py``). So :class:`SummaryCache` counts on every request while counting
is quick; once a count took longer than ``slow``, an answer younger than ``fresh_for`` is given again, an
older one (up to ``stale_for``) is given at once and counted again after the response, and one older still is
counted before answering. Each answer's ``as_of`` says when it was counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import BackgroundTasks
from sqlalchemy import ColumnElement, Connection, func, select

from huiliu.model import Clock
from huiliu.store import Database
from huiliu.store.schema import dead_letters, inbox, outbox, runs

__all__ = ["SummaryCache", "count_summary"]


def count_summary(db: Database) -> dict[str, Any]:
    """Envelopes by type, runs by status, effects done by action and dead letters, counted now.

    Each count is read from an index alone (``ix_inbox_type``, ``ix_runs_status_started_at``,
    ``ix_outbox_status_action``), not from the tables' rows.
    """
    with db.read() as conn:
        return {
            "envelopes": _counts(conn, inbox.c.type),
            "runs": _counts(conn, runs.c.status),
            "effects_done": _counts(conn, outbox.c.action, outbox.c.status == "done"),
            "dead_letters": conn.execute(select(func.count()).select_from(dead_letters)).scalar_one(),
        }


def _counts(conn: Connection, column: ColumnElement[Any], *where: ColumnElement[bool]) -> dict[str, int]:
    """Rows per value of ``column``."""
    rows = conn.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return {str(value): int(count) for value, count in rows}


@dataclass(frozen=True)
class _Answer:
    body: dict[str, Any]
    at: float
    """The clock's monotonic time when counting began."""
    took: float


class SummaryCache:
    """The summary, counted afresh while that is quick and reused for a few seconds once it is not.

    Args:
        count: counts now (:func:`count_summary` on the hub's database).
        clock: when each count happened and how long it took.
        slow: seconds of counting from which answers are reused.
        fresh_for: seconds a slow-to-count answer is given again as it is.
        stale_for: seconds up to which an older answer is still given at once, while it is counted again.
    """

    def __init__(self, count: Callable[[], dict[str, Any]], clock: Clock, *, slow: float = 0.1,
                 fresh_for: float = 10.0, stale_for: float = 60.0) -> None:
        self._count = count
        self._clock = clock
        self.slow = slow
        self.fresh_for = fresh_for
        self.stale_for = stale_for
        self._last: _Answer | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def get(self) -> tuple[dict[str, Any], bool]:
        """The answer, and whether :meth:`refresh` should run after it has been sent."""
        last = self._last
        if last is not None and last.took >= self.slow:
            age = self._clock.monotonic() - last.at
            if age < self.fresh_for:
                return last.body, False
            if age < self.stale_for:
                with self._lock:
                    start, self._refreshing = not self._refreshing, True
                return last.body, start
        return self._counted().body, False

    def answer(self, background: BackgroundTasks) -> dict[str, Any]:
        """:meth:`get` for a request: an older answer is counted again after the response is sent."""
        answer, refresh = self.get()
        if refresh:
            background.add_task(self.refresh)
        return answer

    def refresh(self) -> None:
        """Count again (after a response that gave an older answer)."""
        try:
            self._counted()
        finally:
            with self._lock:
                self._refreshing = False

    def _counted(self) -> _Answer:
        began, as_of = self._clock.monotonic(), self._clock.now()
        body = {**self._count(), "as_of": as_of}
        answer = _Answer(body, began, self._clock.monotonic() - began)
        with self._lock:
            if self._last is None or self._last.at <= answer.at:  # a slower, older count does not win
                self._last = answer
        return answer
