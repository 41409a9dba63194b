"""Column values of the ERP database ⇄ canonical values, chosen once per column from its reflected type.

Reading (CDC):

* DECIMAL / NUMERIC → :class:`~decimal.Decimal`, exact to the cent (a driver's float is never used).
* DATETIME (naive) → a tz-aware UTC :class:`~datetime.datetime`, the naive value read in the source's zone
  (``Asia/Shanghai`` for an ERP in China). MariaDB ``TIMESTAMP`` is read in UTC (the client sets the session
  zone to ``+00:00``), PostgreSQL ``timestamptz`` is aware already.
* Text: the driver decodes it from the column's character set (utf8mb4, GBK …), since the connection uses
  utf8mb4. Bytes in BINARY / BLOB / bytea columns named in ``encodings`` are decoded with that encoding.

Writing (intermediate tables): aware datetimes are converted to the target's zone for naive DATETIME columns
(a naive one is refused: guessing a zone shifts times by hours), amounts become ``Decimal`` (a float is refused:
it has already lost cents), ISO strings are accepted for dates and times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column
from sqlalchemy.dialects import mysql
from sqlalchemy.sql import sqltypes

from huiliu.errors import MappingError
from huiliu.i18n import t

__all__ = ["Converter", "reader", "writer"]

Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _utc_assumed(column: Column[Any]) -> bool:
    """Whether naive values of the column are UTC: MariaDB TIMESTAMP, read with the session zone at +00:00."""
    return isinstance(column.type, mysql.TIMESTAMP)


def _is_datetime(column: Column[Any]) -> bool:
    return isinstance(column.type, sqltypes.DateTime)


def _is_decimal(column: Column[Any]) -> bool:
    return isinstance(column.type, sqltypes.Numeric) and not isinstance(column.type, sqltypes.Float)


def reader(column: Column[Any], zone: ZoneInfo, encoding: str | None = None) -> Converter:
    """How values of ``column`` become canonical values.

    Args:
        column: the reflected column.
        zone: the zone naive DATETIME values are in.
        encoding: decode bytes with it (for BINARY / BLOB columns holding legacy-encoded text).
    """
    if encoding is not None:
        def decode(value: Any) -> Any:
            if isinstance(value, bytes | bytearray | memoryview):
                return bytes(value).rstrip(b"\x00").decode(encoding)
            return value
        return decode
    if _is_datetime(column):
        naive_zone = UTC if _utc_assumed(column) else zone

        def instant(value: Any) -> Any:
            if isinstance(value, datetime):
                return (value.replace(tzinfo=naive_zone) if value.tzinfo is None else value).astimezone(UTC)
            return value
        return instant
    if _is_decimal(column):
        def exact(value: Any) -> Any:
            if isinstance(value, float | int) and not isinstance(value, bool):
                return Decimal(str(value))
            return value
        return exact
    return _identity


def writer(column: Column[Any], zone: ZoneInfo, field: str) -> Converter:
    """How a canonical value from a request is written to ``column``.

    Args:
        column: the reflected column.
        zone: the zone of naive DATETIME columns.
        field: the request field, named in errors.

    Raises (when called):
        MappingError: a naive datetime, a float for an amount, or a string that is not ISO 8601.
    """
    if _is_datetime(column):
        aware_column = bool(getattr(column.type, "timezone", False))
        target_zone = UTC if _utc_assumed(column) else zone

        def when(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError:
                    raise _bad(field, value, t("ISO 8601 时间", "an ISO 8601 time")) from None
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    raise MappingError(
                        t(f"{field} 的时间 {value.isoformat()} 没有时区", f"{field}: {value.isoformat()} has no zone"),
                        where=field, fix=t("传入带时区的时间，如 2026-01-02T08:00:00+08:00",
                                           "pass an aware time, e.g. 2026-01-02T08:00:00+08:00"))
                return value if aware_column else value.astimezone(target_zone).replace(tzinfo=None)
            return value
        return when
    if isinstance(column.type, sqltypes.Date):
        def day(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    return date.fromisoformat(value)
                except ValueError:
                    raise _bad(field, value, t("ISO 8601 日期", "an ISO 8601 date")) from None
            return value
        return day
    if _is_decimal(column):
        def amount(value: Any) -> Any:
            if isinstance(value, float):
                raise MappingError(
                    t(f"{field} 是浮点数 {value!r}，金额须为字符串或整数", f"{field} is the float {value!r}; "
                      "amounts must be strings or integers"),
                    where=field,
                    fix=t("流程中以字符串传递金额，如 \"1299.00\"", "pass amounts as strings, e.g. \"1299.00\""))
            if isinstance(value, str | int) and not isinstance(value, bool):
                try:
                    return Decimal(value)
                except InvalidOperation:
                    raise _bad(field, value, t("数字", "a number")) from None
            return value
        return amount
    return _identity


def _bad(field: str, value: Any, expected: Any) -> MappingError:
    return MappingError(t(f"{field} 的值 {value!r} 不是{expected.zh}", f"{field}: {value!r} is not {expected.en}"),
                        where=field, fix=t("修正流程传入的值", "correct the value the flow passes"))
