"""Where change data capture stands in a source, and where that is kept.

A :class:`Position` is the composite key ``(watermark, key…)`` (or ``(seq,)`` in change-table mode) of the last
row read, plus, when an overlap window is configured, the ids of the row versions emitted inside that window
(so that re-reading the window emits nothing twice). It travels as a JSON token: the values keep their types
(a naive DATETIME stays naive, so it compares with the column as the database does).

Positions are kept by a :class:`PositionStore`: :class:`WatermarkStore` in the hub's own ``watermarks`` table
(one row ``sql:<system>.<source>``), :class:`MemoryPositionStore` for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select, update

from huiliu.errors import ConfigError
from huiliu.i18n import t
from huiliu.model import Clock, SystemClock
from huiliu.store import Database
from huiliu.store.schema import watermarks
from huiliu.store.statements import insert_if_absent

__all__ = ["MemoryPositionStore", "Position", "PositionStore", "WatermarkStore"]

_VERSION = 1


@dataclass(frozen=True, slots=True)
class Position:
    """How far a source has been read.

    Attributes:
        mark: the order values (``(watermark, key…)`` or ``(seq,)``) of the last row read, as the database
            returned them; ``None`` before the first row.
        seen: ids of row versions emitted inside the overlap window, grouped by their watermark value; groups
            older than ``mark[0] - overlap`` are dropped as the mark moves.
    """

    mark: tuple[Any, ...] | None = None
    seen: Mapping[Any, frozenset[str]] = field(default_factory=dict)

    def has_seen(self, watermark: Any, ident: str) -> bool:
        """Whether the row version ``ident`` with ``watermark`` was emitted already."""
        group = self.seen.get(watermark)
        return group is not None and ident in group

    def advanced(self, cursor: tuple[Any, ...], emitted: Mapping[Any, set[str]], overlap: timedelta | int) -> Position:
        """The position after a page that ended at ``cursor`` and emitted ``emitted``.

        Without overlap the position is the cursor itself (reads continue strictly after it). With overlap the
        next read starts at ``mark[0] - overlap`` whatever the key, so the mark only keeps the highest watermark.
        """
        if not overlap:
            return Position(cursor, {})
        mark = cursor if self.mark is None or cursor[0] >= self.mark[0] else self.mark
        floor = mark[0] - overlap
        seen = {wm: ids for wm, ids in self.seen.items() if wm >= floor}
        for wm, ids in emitted.items():
            if wm >= floor and ids:
                seen[wm] = seen.get(wm, frozenset()) | ids
        return Position(mark, seen)

    def token(self) -> str:
        """The position as JSON text, for the store or a flow."""
        return json.dumps({"v": _VERSION, "mark": None if self.mark is None else [_encode(v) for v in self.mark],
                           "seen": [[_encode(wm), sorted(ids)] for wm, ids in self.seen.items()]},
                          separators=(",", ":"))

    @classmethod
    def from_token(cls, token: str | None) -> Position:
        """Read a token; ``None`` or an empty string is the start.

        Raises:
            ConfigError: the token is not one this code wrote.
        """
        if not token:
            return cls()
        try:
            data = json.loads(token)
            if data.get("v") != _VERSION:
                raise ValueError(f"version {data.get('v')!r}")
            mark = None if data["mark"] is None else tuple(_decode(v) for v in data["mark"])
            seen = {_decode(wm): frozenset(ids) for wm, ids in data["seen"]}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(t(f"CDC 位置无法读取：{exc}", f"unreadable CDC position: {exc}"), where="sql.position",
                              fix=t("传入本连接器返回的 position，或清空它从头读取",
                                    "pass a position this connector returned, or clear it to read from the start"),
                              ) from exc
        return cls(mark, seen)


def _encode(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["i", int(value)]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["D", value.isoformat()]
    if isinstance(value, bytes):
        return ["b", value.hex()]
    if isinstance(value, str):
        return ["s", value]
    raise TypeError(f"cannot keep a {type(value).__name__} in a CDC position")


def _decode(item: list[Any]) -> Any:
    kind, value = item
    if kind == "i":
        return int(value)
    if kind == "d":
        return Decimal(value)
    if kind == "t":
        return datetime.fromisoformat(value)
    if kind == "D":
        return date.fromisoformat(value)
    if kind == "b":
        return bytes.fromhex(value)
    if kind == "s":
        return str(value)
    raise ValueError(f"unknown value kind {kind!r}")


class PositionStore(Protocol):
    """Keeps one position token per name."""

    async def load(self, name: str) -> str | None:
        """The saved token, or ``None``."""

    async def save(self, name: str, token: str) -> None:
        """Save the token durably before returning."""


class MemoryPositionStore:
    """Positions in a dict: for tests and benchmarks (lost with the process)."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    async def load(self, name: str) -> str | None:
        """The saved token, or ``None``."""
        return self.tokens.get(name)

    async def save(self, name: str, token: str) -> None:
        """Keep the token."""
        self.tokens[name] = token


class WatermarkStore:
    """Positions in the hub's ``watermarks`` table (the hub's database, not the ERP's).

    Args:
        db: the hub's database.
        clock: stamps ``updated_at``.
    """

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    async def load(self, name: str) -> str | None:
        """The saved token, or ``None``."""
        return await asyncio.to_thread(self._load, name)

    async def save(self, name: str, token: str) -> None:
        """Save the token; committed when this returns."""
        await asyncio.to_thread(self._save, name, token)

    def _load(self, name: str) -> str | None:
        with self.db.read() as conn:
            value = conn.execute(select(watermarks.c.value).where(watermarks.c.name == name)).scalar()
        return str(value) if value else None

    def _save(self, name: str, token: str) -> None:
        now = self.clock.now()
        with self.db.begin() as conn:
            if not insert_if_absent(conn, watermarks, {"name": name, "value": token, "updated_at": now,
                                                       "lease_owner": None, "lease_until": None}):
                conn.execute(update(watermarks).where(watermarks.c.name == name).values(value=token, updated_at=now))
