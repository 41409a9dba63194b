"""Persistence: the SQLAlchemy engine, the tables, and their Alembic migrations.

Owns: how and where state is kept (SQLite in WAL mode by default, PostgreSQL for scale) and the schema's
history. Does not own: what the rows mean — ``bus``, ``crosswalk`` and the runtime do.
"""

from huiliu.store.codec import dumps, loads
from huiliu.store.database import Database
from huiliu.store.schema import metadata

__all__ = ["Database", "dumps", "loads", "metadata"]
