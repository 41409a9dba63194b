"""The engine and transactions. SQLite runs in WAL mode with a busy timeout so several processes share it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from huiliu.errors import ConfigError
from huiliu.i18n import t

__all__ = ["Database"]


class Database:
    """A database: its engine, its migrations, and short transactions.

    Args:
        url: a SQLAlchemy URL, e.g. ``sqlite:///var/huiliu.db`` or ``postgresql+psycopg://…``.
        sqlite_synchronous: SQLite's ``synchronous`` pragma. ``FULL`` survives power loss; ``NORMAL``
            survives a crashed process but may lose the last commits on power loss.
    """

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        try:
            parsed = make_url(url)
            parsed.get_dialect()  # an unknown backend or a missing driver fails here, not at first use
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            raise ConfigError(
                t(f"数据库地址无效：{_masked(url)}（{type(exc).__name__}）",
                  f"invalid database URL: {_masked(url)} ({type(exc).__name__})"),
                where="HUILIU_DATABASE_URL",
                fix=t("例如 sqlite:///var/huiliu.db 或 postgresql+psycopg://user@host/db",
                      "e.g. sqlite:///var/huiliu.db or postgresql+psycopg://user@host/db"),
            ) from exc
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            kwargs["pool_pre_ping"] = True  # a connection the server dropped is replaced, not used
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine: Engine = create_engine(parsed, **kwargs)
        self.read_engine: Engine = create_engine(parsed, **kwargs) if self.is_sqlite else self.engine
        if self.is_sqlite:
            sync = sqlite_synchronous.upper()
            if sync not in {"FULL", "NORMAL", "EXTRA"}:
                raise ConfigError(t(f"不支持的 SQLite synchronous：{sqlite_synchronous}",
                                    f"unsupported SQLite synchronous: {sqlite_synchronous}"),
                                  where="HUILIU_SQLITE_SYNCHRONOUS", fix=t("用 FULL 或 NORMAL", "use FULL or NORMAL"))

            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA synchronous={sync}")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()
                dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver

            def _begin_write(conn: Connection) -> None:
                # Take the write lock at BEGIN, so that two writers queue on the busy timeout instead of
                # failing with "database is locked" when a read transaction tries to upgrade.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            def _begin_read(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN")

            event.listen(self.engine, "connect", _pragmas)
            event.listen(self.read_engine, "connect", _pragmas)
            event.listen(self.engine, "begin", _begin_write)
            event.listen(self.read_engine, "begin", _begin_read)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads."""
        with self.read_engine.connect() as conn:
            yield conn

    def alembic_config(self) -> Config:
        """Alembic configuration pointing at the packaged migrations and this database."""
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("huiliu.store") / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%"))
        cfg.attributes["connection"] = None
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent).

        Raises:
            ConfigError: the database cannot be reached (the first thing a process does, so a wrong
                address or a stopped server is reported at start-up).
        """
        cfg = self.alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            where = _masked(self.url.render_as_string(hide_password=False))
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise ConfigError(
                t(f"无法连接数据库：{reason}", f"cannot reach the database: {reason}"), where=where,
                fix=t("检查数据库是否已启动、地址与端口是否正确（HUILIU_DATABASE_URL）",
                      "check that the database runs and the address and port are right (HUILIU_DATABASE_URL)"),
            ) from exc

    def long_transactions(self, older_than: float) -> list[dict[str, Any]]:
        """Transactions open longer than ``older_than`` seconds on this database (PostgreSQL).

        One long-lived transaction stalls a PostgreSQL queue: rows it could still see are never
        vacuumed and every claim scans them (RELIABILITY.md). SQLite has one writer at a time and no
        such view, so the list is empty there.
        """
        if self.is_sqlite:
            return []
        query = text(
            "SELECT pid, state, usename, application_name, "
            "EXTRACT(EPOCH FROM (now() - xact_start)) AS seconds, left(query, 200) AS query "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND xact_start IS NOT NULL AND now() - xact_start > make_interval(secs => :older) "
            "ORDER BY xact_start")
        with self.read() as conn:
            return [dict(r._mapping) | {"seconds": float(r.seconds)}
                    for r in conn.execute(query, {"older": older_than})]

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
        self.read_engine.dispose()


def _masked(url: str) -> str:
    """The URL with any password replaced, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
