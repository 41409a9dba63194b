"""Transports that carry work through a broker, with the hub's database as the source of truth.

::

    handler txn ──publish──► messages row (the outbox) ──relay──► broker ──consumer──► claim row by id
                                   ▲                                                    (lease, fenced ack)
                                   └──────── reconcile: rows handed over but never consumed ─────┘

* **Publish** writes a row in the caller's transaction, exactly as the database transport does, so a
  message and the state that caused it commit together.
* **Relay**: each process hands claimable rows to the broker (marking ``relayed_at`` first) and waits for
  the broker's confirm; a failed or unconfirmed publish clears the mark, so the row goes again.
* **Consume**: the broker delivers a row id; the worker claims that row under a lease in the database
  and acks the broker. An id whose row is gone was done already (a duplicate: dropped); a row that
  cannot be claimed yet (leased, an older message of its key pending, not due) loses its mark and is
  relayed again when it can be.
* **Reconcile**: a row marked longer ago than ``redeliver_after`` and still unclaimed (the broker lost
  it — NATS acknowledges before it writes to disk — or a consumer died) is relayed again.

The broker therefore never decides what is done: it spreads work across processes and machines without
polling. Duplicates it makes are absorbed by the claim; losses are repaired by reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Update, bindparam, or_, select, update

from huiliu.bus.transport import Delivery
from huiliu.bus.transports.db import RETURNED, DbTransport, claimable, deliveries, lease_params, lease_values
from huiliu.model import Clock
from huiliu.store import Database
from huiliu.store.schema import messages
from huiliu.store.types import UTCDateTime

__all__ = ["BrokerLink", "Incoming", "RelayedTransport"]

log = logging.getLogger("huiliu.relay")

_UNMARK = update(messages).where(messages.c.id.in_(bindparam("ids", expanding=True))).values(relayed_at=None)


@functools.cache
def _mark_for_relay(server_clock: bool) -> Update:
    """Mark claimable rows not yet handed over (or handed over long ago) and return them."""
    stale = bindparam("stale", type_=UTCDateTime())
    return (
        update(messages)
        .where(messages.c.id.in_(
            select(messages.c.id)
            .where(or_(messages.c.relayed_at.is_(None), messages.c.relayed_at < stale), claimable(server_clock))
            .order_by(messages.c.id).limit(bindparam("lim")).scalar_subquery()))
        .values(relayed_at=bindparam("now_mark", type_=UTCDateTime()))
        .returning(messages.c.id, messages.c.topic)
    )


@functools.cache
def _claim_ids(server_clock: bool) -> Update:
    """Lease the given rows, those that can be claimed now."""
    return (
        update(messages)
        .where(messages.c.id.in_(bindparam("ids", expanding=True)), claimable(server_clock))
        .values(**lease_values(server_clock))
        .returning(*RETURNED)
    )


@dataclass(frozen=True, slots=True)
class Incoming:
    """A row id the broker delivered, and how to acknowledge it to the broker."""

    id: int
    ack: Callable[[], Awaitable[None]]


class BrokerLink(Protocol):
    """What a broker must do for :class:`RelayedTransport`: one implementation per broker, same shape."""

    async def connect(self, topics: Sequence[str]) -> None:
        """Connect and declare what the topics need (durable queues, streams)."""

    async def send(self, items: Sequence[tuple[str, int]]) -> None:
        """Publish ``(topic, row id)`` pairs and return once the broker confirmed all of them.

        Raises:
            Exception: anything not confirmed (unroutable, nacked, connection lost); the relay then
                clears the rows' marks and tries again.
        """

    def consume(self, topics: Sequence[str], prefetch: int) -> AsyncIterator[Incoming]:
        """Deliveries from the topics' durable consumers, at most ``prefetch`` unacknowledged."""

    async def close(self) -> None:
        """Disconnect."""


