"""The event log: every envelope, step, attempt and external call, with outcome and timing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from huiliu.model import Clock, SystemClock
from huiliu.store import dumps
from huiliu.store.schema import event_log

__all__ = ["EventLog"]

_INSERT = insert(event_log)


class EventLog:
    """Appends entries in the caller's transaction, so the log and the state never disagree."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def record(self, conn: Connection, *, case_id: str, activity: str, system: str, outcome: str = "ok",
               run_id: str | None = None, actor: str | None = None, duration_ms: float | None = None,
               detail: dict[str, Any] | None = None, at: datetime | None = None) -> None:
        """Append one entry."""
        conn.execute(_INSERT, {
            "at": at or self.clock.now(), "case_id": case_id, "activity": activity, "system": system,
            "actor": actor, "run_id": run_id, "outcome": outcome,
            "duration_ms": None if duration_ms is None else round(duration_ms),
            "detail": None if detail is None else dumps(detail)})

    def record_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Append several entries (each a dict of :meth:`record`'s keyword arguments)."""
        if not rows:
            return
        now = self.clock.now()
        conn.execute(_INSERT, [
            {"at": r.get("at") or now, "case_id": r["case_id"], "activity": r["activity"],
             "system": r["system"], "actor": r.get("actor"), "run_id": r.get("run_id"),
             "outcome": r.get("outcome", "ok"),
             "duration_ms": None if r.get("duration_ms") is None else round(r["duration_ms"]),
             "detail": None if r.get("detail") is None else dumps(r["detail"])}
            for r in rows])
