"""Change data capture from an ERP table: at-least-once reading, so that effects downstream happen once.

Two modes, per :class:`~huiliu.connectors.sql.settings.SqlSource`:

* **Watermark.** Rows are read in ``(watermark, key…)`` order, page by page, strictly after the position's
  composite mark, so rows that share one timestamp are never lost across a page boundary. With ``overlap``
  (timestamp) or ``sequence_overlap``, every read starts again at ``mark.watermark - overlap``, to catch rows
  committed late with an older value; the row versions already emitted inside that window are remembered in
  the position and skipped. Deleted rows are not seen in this mode (use a change table).
* **Change table.** The ERP (or a trigger) writes ``(key…, op, seq)`` per change; changes are read by ``seq``
  and joined to the current row. A change whose row is gone is reported as a deletion. Several changes of one
  row in a batch are reported once, with the current row.

Delivery (RELIABILITY.md): a :class:`Batch` carries the position after it; the position is saved only by
:meth:`ChangeCapture.commit`, which the caller invokes after it has durably handled the batch (put its
envelopes in the inbox). A crash before the commit reads the batch again on restart: at-least-once.
Each :class:`Change` has a ``version`` (the watermark, plus a digest of the values in timestamp mode since a
timestamp may not change between two updates in one second; or the sequence), so the inbox dedupes on
``(source, key, version)`` and effects happen once::

    capture = ChangeCapture(client, settings.source("orders"), WatermarkStore(hub_db))
    async for batch in capture.batches():
        await handle(batch.changes)     # durable: e.g. published through the outbox in one transaction
        await capture.commit(batch)     # only then is the position saved

or ``await capture.poll(handle)``, which does the same. One reader per source at a time.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, RowMapping, Select, and_, or_, select

from huiliu.connectors.sql.client import SourceTables, SqlClient
from huiliu.connectors.sql.mapping import Converter, reader
from huiliu.connectors.sql.position import Position, PositionStore
from huiliu.connectors.sql.settings import SqlSource, WatermarkKind
from huiliu.errors import ConfigError
from huiliu.i18n import t
from huiliu.store import dumps

__all__ = ["Batch", "Change", "ChangeCapture", "ChangeOp", "ChangeReader"]


class ChangeOp(enum.StrEnum):
    """What happened to a row."""

    UPSERT = "upsert"
    """The row exists; ``values`` is its current content."""
    DELETE = "delete"
    """The row no longer exists (change-table mode only)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One changed row, in canonical values.

    Attributes:
        source: the source's name.
        op: upsert or delete.
        key: key column → canonical value.
        version: identifies this version of the row: the watermark (ISO 8601 in UTC for times) and, in
            timestamp mode, ``#`` and a digest of the values; the sequence in change-table mode.
        values: canonical name → canonical value (``Decimal``, UTC datetimes, ``str``); ``None`` for a deletion.
    """

    source: str
    op: ChangeOp
    key: Mapping[str, Any]
    version: str
    values: Mapping[str, Any] | None

    @property
    def key_text(self) -> str:
        """The key as text: one value as itself, several joined by ``|``."""
        return "|".join(_text(v) for v in self.key.values())

    @property
    def dedupe_key(self) -> str:
        """``<source>:<key>:<version>``, what the inbox dedupes on."""
        return f"{self.source}:{self.key_text}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-shaped dict (values keep their Python types; the hub's codec stores them exactly)."""
        return {"source": self.source, "op": self.op.value, "key": dict(self.key), "version": self.version,
                "values": None if self.values is None else dict(self.values)}


@dataclass(frozen=True, slots=True)
class Batch:
    """Changes read together, and the position after them.

    Attributes:
        source: the source's name.
        changes: in read order.
        position: save it (:meth:`ChangeCapture.commit`) once the changes are durably handled.
        more: whether rows were left unread (the batch was full).
    """

    source: str
    changes: tuple[Change, ...]
    position: Position = field(repr=False)
    more: bool


