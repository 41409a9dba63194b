"""The inbox: each envelope stored once per (source, native id, version); a duplicate is dropped."""

from __future__ import annotations

from sqlalchemy import Connection

from huiliu.bus.envelope import Envelope
from huiliu.model import Clock, SystemClock
from huiliu.store import dumps
from huiliu.store.schema import inbox
from huiliu.store.statements import insert_if_absent

__all__ = ["Inbox"]


class Inbox:
    """Stores envelopes idempotently."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def accept(self, conn: Connection, envelope: Envelope) -> bool:
        """Store ``envelope`` in the caller's transaction; ``False`` if it was already there."""
        return insert_if_absent(conn, inbox, {
            "id": envelope.id, "source": envelope.source, "native_id": envelope.native_id,
            "version": envelope.version, "type": envelope.type, "business_key": envelope.business_key,
            "payload": dumps(envelope.payload), "occurred_at": envelope.occurred_at,
            "received_at": self.clock.now()})
