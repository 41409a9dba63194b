"""The database transport: a table of messages with leases (SQLite by default).

A claim sets ``lease_owner`` and ``lease_until`` and counts the attempt in one statement; a crashed
worker's messages become claimable again when their lease runs out. Ack deletes the row only if the
lease is still ours (same owner, same attempt), inside the transaction that records the result.

Ordering: a message is handed out only when no older message of the same business key is left (leased,
waiting to be retried, or not yet claimed). The events of one approval instance are therefore applied in
the order they were published, whatever the number of workers, while different keys run in parallel.
On PostgreSQL "older" means older among committed messages: two transactions publishing for one key at
the same instant are ordered by commit, not by id. The runtime publishes a key's effects one after
another, so its order is exact; concurrent webhooks of one instance are hints, re-read and deduplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from huiliu.bus.transport import Delivery, LeaseLost
from huiliu.model import Clock, SystemClock
from huiliu.store import Database, dumps, loads
from huiliu.store.schema import dead_letters, messages
from huiliu.store.statements import insert_if_absent
from huiliu.store.types import UTCDateTime

__all__ = ["DbTransport"]

_INSERT = insert(messages)
_FENCE = and_(messages.c.id == bindparam("f_id"), messages.c.lease_owner == bindparam("f_owner"),
              messages.c.attempts == bindparam("f_attempts"))
_DELETE_FENCED = delete(messages).where(_FENCE)
_UPDATE_FENCED = update(messages).where(_FENCE)


def database_now(server_clock: bool) -> ColumnElement[Any]:
    """The time leases are judged by: the database server's clock, or the worker's (bound ``:now``).

    On PostgreSQL the server's clock (the default): workers on several machines then agree on when a
    lease ran out, however far their own clocks drift — a worker whose clock ran ahead would otherwise
    take work another still holds, and both would call the ERP. SQLite lives on one machine.
    """
    return func.now() if server_clock else bindparam("now", type_=UTCDateTime())


def claimable(server_clock: bool) -> ColumnElement[bool]:
    """Due, not leased (or its lease ran out), and no older message of its key left."""
    now = database_now(server_clock)
    older = messages.alias("older")
    has_older = select(older.c.id).where(older.c.key == messages.c.key, older.c.id < messages.c.id).exists()
    return and_(messages.c.available_at <= now,
                or_(messages.c.lease_until.is_(None), messages.c.lease_until < now), ~has_older)


RETURNED = (messages.c.id, messages.c.topic, messages.c.key, messages.c.payload, messages.c.attempts,
            messages.c.attempt_log)
"""The columns a claim returns to build a :class:`Delivery`."""


def lease_values(server_clock: bool) -> dict[str, Any]:
    """What a claim sets: the owner, the lease's end, one more attempt.

    Bound: ``:owner``, and ``:lease_s`` (PostgreSQL, added to the server's clock) or ``:until``.
    """
    if server_clock:
        until: Any = func.now() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("lease_s", type_=Float()))
    else:
        until = bindparam("until", type_=UTCDateTime())
    return {"lease_owner": bindparam("owner"), "lease_until": until, "attempts": messages.c.attempts + 1}


def lease_params(now: datetime, lease: float) -> dict[str, Any]:
    """The bound values :func:`claimable` and :func:`lease_values` need, for either dialect."""
    return {"now": now, "until": now + timedelta(seconds=lease), "lease_s": lease}


def deliveries(rows: Sequence[Any], owner: str) -> list[Delivery]:
    """Claimed rows as deliveries, oldest first."""
    return sorted((Delivery(r.id, r.topic, r.key, loads(r.payload), r.attempts, owner, loads(r.attempt_log))
                   for r in rows), key=lambda d: d.id)


@functools.cache
def _claim_statement(dialect: str, server_clock: bool) -> Update:
    """Lease the oldest claimable messages of some topics in one statement, returning them."""
    candidates = (
        select(messages.c.id)
        .where(messages.c.topic.in_(bindparam("topics", expanding=True)), claimable(server_clock))
        .order_by(messages.c.id)
        .limit(bindparam("lim"))
    )
    if dialect != "sqlite":
        candidates = candidates.with_for_update(skip_locked=True)
    return (
        update(messages).where(messages.c.id.in_(candidates.scalar_subquery())).values(**lease_values(server_clock))
        .returning(*RETURNED)
    )


class DbTransport:
    """Messages in the hub's own database.

    Args:
        db: the database (its transactions are the publish transactions).
        clock: time source for availability (and for leases where ``server_clock`` is off).
        server_clock: judge leases by the database server's clock; default: on for PostgreSQL.
    """

    def __init__(self, db: Database, clock: Clock | None = None, *, server_clock: bool | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.server_clock = (not db.is_sqlite) if server_clock is None else server_clock
        """Judge leases by the database server's clock (PostgreSQL's default; see :func:`database_now`)."""
        self._wakeup: asyncio.Event | None = None

    async def start(self) -> None:
        """Nothing to connect: the database is the transport."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def _wake(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    async def receive(self, topics: Sequence[str], owner: str, limit: int, lease: float) -> list[Delivery]:
        """Claim up to ``limit`` available messages (see :meth:`claim`)."""
        self._wake().clear()  # before claiming: a publish after this point ends the next idle() at once
        return self.claim(topics, owner, limit, lease)

    async def idle(self, seconds: float) -> None:
        """Wait for a publish in this process, or ``seconds`` (other processes are seen by polling)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake().wait(), seconds)

    def publish(self, conn: Connection, topic: str, key: str, payload: dict[str, Any], *,
                dedupe_key: str | None = None, delay: float = 0.0) -> bool:
        """Queue a message in the caller's transaction; ``False`` when ``dedupe_key`` is already queued."""
        now = self.clock.now()
        values = {"topic": topic, "key": key, "payload": dumps(payload), "dedupe_key": dedupe_key,
                  "attempts": 0, "available_at": now + timedelta(seconds=delay), "created_at": now,
                  "attempt_log": "[]"}
        if dedupe_key is not None:
            if not insert_if_absent(conn, messages, values):
                return False
        else:
            conn.execute(_INSERT, values)
        if self._wakeup is not None:
            self._wakeup.set()
        return True

    def claim(self, topics: Sequence[str], owner: str, limit: int, lease: float) -> list[Delivery]:
        """Take up to ``limit`` available messages, oldest first, under a lease."""
        now = self.clock.now()
        with self.db.begin() as conn:
            rows = conn.execute(_claim_statement(conn.dialect.name, self.server_clock), {
                "topics": list(topics), "lim": limit, "owner": owner, **lease_params(now, lease)}).all()
        return deliveries(rows, owner)

    @staticmethod
    def _fence(delivery: Delivery) -> dict[str, Any]:
        return {"f_id": delivery.id, "f_owner": delivery.lease_owner, "f_attempts": delivery.attempts}

    def ack(self, conn: Connection, delivery: Delivery) -> None:
        """Delete the message in the caller's transaction; :class:`LeaseLost` if our lease is gone."""
        if conn.execute(_DELETE_FENCED, self._fence(delivery)).rowcount != 1:
            raise LeaseLost(f"message {delivery.id}: lease lost (attempt {delivery.attempts})")

    def _log(self, delivery: Delivery, error: str) -> str:
        entry = {"attempt": delivery.attempts, "at": self.clock.now().isoformat(), "error": error[:2000]}
        return dumps([*delivery.attempt_log, entry])

    def retry_later(self, delivery: Delivery, delay: float, error: str) -> None:
        """Release the message for another attempt after ``delay`` seconds (fenced; a lost lease is a no-op)."""
        with self.db.begin() as conn:
            conn.execute(_UPDATE_FENCED, {
                **self._fence(delivery), "lease_owner": None, "lease_until": None, "relayed_at": None,
                "available_at": self.clock.now() + timedelta(seconds=delay), "last_error": error[:4000],
                "attempt_log": self._log(delivery, error)})

    def dead_letter(self, conn: Connection, delivery: Delivery, reason: str, error: str, *,
                    detail: Mapping[str, Any] | None = None) -> None:
        """Move the message to ``dead_letters`` with its reason, every attempt and the error's ``detail``."""
        if conn.execute(_DELETE_FENCED, self._fence(delivery)).rowcount != 1:
            raise LeaseLost(f"message {delivery.id}: lease lost before dead-lettering")
        conn.execute(insert(dead_letters).values(
            message_id=delivery.id, topic=delivery.topic, key=delivery.key, payload=dumps(delivery.payload),
            reason=reason, last_error=error[:4000], attempts=delivery.attempts,
            attempt_log=self._log(delivery, error), created_at=self.clock.now(),
            detail=None if detail is None else dumps(detail)))

    def bury(self, conn: Connection, *, topic: str, key: str, payload: dict[str, Any], reason: str,
             error: str, attempts: int = 1, detail: Mapping[str, Any] | None = None) -> None:
        """Write a dead letter for work that was never a queued message of its own.

        For example a run that a handler found unprocessable; replaying it publishes ``payload`` on ``topic``.
        ``detail`` is the structured error (:func:`huiliu.bus.diagnosis.diagnose`).
        """
        conn.execute(insert(dead_letters).values(
            message_id=0, topic=topic, key=key, payload=dumps(payload), reason=reason, last_error=error[:4000],
            attempts=attempts, attempt_log=dumps([{"attempt": attempts, "at": self.clock.now().isoformat(),
                                                   "error": error[:2000]}]),
            created_at=self.clock.now(), detail=None if detail is None else dumps(detail)))

    def cancel(self, conn: Connection, topic: str, key: str) -> int:
        """Withdraw the queued messages of ``key`` on ``topic`` that no one has taken yet (e.g. a wait's
        deadline once the awaited event came); returns how many. One being delivered is left alone: its
        handler must find it moot.
        """  # noqa: D205
        return int(conn.execute(delete(messages).where(
            messages.c.topic == topic, messages.c.key == key, messages.c.lease_owner.is_(None),
            messages.c.relayed_at.is_(None))).rowcount)

    def pending(self) -> int:
        """Messages not yet settled."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())
