"""Settings of the SQL connector: the foreign ERP database, the tables read by CDC and the 中间表 written to.

Validated once at start-up. Only names and limits live here; whether the tables and columns really exist is
checked against the database by :meth:`huiliu.connectors.sql.client.SqlClient.check` (reflection).
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["ChangeTable", "SqlSettings", "SqlSource", "SqlTarget", "WatermarkKind"]

_NAME = r"^[A-Za-z_][A-Za-z0-9_$]*$"
"""A plain identifier. Names are quoted by SQLAlchemy, never pasted into SQL; the pattern keeps typos out."""


class WatermarkKind(enum.StrEnum):
    """What the watermark column holds."""

    TIMESTAMP = "timestamp"
    """An updated-at time (DATETIME / TIMESTAMP). Rows committed late with an older time are caught by
    ``overlap``; several rows may share one value (seconds resolution), which the (watermark, key) position
    handles."""
    SEQUENCE = "sequence"
    """A number that grows on every change (rowversion, a change counter, an auto-increment)."""


class ChangeTable(BaseModel):
    """A table the ERP (or a trigger) fills with one row per change: ``(key…, op, seq)``.

    Attributes:
        table: the change table's name.
        key: its columns holding the changed row's key, in the order of :attr:`SqlSource.key`; empty means
            the same names as the source's key.
        seq_column: a strictly increasing number per change (auto-increment).
        op_column: the kind of change (``I``/``U``/``D``); informative only, see :attr:`delete_ops`.
        delete_ops: values of ``op_column`` that mean a deletion. A change whose row no longer exists is
            reported as a deletion whatever its op says, since the current row is what is read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(pattern=_NAME)
    key: tuple[str, ...] = ()
    seq_column: str = Field("seq", pattern=_NAME)
    op_column: str = Field("op", pattern=_NAME)
    delete_ops: tuple[str, ...] = ("D",)

    @field_validator("key")
    @classmethod
    def _key_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _names(value, "key")


class SqlSource(BaseModel):
    """One table read by change data capture.

    Attributes:
        name: the source's name in the hub: event types, positions (``sql:<name>``) and requests use it.
        table: the table (or view) to read.
        db_schema: its schema (PostgreSQL) or database (MariaDB) when it is not the connection's default.
        key: the column(s) identifying a row.
        watermark: the column that grows on every change of a row. Unused in change-table mode.
        watermark_kind: what it holds; ``None`` decides from the column's type at start-up.
        change_table: read changes from this table (by sequence) instead of by watermark.
        columns: the columns to read → their canonical names. Key and watermark are read in any case.
        timezone: the zone naive DATETIME values are in (an ERP in China writes local time:
            ``Asia/Shanghai``). MariaDB ``TIMESTAMP`` columns are read in UTC, whatever this says.
        encodings: columns holding encoded bytes (BINARY / BLOB / bytea) → the encoding to decode them with,
            e.g. ``gbk``. Text columns are decoded by the driver from their declared character set.
        batch_size: rows per batch.
        overlap: timestamp watermarks only: how far back each read starts again, to catch rows committed late
            with an older time (the longest transaction of the ERP). Rows re-read are not emitted twice:
            the position remembers what it emitted inside the window.
        sequence_overlap: the same for sequences (auto-increment values are taken at insert, committed later).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=100)
    table: str = Field(pattern=_NAME)
    db_schema: str | None = Field(None, pattern=_NAME)
    key: tuple[str, ...] = Field(min_length=1)
    watermark: str | None = Field(None, pattern=_NAME)
    watermark_kind: WatermarkKind | None = None
    change_table: ChangeTable | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    encodings: dict[str, str] = Field(default_factory=dict)
    batch_size: int = Field(500, ge=1, le=50_000)
    overlap: timedelta = timedelta(0)
    sequence_overlap: int = Field(0, ge=0)

    @field_validator("key")
    @classmethod
    def _key_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _names(value, "key")

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, str]) -> dict[str, str]:
        _names(tuple(value), "columns")
        canonical = list(value.values())
        if len(set(canonical)) != len(canonical):
            raise ValueError("two columns map to the same canonical name")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _zone(value)

    @field_validator("encodings")
    @classmethod
    def _encodings(cls, value: dict[str, str]) -> dict[str, str]:
        _names(tuple(value), "encodings")
        for column, encoding in value.items():
            try:
                "".encode(encoding)
            except LookupError:
                raise ValueError(f"unknown encoding {encoding!r} for column {column}") from None
        return value

    @field_validator("overlap")
    @classmethod
    def _overlap(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("overlap cannot be negative")
        return value

    @model_validator(mode="after")
    def _mode(self) -> SqlSource:
        if self.change_table is None and self.watermark is None:
            raise ValueError(f"source {self.name}: give a watermark column or a change_table")
        if self.change_table is not None and self.change_table.key and len(self.change_table.key) != len(self.key):
            raise ValueError(f"source {self.name}: change_table.key must name as many columns as key")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The zone of naive DATETIME values."""
        return ZoneInfo(self.timezone)

    @property
    def change_key(self) -> tuple[str, ...]:
        """The change table's key columns (the source's key names unless given)."""
        if self.change_table is None:
            return ()
        return self.change_table.key or self.key


