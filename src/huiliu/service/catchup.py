"""Catch-up polling: find the approvals whose callbacks never reached the hub.

Callbacks get lost (the hub was down longer than the vendor's retries, a URL was disabled, WeCom offers
no event server to new customers). Each poll lists an OA's instances over a time range and queues, on
the same topic as callbacks, every instance the hub does not yet hold in a final state; the worker
re-reads them, and the inbox keeps what was already seen from being applied twice.

Per OA, a row in ``watermarks`` keeps the end of the last complete poll (the high-water mark) and a
lease, so among many workers one polls each OA at a time. A poll that fails part-way leaves the mark
where it was: the next one lists the same range again (at-least-once listing, exactly-once effects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select, update

from huiliu.bus import EventLog, Transport
from huiliu.model import Clock
from huiliu.service.handlers import CALLBACK_TOPIC
from huiliu.service.settings import CatchUpSettings
from huiliu.service.sources import OaSource
from huiliu.store import Database
from huiliu.store.schema import inbox, watermarks
from huiliu.store.statements import insert_if_absent

__all__ = ["CatchUp", "PollReport"]

log = logging.getLogger("huiliu.catchup")

_FINAL_VERBS = ("approved", "refused", "revoked", "reverted")
_BATCH = 200


@dataclass(frozen=True, slots=True)
class PollReport:
    """One poll of one OA.

    Attributes:
        system: the OA.
        since: start of the range listed.
        until: end of the range listed (the new high-water mark).
        listed: instances the OA listed.
        queued: instances queued for a re-read (the rest were final in the hub already, or queued).
        skipped: another process holds the lease; nothing was listed.
    """

    system: str
    since: datetime | None
    until: datetime | None
    listed: int = 0
    queued: int = 0
    skipped: bool = False


class CatchUp:
    """Polls each configured OA, one process at a time per OA.

    Args:
        db: the hub's database (the high-water marks and leases live there).
        transport: where the re-reads are queued.
        eventlog: where each poll and each queued instance is recorded.
        clock: time source.
        sources: the OAs to poll.
        settings: interval, lookback and lease.
        owner: this process's name for the lease.
    """

    def __init__(self, *, db: Database, transport: Transport, eventlog: EventLog, clock: Clock,
                 sources: Mapping[str, OaSource], settings: CatchUpSettings, owner: str) -> None:
        self.db = db
        self.transport = transport
        self.eventlog = eventlog
        self.clock = clock
        self.sources = dict(sources)
        self.settings = settings
        self.owner = owner

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every OA, then wait ``interval``; until ``stop`` is set. A failed poll is logged and retried."""
        while not stop.is_set():
            for system in self.sources:
                if stop.is_set():
                    break
                try:
                    report = await self.poll(system)
                    if report.queued:
                        log.info("catch-up %s: %d listed, %d queued", system, report.listed, report.queued)
                except Exception:  # an OA outage must not stop the worker; the mark stays, the range is re-listed
                    log.exception("catch-up poll of %s failed", system)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.interval)

    async def poll(self, system: str, *, since: datetime | None = None, until: datetime | None = None) -> PollReport:
        """List ``system``'s instances over ``[since, until]`` and queue those not final in the hub.

        Without ``since``, the range starts ``lookback`` before the high-water mark (``first_lookback``
        before now on the first poll); without ``until`` it ends now, and the mark moves there.
        """
        source = self.sources[system]
        name = f"catch-up:{system}"
        now = self.clock.now()
        if not self._take_lease(name, now):
            return PollReport(system, None, None, skipped=True)
        try:
            mark = self._mark(name)
            start = since or (mark - timedelta(seconds=self.settings.lookback) if mark is not None
                              else now - timedelta(seconds=self.settings.first_lookback))
            end = until or now
            listed = queued = 0
            batch: list[tuple[str, Mapping[str, Any]]] = []
            async for instance_id, hint in source.list_ids(start, end):
                listed += 1
                batch.append((instance_id, hint))
                if len(batch) >= _BATCH:
                    queued += self._queue(system, batch)
                    batch.clear()
            queued += self._queue(system, batch)
            with self.db.begin() as conn:
                if until is None:
                    conn.execute(update(watermarks).where(watermarks.c.name == name).values(
                        value=end.isoformat(), updated_at=self.clock.now()))
                self.eventlog.record(conn, case_id=name, activity="catch_up.polled", system=system,
                                     detail={"since": start.isoformat(), "until": end.isoformat(),
                                             "listed": listed, "queued": queued})
            return PollReport(system, start, end, listed, queued)
        finally:
            self._release(name)

    def _take_lease(self, name: str, now: datetime) -> bool:
        with self.db.begin() as conn:
            insert_if_absent(conn, watermarks, {"name": name, "value": "", "updated_at": now,
                                                "lease_owner": None, "lease_until": None})
            taken = conn.execute(update(watermarks).where(
                watermarks.c.name == name,
                or_(watermarks.c.lease_until.is_(None), watermarks.c.lease_until < now,
                    watermarks.c.lease_owner == self.owner))
                .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=self.settings.lease))
                .returning(watermarks.c.name)).first()
        return taken is not None

    def _release(self, name: str) -> None:
        with self.db.begin() as conn:
            conn.execute(update(watermarks).where(watermarks.c.name == name, watermarks.c.lease_owner == self.owner)
                         .values(lease_owner=None, lease_until=None))

    def _mark(self, name: str) -> datetime | None:
        with self.db.read() as conn:
            value = conn.execute(select(watermarks.c.value).where(watermarks.c.name == name)).scalar()
        return datetime.fromisoformat(value) if value else None

    def _queue(self, system: str, batch: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
        if not batch:
            return 0
        with self.db.begin() as conn:
            final = _final(conn, system, [i for i, _ in batch])
            received = self.clock.now().isoformat()
            queued = 0
            for instance_id, hint in batch:
                if instance_id in final:
                    continue
                if self.transport.publish(conn, CALLBACK_TOPIC, instance_id, {
                        "system": system, "instance_id": instance_id, "hint": dict(hint), "received_at": received,
                        "polled": True}, dedupe_key=f"{system}:{instance_id}:poll"):
                    queued += 1
                    self.eventlog.record(conn, case_id=instance_id, activity="catch_up.queued", system=system)
        return queued


def _final(conn: Connection, system: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the inbox already holds in a final state."""
    finals = [f"{system}.approval.{verb}" for verb in _FINAL_VERBS]
    rows = conn.execute(select(inbox.c.native_id).where(
        inbox.c.source == system, inbox.c.native_id.in_(ids), inbox.c.type.in_(finals)))
    return {r for (r,) in rows}