class ChangeReader:
    """Reads pages of one source: the statements and the row → :class:`Change` conversion. Stateless.

    Args:
        client: the ERP database.
        source: the source.
        tables: its reflected tables (from :meth:`SqlClient.check`).
    """

    def __init__(self, client: SqlClient, source: SqlSource, tables: SourceTables) -> None:
        self.client = client
        self.source = source
        self.tables = tables
        table = tables.table
        zone = source.zone
        self._convert: dict[str, Converter] = {
            name: reader(table.c[name], zone, source.encodings.get(name))
            for name in {*source.key, *source.columns}}
        self.change_mode = tables.change_table is not None
        self.overlap: timedelta | int = (
            source.sequence_overlap if self.change_mode or tables.watermark_kind is WatermarkKind.SEQUENCE
            else source.overlap)
        read = [table.c[name] for name in dict.fromkeys([*source.key, *source.columns])]
        if tables.change_table is not None:
            ct, spec = tables.change_table, source.change_table
            assert spec is not None
            self._order: list[ColumnElement[Any]] = [ct.c[spec.seq_column]]
            joined = ct.outerjoin(table, and_(*(table.c[k] == ct.c[c] for k, c in
                                                zip(source.key, source.change_key, strict=True))))
            columns: list[Any] = [
                ct.c[spec.seq_column].label("_seq"), ct.c[spec.op_column].label("_op"),
                *(ct.c[c].label(f"_ck{i}") for i, c in enumerate(source.change_key)),
                table.c[source.key[0]].label("_present"), *read]
            base = select(*columns).select_from(joined)
            self._delete_ops = frozenset(spec.delete_ops)
        else:
            assert source.watermark is not None
            wm = table.c[source.watermark]
            self._wm_convert = reader(wm, zone)
            self._order = [wm, *(table.c[k] for k in source.key)]
            columns = [wm.label("_wm"), *read]
            base = select(*columns)
        self._base: Select[Any] = base.order_by(*self._order)

    def statement(self, position: Position, cursor: tuple[Any, ...] | None, limit: int) -> Select[Any]:
        """The next page: after ``cursor`` within a run, else from where ``position`` says."""
        stmt = self._base
        if cursor is not None:
            stmt = stmt.where(_after(self._order, cursor))
        elif position.mark is not None:
            if self.overlap:
                stmt = stmt.where(self._order[0] >= position.mark[0] - self.overlap)
            else:
                stmt = stmt.where(_after(self._order, position.mark))
        return stmt.limit(limit)

    def fetch(self, conn: Connection, position: Position, cursor: tuple[Any, ...] | None,
              limit: int) -> Sequence[Row[Any]]:
        """Run :meth:`statement`."""
        return conn.execute(self.statement(position, cursor, limit)).all()

    def order_values(self, row: Row[Any]) -> tuple[Any, ...]:
        """The raw ``(watermark, key…)`` / ``(seq,)`` of a row: where the next page starts."""
        m = row._mapping
        if self.change_mode:
            return (m["_seq"],)
        return (m["_wm"], *(m[k] for k in self.source.key))

    def change(self, row: Row[Any]) -> Change:
        """Turn a row into a :class:`Change`."""
        m = row._mapping
        if self.change_mode:
            present = m["_present"] is not None
            if present:
                key = {k: self._convert[k](m[k]) for k in self.source.key}
            else:
                key = {k: self._convert[k](m[f"_ck{i}"]) for i, k in enumerate(self.source.key)}
            values = self._values(m) if present else None
            return Change(self.source.name, ChangeOp.UPSERT if present else ChangeOp.DELETE, key, str(m["_seq"]),
                          values)
        key = {k: self._convert[k](m[k]) for k in self.source.key}
        values = self._values(m)
        version = _text(self._wm_convert(m["_wm"]))
        if self.tables.watermark_kind is WatermarkKind.TIMESTAMP:
            version += "#" + hashlib.sha256(dumps(values).encode()).hexdigest()[:12]
        return Change(self.source.name, ChangeOp.UPSERT, key, version, values)

    def _values(self, m: RowMapping) -> dict[str, Any]:
        return {canonical: self._convert[column](m[column]) for column, canonical in self.source.columns.items()}

    def read_sync(self, conn: Connection, position: Position, cursor: tuple[Any, ...] | None,
                  limit: int) -> tuple[list[Change], Position, tuple[Any, ...] | None, bool]:
        """Read pages until one yields changes not yet emitted, or the end.

        Returns:
            ``(changes, position after them, run cursor, more)``; ``more`` is false once a page came back short.
        """
        while True:
            rows = self.fetch(conn, position, cursor, limit)
            if not rows:
                return [], position, cursor, False
            emitted: dict[Any, set[str]] = {}
            changes: dict[str, Change] = {}
            for row in rows:
                change = self.change(row)
                watermark = self.order_values(row)[0]
                ident = _ident(change)
                if self.overlap and position.has_seen(watermark, ident):
                    continue
                emitted.setdefault(watermark, set()).add(ident)
                if self.change_mode:  # several changes of one row: report it once, as it is now
                    changes.pop(change.key_text, None)
                changes[change.key_text if self.change_mode else ident] = change
            cursor = self.order_values(rows[-1])
            position = position.advanced(cursor, emitted, self.overlap)
            more = len(rows) == limit
            if changes or not more:
                return list(changes.values()), position, cursor, more


