"""The outbox: every external effect with its idempotency key, recorded before the call is made."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from huiliu.model import Clock, SystemClock
from huiliu.store import dumps, loads
from huiliu.store.schema import outbox
from huiliu.store.statements import insert_if_absent

__all__ = ["Outbox", "OutboxEntry", "reference_for"]

_NAMESPACE = uuid.UUID("9c4e2a71-0d3b-4f85-a6e9-5b17c8d20f43")
_SELECT = select(outbox).where(outbox.c.id == bindparam("o_id"))
_UPDATE = update(outbox).where(outbox.c.id == bindparam("o_id"))


def reference_for(idempotency_key: str) -> str:
    """A short reference derived from the key, for vendors that store one (e.g. a Kingdee field)."""
    return "HL" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:22].upper()


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One recorded effect."""

    id: str
    idempotency_key: str
    run_id: str
    step_id: str
    action: str
    request: dict[str, Any]
    status: str
    result: dict[str, Any] | None


class Outbox:
    """Records effects and their results."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def record(self, conn: Connection, *, idempotency_key: str, run_id: str, step_id: str, action: str,
               request: dict[str, Any]) -> str:
        """Record an intended effect and return its id; the same key returns the existing id."""
        entry_id = str(uuid.uuid5(_NAMESPACE, idempotency_key))  # the same key always gets the same id
        insert_if_absent(conn, outbox, {
            "id": entry_id, "idempotency_key": idempotency_key, "run_id": run_id, "step_id": step_id,
            "action": action, "request": dumps(request), "status": "pending", "created_at": self.clock.now()})
        return entry_id

    def get(self, conn: Connection, entry_id: str) -> OutboxEntry | None:
        """Read an entry."""
        row = conn.execute(_SELECT, {"o_id": entry_id}).first()
        if row is None:
            return None
        return OutboxEntry(row.id, row.idempotency_key, row.run_id, row.step_id, row.action,
                           loads(row.request), row.status, loads(row.result))

    def done(self, conn: Connection, entry_id: str, result: dict[str, Any]) -> None:
        """Mark an effect applied, with the vendor's result."""
        conn.execute(_UPDATE, {"o_id": entry_id, "status": "done", "result": dumps(result),
                               "done_at": self.clock.now()})

    def failed(self, conn: Connection, entry_id: str, error: str) -> None:
        """Mark an effect given up (its message was dead-lettered)."""
        conn.execute(_UPDATE, {"o_id": entry_id, "status": "failed", "result": dumps({"error": error}),
                               "done_at": self.clock.now()})
