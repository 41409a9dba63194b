"""SQL actions flows may call, each safe to retry (DESIGN.md, invariant 3).

* ``sql.row.insert``: insert a document into an intermediate table (中间表). The hub's reference goes into the
  target's ``reference_column``, which must be UNIQUE in the ERP database. A retry (attempt ≥ 2) looks the
  reference up first and adopts the row it finds; an insert refused for that unique key also finds and adopts
  the row (the same document sent twice, or a reply lost after the commit). So one document makes one row.
  A duplicate on another unique constraint is the ERP's refusal (:class:`VendorRejected`).
* ``sql.changes.since``: one batch of changes of a source after a position the flow keeps (the same read as
  :class:`~huiliu.connectors.sql.cdc.ChangeCapture`, without saving anything). Read-only.

The names start with the settings' ``system`` (``sql`` unless set), so two ERP databases can be registered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.exc import IntegrityError

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.sql.cdc import ChangeCapture
from huiliu.connectors.sql.client import SqlClient
from huiliu.connectors.sql.errors import is_unique_violation
from huiliu.connectors.sql.mapping import reader, writer
from huiliu.connectors.sql.position import MemoryPositionStore, Position
from huiliu.connectors.sql.settings import SqlTarget
from huiliu.errors import MappingError
from huiliu.i18n import t

__all__ = ["CHANGES_SINCE", "ROW_INSERT", "ChangesSince", "RowInsert", "register_actions"]

ROW_INSERT = "sql.row.insert"
CHANGES_SINCE = "sql.changes.since"


def _name(client: SqlClient, action: str) -> str:
    return f"{client.system}.{action.partition('.')[2]}"


class RowInsert:
    """The ``sql.row.insert`` action.

    Request: ``{"target": <target name, optional when there is one>, "row": {<canonical field>: value}}``.
    Result: ``{"target", "table", "reference", "key": {<primary key column>: value}, "row": {<column>: value},
    "adopted"}``; ``row`` is the row as stored (with what the database filled in), ``adopted`` true when the row
    was already there (made by an earlier attempt or an earlier send of the same document).

    Args:
        client: the ERP database.
    """

    def __init__(self, client: SqlClient) -> None:
        self.client = client
        self.action = _name(client, ROW_INSERT)

    def _target(self, request: Mapping[str, Any]) -> SqlTarget:
        targets = self.client.settings.targets
        name = request.get("target")
        if name is None and len(targets) == 1:
            return targets[0]
        known = ", ".join(target.name for target in targets) or "(none)"
        try:
            return self.client.settings.target(str(name))
        except KeyError:
            raise MappingError(t(f"没有名为 {name} 的中间表", f"no intermediate table called {name}"),
                               where=f"{self.action}.target",
                               fix=t(f"可用的 target：{known}", f"known targets: {known}")) from None

    def _values(self, target: SqlTarget, table: Table, row: Mapping[str, Any], reference: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field, value in row.items():
            column = target.columns.get(field)
            if column is None:
                known = ", ".join(target.columns)
                raise MappingError(t(f"中间表 {target.name} 没有字段 {field}",
                                     f"target {target.name} has no field {field}"),
                                   where=f"{self.action}.row.{field}",
                                   fix=t(f"在设置 targets.{target.name}.columns 中加入它；现有：{known}",
                                         f"add it to targets.{target.name}.columns; known: {known}"))
            values[column] = writer(table.c[column], target.zone, f"{self.action}.row.{field}")(value)
        values[target.reference_column] = reference
        return values

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Insert (or adopt) the row carrying ``ctx.reference``."""
        row = request.get("row")
        if not isinstance(row, Mapping):
            raise MappingError(t("请求缺少 row 对象", "the request has no row object"), where=f"{self.action}.row",
                               fix=t("流程应传入 {\"row\": {…}}", "the flow must pass {\"row\": {…}}"))
        target = self._target(request)
        table = await asyncio.to_thread(self.client.target_table, target)
        values = self._values(target, table, row, ctx.reference)  # map before touching the database
        operation = f"insert.{target.name}"
        lookup = ctx.attempt > 1

        def work(conn: Connection) -> tuple[Mapping[str, Any], bool]:
            if lookup:
                found = self._find(conn, target, table, ctx.reference)
                if found is not None:
                    return found, True
            try:
                with conn.begin():
                    conn.execute(insert(table).values(values))
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                found = self._find(conn, target, table, ctx.reference)
                if found is None:  # another unique constraint: the ERP refuses the document
                    raise
                return found, True
            stored = self._find(conn, target, table, ctx.reference)
            assert stored is not None
            return stored, False

        stored, adopted = await self.client.call(operation, work, target=target)
        zone = target.zone
        canonical = {name: reader(table.c[name], zone)(value) for name, value in stored.items()}
        return {"target": target.name, "table": target.table, "reference": ctx.reference,
                "key": {c.name: canonical[c.name] for c in table.primary_key.columns},
                "row": canonical, "adopted": adopted}

    @staticmethod
    def _find(conn: Connection, target: SqlTarget, table: Table, reference: str) -> Mapping[str, Any] | None:
        with conn.begin():
            row = conn.execute(select(table).where(table.c[target.reference_column] == reference)).first()
        return None if row is None else dict(row._mapping)


class ChangesSince:
    """The ``sql.changes.since`` action.

    Request: ``{"source": <source name>, "position": <token from the previous result, or null for the start>,
    "limit": <rows, optional, the source's batch_size by default>}``. Result: ``{"source", "changes": [{"source",
    "op", "key", "version", "values"}], "position": <token to pass next time>, "more"}``; ``more`` is true
    when rows were left unread. Nothing is saved: the flow keeps the position.

    Args:
        client: the ERP database.
    """

    def __init__(self, client: SqlClient) -> None:
        self.client = client
        self.action = _name(client, CHANGES_SINCE)
        self._captures: dict[str, ChangeCapture] = {}

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read one batch after the given position."""
        name = request.get("source")
        try:
            source = self.client.settings.source(str(name))
        except KeyError:
            known = ", ".join(s.name for s in self.client.settings.sources) or "(none)"
            raise MappingError(t(f"没有名为 {name} 的数据源", f"no source called {name}"),
                               where=f"{self.action}.source",
                               fix=t(f"可用的 source：{known}", f"known sources: {known}")) from None
        limit = request.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50_000):
            raise MappingError(t(f"limit 须为 1 到 50000 的整数，收到 {limit!r}",
                                 f"limit must be an integer from 1 to 50000, got {limit!r}"),
                               where=f"{self.action}.limit", fix=t("改正 limit 或省略它", "fix limit or leave it out"))
        token = request.get("position")
        position = Position.from_token(token if isinstance(token, str) else None)
        capture = self._captures.setdefault(source.name, ChangeCapture(self.client, source, MemoryPositionStore()))
        batch, _cursor = await capture.read(position, limit=limit)
        return {"source": source.name, "changes": [change.to_json() for change in batch.changes],
                "position": batch.position.token(), "more": batch.more}


def register_actions(registry: ActionRegistry, client: SqlClient) -> None:
    """Register ``<system>.row.insert`` and ``<system>.changes.since``."""
    registry.register(_name(client, ROW_INSERT), RowInsert(client))
    registry.register(_name(client, CHANGES_SINCE), ChangesSince(client))
