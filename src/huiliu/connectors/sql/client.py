"""The connection to the foreign ERP database: engine, reflection of the configured tables, guarded calls.

This is the ERP's database, not the hub's own (:mod:`huiliu.store`). Statements are SQLAlchemy Core built on
reflected tables, values always bound as parameters. The drivers are synchronous (PyMySQL, psycopg), so each
call runs in a worker thread; every database exception is translated once, here, by
:func:`huiliu.connectors.sql.errors.translate`.

Schema drift: :meth:`SqlClient.check` reflects every configured table at start-up and raises a
:class:`ConfigError` naming the table, the column and the fix; a statement that later fails because a column
or table went away (an ERP upgrade renamed it) re-runs the check, so the same precise error is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Engine, MetaData, Table, create_engine, event, inspect
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
from sqlalchemy.sql import sqltypes

from huiliu.connectors.sql.errors import is_schema_error, missing_column, missing_table, translate
from huiliu.connectors.sql.settings import SqlSettings, SqlSource, SqlTarget, WatermarkKind
from huiliu.errors import ConfigError
from huiliu.i18n import t

__all__ = ["SourceTables", "SqlClient"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SourceTables:
    """A source's reflected tables and what reflection decided.

    Attributes:
        table: the table read.
        change_table: the change table, in change-table mode.
        watermark_kind: what the watermark holds (``None`` in change-table mode).
    """

    table: Table
    change_table: Table | None
    watermark_kind: WatermarkKind | None


class SqlClient:
    """One ERP database.

    Args:
        settings: the connector settings.
        engine: an engine to use instead of one made from ``settings.url`` (tests, a shared pool).
    """

    def __init__(self, settings: SqlSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.system = settings.system
        self.engine = engine if engine is not None else _engine(settings)
        self._tables: dict[tuple[str | None, str], Table] = {}

    @property
    def dialect(self) -> str:
        """``mysql`` (MariaDB too) or ``postgresql``."""
        return self.engine.dialect.name

    async def call(self, operation: str, fn: Callable[[Connection], _T], *, write: bool = False,
                   source: SqlSource | None = None, target: SqlTarget | None = None) -> _T:
        """Run ``fn`` on a connection in a worker thread; a write commits when ``fn`` returns.

        Args:
            operation: named in errors, e.g. ``read.orders``.
            fn: the work; it must not keep the connection.
            write: run in a transaction that is committed (reads roll back, they changed nothing).
            source: the source read, re-checked when a column or table turned out missing.
            target: the target written, likewise.

        Raises:
            ConfigError: a configured table or column no longer exists.
            TransientError: connection refused or lost, deadlock, lock wait timeout.
            VendorRejected: bad credentials, or the database refused the statement.
        """
        return await asyncio.to_thread(self.call_sync, operation, fn, write=write, source=source, target=target)

    def call_sync(self, operation: str, fn: Callable[[Connection], _T], *, write: bool = False,
                  source: SqlSource | None = None, target: SqlTarget | None = None) -> _T:
        """:meth:`call` in the calling thread (benchmarks, and code already off the event loop)."""
        try:
            if write:
                with self.engine.begin() as conn:
                    return fn(conn)
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            if is_schema_error(exc) and (source is not None or target is not None):
                self._tables.clear()  # the schema changed under us: reflect again to say what is missing
                if source is not None:
                    self._check_source(source)
                if target is not None:
                    self._check_target(target)
            raise self.error(exc, operation) from exc

    def error(self, exc: SQLAlchemyError, operation: str) -> Exception:
        """The huiliu error for a database exception (the password scrubbed)."""
        return translate(exc, system=self.system, operation=operation, where=self.settings.safe_url,
                         password=self.settings.password)

    async def check(self) -> dict[str, SourceTables]:
        """Reflect every configured source and target; called at start-up.

        Returns:
            the sources' tables by source name.

        Raises:
            ConfigError: a table or column is missing, or a watermark has a type that cannot be ordered.
        """
        return await asyncio.to_thread(self.check_sync)

    def check_sync(self) -> dict[str, SourceTables]:
        """:meth:`check` in the calling thread."""
        self._tables.clear()
        found = {source.name: self._check_source(source) for source in self.settings.sources}
        for target in self.settings.targets:
            self._check_target(target)
        return found

    def source_tables(self, source: SqlSource) -> SourceTables:
        """The reflected tables of ``source`` (reflected now if they were not)."""
        return self._check_source(source)

    def target_table(self, target: SqlTarget) -> Table:
        """The reflected table of ``target`` (reflected now if it was not)."""
        return self._check_target(target)

    def _check_source(self, source: SqlSource) -> SourceTables:
        where = f"sources.{source.name}"
        table = self.table(source.table, source.db_schema, f"{where}.table")
        self._require(table, source.key, f"{where}.key")
        self._require(table, source.columns, f"{where}.columns")
        self._require(table, source.encodings, f"{where}.encodings")
        change: Table | None = None
        kind: WatermarkKind | None = None
        if source.change_table is not None:
            spec = source.change_table
            change = self.table(spec.table, source.db_schema, f"{where}.change_table.table")
            self._require(change, source.change_key, f"{where}.change_table.key")
            self._require(change, (spec.seq_column,), f"{where}.change_table.seq_column")
            self._require(change, (spec.op_column,), f"{where}.change_table.op_column")
        else:
            assert source.watermark is not None
            self._require(table, (source.watermark,), f"{where}.watermark")
            kind = self._watermark_kind(source, table.c[source.watermark], f"{where}.watermark")
        return SourceTables(table, change, kind)

    def _check_target(self, target: SqlTarget) -> Table:
        where = f"targets.{target.name}"
        table = self.table(target.table, target.db_schema, f"{where}.table")
        self._require(table, (target.reference_column,), f"{where}.reference_column")
        self._require(table, target.columns.values(), f"{where}.columns")
        return table

    def table(self, name: str, schema: str | None, where: str) -> Table:
        """Reflect ``name`` (cached), or raise the :class:`ConfigError` that names it."""
        cache = (schema, name)
        if cache not in self._tables:
            try:
                self._tables[cache] = Table(name, MetaData(), schema=schema, autoload_with=self.engine)
            except NoSuchTableError:
                known = self._table_names(schema)
                raise missing_table(name, system=self.system, where=where, known=known) from None
            except SQLAlchemyError as exc:
                raise self.error(exc, f"reflect.{name}") from exc
        return self._tables[cache]

    def _table_names(self, schema: str | None) -> list[str]:
        try:
            return list(inspect(self.engine).get_table_names(schema=schema))
        except SQLAlchemyError:
            return []

    def _require(self, table: Table, columns: Iterable[str], where: str) -> None:
        for column in columns:
            if column not in table.c:
                raise missing_column(table.name, column, system=self.system, where=where, known=list(table.c.keys()))

    def _watermark_kind(self, source: SqlSource, column: Column[Any], where: str) -> WatermarkKind:
        kind_of = column.type
        if isinstance(kind_of, sqltypes.DateTime):
            detected = WatermarkKind.TIMESTAMP
        elif isinstance(kind_of, sqltypes.Integer) or (
                isinstance(kind_of, sqltypes.Numeric) and not isinstance(kind_of, sqltypes.Float)
                and (kind_of.scale or 0) == 0):
            detected = WatermarkKind.SEQUENCE
        else:
            raise ConfigError(
                t(f"水位列 {source.table}.{column.name} 的类型 {kind_of} 不能用作水位",
                  f"the watermark {source.table}.{column.name} has type {kind_of}, which cannot be a watermark"),
                where=f"{self.system}.{where}",
                fix=t("选用更新时间（DATETIME/TIMESTAMP）或递增序号（整数）列，或改用 change_table",
                      "use an updated-at (DATETIME/TIMESTAMP) or an increasing integer column, or a change_table"))
        if source.watermark_kind is not None and source.watermark_kind is not detected:
            raise ConfigError(
                t(f"水位列 {source.table}.{column.name} 是 {detected.value}，设置为 {source.watermark_kind.value}",
                  f"the watermark {source.table}.{column.name} is a {detected.value}, the settings say "
                  f"{source.watermark_kind.value}"),
                where=f"{self.system}.{where}", fix=t("修正 watermark_kind 或删去它（自动判断）",
                                                      "correct watermark_kind, or leave it out to detect it"))
        return detected

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _engine(settings: SqlSettings) -> Engine:
    url = settings.parsed_url
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_size": settings.pool_size}
    if url.get_backend_name() in {"mysql", "mariadb"}:
        # utf8mb4 on the wire: the server converts GBK (or latin1 …) columns to it, and 4-byte characters
        # (emoji, 𠮷) survive. TIMESTAMP columns are read in UTC: the session zone is set on every connection.
        kwargs["connect_args"] = {"charset": "utf8mb4", "connect_timeout": settings.connect_timeout}
        engine = create_engine(url, **kwargs)

        def _session(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET time_zone = '+00:00'")
            cursor.close()

        event.listen(engine, "connect", _session)
        return engine
    kwargs["connect_args"] = {"connect_timeout": settings.connect_timeout}
    return create_engine(url, **kwargs)
