"""ERP database changes as events: the ERP → OA direction for ERPs reached through their database.

Each configured SQL source (a table, or an intermediate table 中间表) is read by change data capture from
its saved position; every changed row becomes an envelope ``<system>.<source>.changed`` (or ``.deleted``)
stored in the inbox once per row version, and starts the flows that trigger on it — e.g. "a large purchase
order appeared in the ERP → start an approval in DingTalk". The batch's position is saved only after its
envelopes are stored (at-least-once reading; the inbox makes each version count once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from huiliu.bus import Envelope
from huiliu.connectors.sql import ChangeCapture, PositionStore, SqlClient
from huiliu.flows import Flow
from huiliu.service.handlers import Parts, store_and_start
from huiliu.store.codec import to_jsonable

__all__ = ["ChangeFeed"]

log = logging.getLogger("huiliu.changefeed")


class ChangeFeed:
    """Turns one ERP database's changes into envelopes that start flows.

    Args:
        parts: the hub's database, inbox, event log and runs.
        flows: the flows in force (the hub's shared list).
        client: the ERP database.
        store: where positions are kept (the hub's ``watermarks``).
        interval: seconds between polls.
    """

    def __init__(self, parts: Parts, flows: Sequence[Flow], client: SqlClient, store: PositionStore,
                 interval: float) -> None:
        self.p = parts
        self.flows = flows
        self.client = client
        self.store = store
        self.interval = interval
        self.system = client.settings.system

    async def poll(self) -> int:
        """Read every source once, to the end; returns how many changes were stored (duplicates excluded)."""
        stored = 0
        for source in self.client.settings.sources:
            capture = ChangeCapture(self.client, source.name, self.store)
            async for batch in capture.batches():
                received = self.p.clock.now().isoformat()
                with self.p.db.begin() as conn:
                    for change in batch.changes:
                        verb = "deleted" if change.op == "delete" else "changed"
                        envelope = Envelope(
                            source=self.system, type=f"{self.system}.{source.name}.{verb}",
                            native_id=change.key_text, version=change.version, business_key=change.key_text,
                            payload={"document": to_jsonable(dict(change.values or {})),
                                     "key": to_jsonable(dict(change.key))},
                            occurred_at=self.p.clock.now())
                        stored += store_and_start(self.p, self.flows, conn, envelope, received)
                await capture.commit(batch)
        return stored

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop``; a failed poll is logged and tried again (the position stays)."""
        while not stop.is_set():
            try:
                await self.poll()
            except Exception:  # the ERP database down must not stop the worker
                log.exception("reading changes from %s failed", self.system)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