class ChangeCapture:
    """Change data capture of one source, its position kept in a :class:`PositionStore`.

    Args:
        client: the ERP database.
        source: the source (or its name in the client's settings).
        store: where the position is kept; the key is ``sql:<system>.<source>``.
    """

    def __init__(self, client: SqlClient, source: SqlSource | str, store: PositionStore) -> None:
        self.client = client
        if isinstance(source, str):
            try:
                source = client.settings.source(source)
            except KeyError:
                known = ", ".join(s.name for s in client.settings.sources) or "(none)"
                raise ConfigError(t(f"没有名为 {source} 的数据源", f"no source called {source}"),
                                  where=f"{client.system}.sources",
                                  fix=t(f"可用的 source：{known}", f"known sources: {known}")) from None
        self.source = source
        self.store = store
        self.name = f"sql:{client.system}.{self.source.name}"
        self._reader: ChangeReader | None = None

    async def start(self) -> ChangeReader:
        """Reflect the source's tables (once); raises :class:`ConfigError` when a table or column is missing."""
        if self._reader is None:
            tables = await asyncio.to_thread(self.client.source_tables, self.source)
            self._reader = ChangeReader(self.client, self.source, tables)
        return self._reader

    async def position(self) -> Position:
        """The saved position."""
        return Position.from_token(await self.store.load(self.name))

    async def read(self, position: Position, cursor: tuple[Any, ...] | None = None,
                   limit: int | None = None) -> tuple[Batch, tuple[Any, ...] | None]:
        """One batch from ``position`` (``cursor``: where the previous batch of this run ended)."""
        reader_ = await self.start()
        size = limit or self.source.batch_size
        changes, after, cursor, more = await self.client.call(
            f"read.{self.source.name}", lambda conn: reader_.read_sync(conn, position, cursor, size),
            source=self.source)
        return Batch(self.source.name, tuple(changes), after, more), cursor

    async def batches(self) -> AsyncIterator[Batch]:
        """Batches from the saved position up to now; each must be committed once handled.

        Starts from the saved position every time it is called, so batches read but not committed by an
        earlier run (a crash) come again. Ends when the source has nothing more; call again to poll.
        """
        position = await self.position()
        cursor: tuple[Any, ...] | None = None
        while True:
            batch, cursor = await self.read(position, cursor)
            if batch.changes:
                yield batch
            if not batch.more:
                return
            position = batch.position

    async def commit(self, batch: Batch) -> None:
        """Save the position after ``batch``: call it only once the batch's changes are durably handled.

        Commit batches in the order they were read; committing one covers the ones before it.
        """
        await self.store.save(self.name, batch.position.token())

    async def poll(self, handler: Callable[[Batch], Awaitable[None]]) -> int:
        """Hand every new batch to ``handler`` and commit it after the handler returned.

        A handler that raises leaves the position after the last batch it finished; the failed batch is read
        again next time. Returns the number of changes handled.
        """
        handled = 0
        async for batch in self.batches():
            await handler(batch)
            await self.commit(batch)
            handled += len(batch.changes)
        return handled


def _after(columns: Sequence[ColumnElement[Any]], values: Sequence[Any]) -> ColumnElement[bool]:
    """``(c0, c1, …) > (v0, v1, …)`` spelled out, led by ``c0 >= v0`` so an index on ``c0`` serves the range."""
    def greater(i: int) -> ColumnElement[bool]:
        if i == len(columns) - 1:
            last: ColumnElement[bool] = columns[i] > values[i]
            return last
        return or_(columns[i] > values[i], and_(columns[i] == values[i], greater(i + 1)))

    if len(columns) == 1:
        only: ColumnElement[bool] = columns[0] > values[0]
        return only
    return and_(columns[0] >= values[0], greater(0))


def _ident(change: Change) -> str:
    return hashlib.sha256(f"{change.key_text}\x00{change.version}".encode()).hexdigest()[:16]


def _text(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
