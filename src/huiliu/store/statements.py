"""Statements built once and executed with parameters.

Building a SQLAlchemy statement per call (``insert(t).values(...)``) costs ~100 µs of cache-key work on
this machine; a prebuilt statement with bound parameters ~17 µs. The hot path of every flow writes a
dozen rows, so the bus builds its statements here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_if_absent"]


@functools.cache
def _insert_ignore(table: Table, dialect: str) -> Insert:
    # RETURNING, not rowcount: psycopg reports rowcount -1 for this statement through SQLAlchemy.
    key = next(iter(table.primary_key.columns))
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing().returning(key)
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing().returning(key)
    raise NotImplementedError(f"insert-or-ignore is not implemented for {dialect}")


def insert_if_absent(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: ``False`` when a unique key already held the row."""
    return conn.execute(_insert_ignore(table, conn.dialect.name), dict(values)).first() is not None
