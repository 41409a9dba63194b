"""Database errors of the foreign ERP database sorted into retry / reject / fix-the-settings, in one place.

Every statement the connector runs passes through :func:`translate` (MariaDB/MySQL by PyMySQL error number,
PostgreSQL by SQLSTATE; both through SQLAlchemy's wrappers):

* connection refused, lost or reset (MySQL 2003/2006/2013, PostgreSQL class 08, a connection SQLAlchemy
  invalidated, server shutting down 57P01-57P03) → :class:`TransientError` (:class:`NoReply` when the
  connection was lost during a statement: it may have been applied);
* deadlock and lock-wait timeout (1213/1205, 40P01/40001/55P03, statement timeout 57014) → :class:`TransientError`;
* bad credentials or no such database (1045/1044/1049/1698, 28000/28P01/3D000, libpq's connection messages)
  → :class:`VendorRejected` with a Chinese message that names the user and host, never the password;
* constraint violations (duplicate key, foreign key, NOT NULL, value too long, bad value: 1062/1452/1048/
  1406/1366…, class 23 and 22) → :class:`VendorRejected` carrying the database's message;
* unknown column or table (1054/1146, 42703/42P01) → :class:`ConfigError`: the ERP's schema changed (a
  renamed column); the client re-reflects the table to name what is missing (:func:`missing_column`).

The password is scrubbed from every message (a driver may echo the connection string).
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from huiliu.errors import ConfigError, HuiliuError, NoReply, TransientError, VendorRejected
from huiliu.i18n import t

__all__ = [
    "Failure",
    "is_schema_error",
    "is_unique_violation",
    "missing_column",
    "missing_table",
    "translate",
]

_MYSQL_REFUSED = {2003, 2005}
_MYSQL_LOST = {2006, 2013, 2014, 2055, 1927}
_MYSQL_LOCK = {1205, 1213, 1614}
_MYSQL_AUTH = {1044, 1045, 1049, 1698, 1251, 1130}
_MYSQL_SCHEMA = {1054, 1146, 1109}
_MYSQL_UNIQUE = 1062
_PG_LOCK = {"40P01", "40001", "55P03", "57014"}
_PG_SHUTDOWN = {"57P01", "57P02", "57P03"}
_PG_AUTH = {"28000", "28P01", "3D000"}
_PG_SCHEMA = {"42703", "42P01", "3F000"}
_PG_UNIQUE = "23505"
_AUTH_WORDS = ("password authentication failed", "role", "does not exist", "no pg_hba.conf entry",
               "authentication failed")
_LIMIT = 500


class Failure:
    """What a database exception is, read once from the driver's error (code, SQLSTATE, message)."""

    def __init__(self, exc: BaseException, password: str | None = None) -> None:
        orig: Any = exc.orig if isinstance(exc, DBAPIError) else exc
        self.invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
        self.mysql_code: int | None = None
        self.sqlstate: str | None = None
        message = str(orig)
        args = getattr(orig, "args", ())
        if type(orig).__module__.startswith("pymysql") and args and isinstance(args[0], int):
            self.mysql_code = args[0]
            message = str(args[1]) if len(args) > 1 else message
        else:
            state = getattr(orig, "sqlstate", None)
            self.sqlstate = state if isinstance(state, str) else None
            diag = getattr(orig, "diag", None)
            primary = getattr(diag, "message_primary", None) if diag is not None else None
            message = primary if isinstance(primary, str) and primary else message
        message = " ".join(message.split())
        if password:
            message = message.replace(password, "***")
        self.message = message[:_LIMIT]
        self.code = str(self.mysql_code) if self.mysql_code is not None else self.sqlstate

    @property
    def unique_violation(self) -> bool:
        """A duplicate key (the idempotency reference, or another unique constraint)."""
        return self.mysql_code == _MYSQL_UNIQUE or self.sqlstate == _PG_UNIQUE

    @property
    def schema(self) -> bool:
        """An unknown column or table: the ERP's schema is not what the settings say."""
        return self.mysql_code in _MYSQL_SCHEMA or self.sqlstate in _PG_SCHEMA

    @property
    def auth(self) -> bool:
        """Wrong user, password or database."""
        if self.mysql_code in _MYSQL_AUTH or self.sqlstate in _PG_AUTH:
            return True
        if self.mysql_code is None and self.sqlstate is None:  # libpq fails to connect without a SQLSTATE
            lowered = self.message.lower()
            return "connection" in lowered and any(word in lowered for word in _AUTH_WORDS) and "refused" not in lowered
        return False

    @property
    def lock(self) -> bool:
        """Deadlock, lock-wait or statement timeout."""
        return self.mysql_code in _MYSQL_LOCK or self.sqlstate in _PG_LOCK

    @property
    def lost(self) -> bool:
        """The connection broke while a statement was under way."""
        return self.invalidated or self.mysql_code in _MYSQL_LOST or self.sqlstate in _PG_SHUTDOWN

    @property
    def refused(self) -> bool:
        """No connection could be made."""
        if self.mysql_code in _MYSQL_REFUSED:
            return True
        if self.sqlstate is not None:
            return self.sqlstate.startswith("08")
        return self.mysql_code is None and not self.auth


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is a duplicate-key error."""
    return isinstance(exc, DBAPIError) and Failure(exc).unique_violation


def is_schema_error(exc: BaseException) -> bool:
    """Whether ``exc`` says a column or table does not exist."""
    return isinstance(exc, DBAPIError) and Failure(exc).schema


def translate(exc: SQLAlchemyError, *, system: str, operation: str, where: str,
              password: str | None = None) -> HuiliuError:
    """The huiliu error a database exception means; raise it ``from exc``.

    Args:
        exc: what SQLAlchemy raised.
        system: the ERP's name (``sql`` by default).
        operation: what was done, e.g. ``read.orders`` or ``insert.po_inbox``.
        where: the database without its password (``SqlSettings.safe_url``), for connection failures.
        password: scrubbed from every message.
    """
    if not isinstance(exc, DBAPIError):
        return TransientError(
            t(f"数据库调用失败：{type(exc).__name__}", f"database call failed: {type(exc).__name__}"),
            system=system, operation=operation, vendor_message=_scrub(str(exc), password),
            fix=t("稍后自动重试；若持续出现，请查看日志", "retried later automatically; if it persists, read the log"))
    failure = Failure(exc, password)
    code, message = failure.code, failure.message
    if failure.auth:
        return VendorRejected(
            t(f"无法登录 ERP 数据库 {where}：用户名、密码或数据库名错误（{message}）",
              f"cannot log in to the ERP database {where}: wrong user, password or database ({message})"),
            system=system, operation=operation, vendor_code=code, vendor_message=message,
            fix=t("检查 ERP 数据库地址中的用户名、密码和库名，以及该用户从本机登录的权限",
                  "check the user, password and database in the ERP database URL, and the user's host grants"))
    if failure.schema:
        return ConfigError(
            t(f"ERP 数据库中缺少配置的表或列：{message}", f"a configured table or column is missing: {message}"),
            where=f"{system}.{operation}",
            fix=t("ERP 表结构可能已变更（列被改名），请按实际表结构修改 sources/targets 设置",
                  "the ERP's schema may have changed (a renamed column): update the sources/targets settings"))
    if failure.lock:
        return TransientError(
            t(f"ERP 数据库死锁或锁等待超时：{message}",
              f"deadlock or lock-wait timeout in the ERP database: {message}"),
            system=system, operation=operation, vendor_code=code, vendor_message=message,
            fix=t("稍后自动重试；若频繁出现，请错开与 ERP 批处理的时间", "retried automatically; if frequent, "
                  "schedule away from the ERP's batch jobs"))
    if failure.lost:
        return NoReply(
            t(f"与 ERP 数据库的连接中断：{message}", f"the connection to the ERP database was lost: {message}"),
            system=system, operation=operation, vendor_code=code, vendor_message=message,
            fix=t("稍后自动重试；写入会先按引用查找，不会重复", "retried automatically; a write looks its "
                  "reference up first, so nothing is written twice"))
    if failure.refused or (failure.mysql_code is not None and 2000 <= failure.mysql_code < 3000):
        return TransientError(
            t(f"无法连接 ERP 数据库 {where}：{message}", f"cannot reach the ERP database {where}: {message}"),
            system=system, operation=operation, vendor_code=code, vendor_message=message,
            fix=t("检查数据库是否运行、地址端口与防火墙；稍后自动重试",
                  "check that the database runs, its address, port and firewall; retried automatically"))
    return VendorRejected(
        t(f"ERP 数据库拒绝了 {operation}：{message}", f"the ERP database rejected {operation}: {message}"),
        system=system, operation=operation, vendor_code=code, vendor_message=message,
        fix=t("按数据库返回的信息修正数据（必填列、长度、外键、唯一约束）后重新发起",
              "correct the data the database names (required column, length, foreign key, unique) and send again"))


def missing_table(table: str, *, system: str, where: str, known: list[str]) -> ConfigError:
    """The error for a configured table the database does not have."""
    near = get_close_matches(table, known, n=3)
    hint_zh = f"相近的表：{', '.join(near)}" if near else "检查库名 / schema 与表名"
    hint_en = f"similar tables: {', '.join(near)}" if near else "check the database / schema and the table name"
    return ConfigError(
        t(f"ERP 数据库中没有表 {table}", f"the ERP database has no table {table}"),
        where=f"{system}.{where}",
        fix=t(f"修改设置中的表名（{hint_zh}）", f"fix the table name in the settings ({hint_en})"))


def missing_column(table: str, column: str, *, system: str, where: str, known: list[str]) -> ConfigError:
    """The error for a configured column the table does not have (typically renamed by an ERP upgrade)."""
    near = get_close_matches(column, known, n=3, cutoff=0.4)
    hint_zh = f"是否改名为 {' / '.join(near)}？" if near else f"现有列：{', '.join(known)}"
    hint_en = f"renamed to {' / '.join(near)}?" if near else f"its columns: {', '.join(known)}"
    return ConfigError(
        t(f"ERP 表 {table} 中没有列 {column}（表结构可能已变更）",
          f"table {table} of the ERP database has no column {column} (its schema may have changed)"),
        where=f"{system}.{where}",
        fix=t(f"把设置 {where} 中的 {column} 改为实际列名；{hint_zh}",
              f"change {column} in the setting {where} to the real column name; {hint_en}"))


def _scrub(message: str, password: str | None) -> str:
    message = " ".join(message.split())[:_LIMIT]
    return message.replace(password, "***") if password else message