class RelayedTransport(DbTransport):
    """The database transport with a broker between publisher and consumer.

    Args:
        db: the hub's database (the outbox and the leases live there).
        link: the broker.
        topics: the topics this process consumes (empty for a process that only publishes).
        prefetch: broker deliveries held at once (back-pressure: the broker keeps the rest).
        redeliver_after: seconds after which a relayed but unclaimed row is relayed again.
        relay_interval: seconds between relay passes when idle (a publish here wakes it at once).
    """

    def __init__(self, db: Database, link: BrokerLink, *, topics: Sequence[str] = (), clock: Clock | None = None,
                 prefetch: int = 256, redeliver_after: float = 30.0, relay_interval: float = 0.2) -> None:
        super().__init__(db, clock)
        self.link = link
        self.topics = list(topics)
        self.prefetch = prefetch
        self.redeliver_after = redeliver_after
        self.relay_interval = relay_interval
        self._incoming: asyncio.Queue[Incoming] = asyncio.Queue(maxsize=prefetch)
        self._tasks: list[asyncio.Task[None]] = []
        self._relay_wake = asyncio.Event()
        self.relayed = 0
        self.duplicates = 0

    async def start(self) -> None:
        """Connect, then run the relay and (if this process consumes) the consumer."""
        await self.link.connect(self.topics)
        self._tasks.append(asyncio.create_task(self._relay_loop(), name="huiliu-relay"))
        if self.topics:
            self._tasks.append(asyncio.create_task(self._consume_loop(), name="huiliu-consume"))

    async def close(self) -> None:
        """Stop relaying and consuming; unacknowledged deliveries go back to the broker."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.link.close()

    def publish(self, conn: Connection, topic: str, key: str, payload: dict[str, Any], *,
                dedupe_key: str | None = None, delay: float = 0.0) -> bool:
        """Write the outbox row (see :meth:`DbTransport.publish`) and wake the relay."""
        stored = super().publish(conn, topic, key, payload, dedupe_key=dedupe_key, delay=delay)
        self._relay_wake.set()
        return stored

    def retry_later(self, delivery: Delivery, delay: float, error: str) -> None:
        """Release the row (its relay mark cleared) and wake the relay for when it is due."""
        super().retry_later(delivery, delay, error)
        self._relay_wake.set()

    async def _relay_loop(self) -> None:
        backoff = self.relay_interval
        while True:
            self._relay_wake.clear()
            try:
                sent = await self.relay_once()
                backoff = self.relay_interval
            except Exception:  # the relay must outlive a broker restart; rows stay and go again
                log.exception("relay pass failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay_wake.wait(), self.relay_interval)

    async def relay_once(self, limit: int = 500) -> int:
        """Hand claimable rows to the broker; returns how many were confirmed."""
        now = self.clock.now()
        with self.db.begin() as conn:
            rows = conn.execute(_mark_for_relay(self.server_clock), {
                "now": now, "now_mark": now, "stale": now - timedelta(seconds=self.redeliver_after),
                "lim": limit}).all()
        if not rows:
            return 0
        try:
            await self.link.send([(r.topic, r.id) for r in rows])
        except BaseException:
            with self.db.begin() as conn:
                conn.execute(_UNMARK, {"ids": [r.id for r in rows]})
            raise
        self.relayed += len(rows)
        return len(rows)

    async def _consume_loop(self) -> None:
        backoff = 0.5
        while True:
            try:
                async for item in self.link.consume(self.topics, self.prefetch):
                    await self._incoming.put(item)
                    backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer stopped; reconnecting in %.1fs", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def receive(self, topics: Sequence[str], owner: str, limit: int, lease: float) -> list[Delivery]:
        """Claim the rows behind up to ``limit`` broker deliveries, then ack them to the broker."""
        items: list[Incoming] = []
        while len(items) < limit and not self._incoming.empty():
            items.append(self._incoming.get_nowait())
        if not items:
            return []
        now = self.clock.now()
        ids = [i.id for i in items]
        with self.db.begin() as conn:
            rows = conn.execute(_claim_ids(self.server_clock), {"ids": ids, "owner": owner,
                                                                **lease_params(now, lease)}).all()
            claimed = {r.id for r in rows}
            missed = [i for i in ids if i not in claimed]
            if missed:
                existing = [r.id for r in conn.execute(select(messages.c.id).where(messages.c.id.in_(missed)))]
                self.duplicates += len(missed) - len(existing)
                if existing:  # not claimable yet: relay again when it is
                    conn.execute(_UNMARK, {"ids": existing})
                    self._relay_wake.set()
        for item in items:  # the database lease now guards the work; the broker can forget it
            await item.ack()
        return deliveries(rows, owner)

    async def idle(self, seconds: float) -> None:
        """Wait for a broker delivery, or ``seconds``."""
        if not self._incoming.empty():
            return
        with contextlib.suppress(TimeoutError):
            item = await asyncio.wait_for(self._incoming.get(), seconds)
            self._incoming.put_nowait(item)