class SqlTarget(BaseModel):
    """An intermediate table (中间表) documents are inserted into; the ERP picks them up from there.

    Attributes:
        name: the target's name in requests (``{"target": name}``).
        table: the table.
        db_schema: its schema / database when not the connection's default.
        reference_column: a column with a UNIQUE constraint that stores the hub's reference: a retried insert
            finds the row the first attempt made instead of making a second.
        columns: canonical field names in requests → columns.
        timezone: the zone naive DATETIME columns are written in; aware datetimes are converted to it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=100)
    table: str = Field(pattern=_NAME)
    db_schema: str | None = Field(None, pattern=_NAME)
    reference_column: str = Field(pattern=_NAME)
    columns: dict[str, str] = Field(min_length=1)
    timezone: str = "Asia/Shanghai"

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, str]) -> dict[str, str]:
        _names(tuple(value.values()), "columns")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _zone(value)

    @property
    def zone(self) -> ZoneInfo:
        """The zone naive DATETIME columns are written in."""
        return ZoneInfo(self.timezone)


class SqlSettings(BaseModel):
    """How to reach one foreign ERP database, and what is read from and written to it.

    Attributes:
        url: a SQLAlchemy URL, e.g. ``mysql+pymysql://user:pw@erp-db:3306/erp`` or
            ``postgresql+psycopg://user:pw@erp-db:5432/erp``. Never shown with its password:
            :attr:`safe_url` is what messages use.
        system: the system's name in errors and event types (``sql`` unless the ERP has a name, e.g. ``u8``).
        sources: tables read by CDC.
        targets: intermediate tables written to.
        connect_timeout: seconds to wait for a connection.
        pool_size: connections kept open.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr
    system: str = Field("sql", pattern=r"^[a-z][a-z0-9_-]*$")
    sources: tuple[SqlSource, ...] = ()
    targets: tuple[SqlTarget, ...] = ()
    connect_timeout: int = Field(10, ge=1)
    pool_size: int = Field(5, ge=1)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        try:
            parsed = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("url is not a SQLAlchemy URL (e.g. mysql+pymysql://user@host:3306/db)") from None
        if parsed.get_backend_name() not in {"mysql", "mariadb", "postgresql"}:
            raise ValueError(f"url: unsupported database {parsed.get_backend_name()!r} (MariaDB/MySQL, PostgreSQL)")
        return value

    @model_validator(mode="after")
    def _unique(self) -> SqlSettings:
        for kind, names in (("source", [s.name for s in self.sources]), ("target", [t.name for t in self.targets])):
            if len(set(names)) != len(names):
                raise ValueError(f"two {kind}s share a name")
        return self

    @property
    def parsed_url(self) -> URL:
        """The URL as SQLAlchemy reads it (with its password: keep it out of messages)."""
        return make_url(self.url.get_secret_value())

    @property
    def safe_url(self) -> str:
        """The URL with its password masked, for messages and logs."""
        return self.parsed_url.render_as_string(hide_password=True)

    @property
    def password(self) -> str | None:
        """The password in the URL, so that messages can be scrubbed of it."""
        return self.parsed_url.password

    def source(self, name: str) -> SqlSource:
        """The source called ``name``; :class:`KeyError` when there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def target(self, name: str) -> SqlTarget:
        """The target called ``name``; :class:`KeyError` when there is none."""
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)


def _names(value: tuple[str, ...], field: str) -> tuple[str, ...]:
    for name in value:
        if not re.match(_NAME, name):
            raise ValueError(f"{field}: {name!r} is not a plain column name")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
    return value
