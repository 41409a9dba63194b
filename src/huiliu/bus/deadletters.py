"""Dead letters: look at them, replay them after a fix, or discard them with a reason.

A replay publishes the payload again on its topic, in one transaction with the mark on the dead letter
and an event-log entry, so a replay is never lost or doubled. The payload gains ``prior_attempts``:
handlers count those attempts too, so an effect that may have reached the vendor is looked up before it
is made again (DESIGN.md, invariant 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, update

from huiliu.bus.eventlog import EventLog
from huiliu.bus.transports.db import DbTransport
from huiliu.errors import HuiliuError, NotFound
from huiliu.i18n import t
from huiliu.model import Clock, SystemClock
from huiliu.store import Database, loads
from huiliu.store.schema import dead_letters

__all__ = ["DeadLetter", "DeadLetterFilter", "DeadLetters"]

_MARK = update(dead_letters).where(dead_letters.c.id == bindparam("d_id"))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter."""

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    reason: str
    last_error: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    created_at: datetime
    replayed_at: datetime | None
    replays: int
    discarded_at: datetime | None
    note: str | None

    @property
    def open(self) -> bool:
        """Neither replayed since it died nor discarded."""
        return self.discarded_at is None and self.replayed_at is None


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: by id, reason, business key and time; only open ones unless told otherwise."""

    ids: Sequence[int] = ()
    reason: str | None = None
    key: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_closed: bool = False

    def apply(self, query: Select[Any]) -> Select[Any]:
        """Add the conditions to a query over ``dead_letters``."""
        if self.ids:
            query = query.where(dead_letters.c.id.in_(list(self.ids)))
        if self.reason:
            query = query.where(dead_letters.c.reason == self.reason)
        if self.key:
            query = query.where(dead_letters.c.key == self.key)
        if self.since:
            query = query.where(dead_letters.c.created_at >= self.since)
        if self.until:
            query = query.where(dead_letters.c.created_at < self.until)
        if not self.include_closed:
            query = query.where(dead_letters.c.discarded_at.is_(None), dead_letters.c.replayed_at.is_(None))
        return query


class DeadLetters:
    """List, show, replay and discard dead letters."""

    def __init__(self, db: Database, transport: DbTransport, eventlog: EventLog, clock: Clock | None = None) -> None:
        self.db = db
        self.transport = transport
        self.eventlog = eventlog
        self.clock = clock or SystemClock()

    def find(self, where: DeadLetterFilter | None = None, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, newest first."""
        query = (where or DeadLetterFilter()).apply(select(dead_letters))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(dead_letters.c.id.desc()).limit(limit).offset(offset)).all()
        return [_row(r) for r in rows]

    def counts_by_reason(self) -> dict[str, int]:
        """Open dead letters per reason: the rule that fails most shows first."""
        query = DeadLetterFilter().apply(select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason))
        with self.db.read() as conn:
            return {str(reason): int(n) for reason, n in conn.execute(query).all()}

    def get(self, dead_id: int) -> DeadLetter:
        """One dead letter, or a clear error."""
        with self.db.read() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id)).first()
        if row is None:
            raise _not_found(dead_id)
        return _row(row)

    def replay(self, where: DeadLetterFilter, *, actor: str = "cli") -> list[int]:
        """Publish the matching open dead letters again; returns their ids.

        Raises:
            HuiliuError: an id given explicitly does not exist or is already replayed or discarded.
        """
        replayed: list[int] = []
        with self.db.begin() as conn:
            rows = [_row(r) for r in conn.execute(where.apply(select(dead_letters)).order_by(dead_letters.c.id))]
            self._check_explicit(conn, where, rows)
            now = self.clock.now()
            for dead in rows:
                payload = {**dead.payload, "prior_attempts": int(dead.payload.get("prior_attempts", 0)) + dead.attempts,
                           "replayed_from": dead.id}
                self.transport.publish(conn, dead.topic, dead.key, payload)
                conn.execute(_MARK, {"d_id": dead.id, "replayed_at": now, "replays": dead.replays + 1})
                self.eventlog.record(conn, case_id=dead.key, activity="deadletter.replayed", system="hub", actor=actor,
                                     detail={"dead_letter": dead.id, "topic": dead.topic, "reason": dead.reason})
                replayed.append(dead.id)
        return replayed

    def discard(self, where: DeadLetterFilter, *, note: str, actor: str = "cli") -> list[int]:
        """Close the matching open dead letters without replaying them; ``note`` says why (required)."""
        if not note.strip():
            raise HuiliuError(t("丢弃死信必须写明原因", "discarding a dead letter needs a reason"),
                              where="note", fix=t("例如：已在 ERP 手工录入", "e.g. entered by hand in the ERP"))
        done: list[int] = []
        with self.db.begin() as conn:
            rows = [_row(r) for r in conn.execute(where.apply(select(dead_letters)).order_by(dead_letters.c.id))]
            self._check_explicit(conn, where, rows)
            now = self.clock.now()
            for dead in rows:
                conn.execute(_MARK, {"d_id": dead.id, "discarded_at": now, "note": note})
                self.eventlog.record(conn, case_id=dead.key, activity="deadletter.discarded", system="hub",
                                     actor=actor, detail={"dead_letter": dead.id, "note": note})
                done.append(dead.id)
        return done

    @staticmethod
    def _check_explicit(conn: Connection, where: DeadLetterFilter, rows: list[DeadLetter]) -> None:
        found = {d.id for d in rows}
        for dead_id in where.ids:
            if dead_id in found:
                continue
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == dead_id)).first()
            if row is None:
                raise _not_found(dead_id)
            raise HuiliuError(
                t(f"死信 {dead_id} 已处理过（已重放或已丢弃）",
                  f"dead letter {dead_id} is already replayed or discarded"),
                where=f"dead letter {dead_id}",
                fix=t("用 list --all 查看；新的失败会生成新的死信",
                      "see list --all; a new failure makes a new dead letter"))


def _not_found(dead_id: int) -> NotFound:
    return NotFound(t(f"死信 {dead_id} 不存在", f"dead letter {dead_id} does not exist"),
                       where=f"dead letter {dead_id}", fix=t("用 list 查看现有死信", "use list to see them"))


def _row(r: Any) -> DeadLetter:
    return DeadLetter(r.id, r.topic, r.key, loads(r.payload), r.reason, r.last_error, r.attempts, loads(r.attempt_log),
                      r.created_at, r.replayed_at, r.replays, r.discarded_at, r.note)
