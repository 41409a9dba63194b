"""Generic SQL connector: ERPs reached through their database or an intermediate table (中间表).

Owns: the connection to the ERP's database (MariaDB/MySQL through PyMySQL, PostgreSQL through psycopg;
SQLAlchemy Core, values always bound), reflection of the configured tables with clear errors when the schema
drifted, change data capture by watermark or change table with positions kept in the hub's ``watermarks``
table, canonical values (``Decimal``, UTC datetimes, text from utf8mb4 / GBK), and the idempotent actions
``sql.row.insert`` and ``sql.changes.since``.
Does not own: the hub's own database (:mod:`huiliu.store`), turning changes into envelopes (the caller does,
deduping on :attr:`Change.dedupe_key`), or scheduling polls.
"""

from huiliu.connectors.sql.actions import CHANGES_SINCE, ROW_INSERT, ChangesSince, RowInsert, register_actions
from huiliu.connectors.sql.cdc import Batch, Change, ChangeCapture, ChangeOp, ChangeReader
from huiliu.connectors.sql.client import SourceTables, SqlClient
from huiliu.connectors.sql.errors import translate
from huiliu.connectors.sql.position import MemoryPositionStore, Position, PositionStore, WatermarkStore
from huiliu.connectors.sql.settings import ChangeTable, SqlSettings, SqlSource, SqlTarget, WatermarkKind

__all__ = [
    "CHANGES_SINCE",
    "ROW_INSERT",
    "Batch",
    "Change",
    "ChangeCapture",
    "ChangeOp",
    "ChangeReader",
    "ChangeTable",
    "ChangesSince",
    "MemoryPositionStore",
    "Position",
    "PositionStore",
    "RowInsert",
    "SourceTables",
    "SqlClient",
    "SqlSettings",
    "SqlSource",
    "SqlTarget",
    "WatermarkKind",
    "WatermarkStore",
    "register_actions",
    "translate",
]
