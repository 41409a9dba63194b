"""Helpers for the SQL connector's tests: the ERP's database as the tests (playing the ERP) see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from huiliu.connectors.sql import SqlClient, SqlSettings

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "connect_timeout": 3}


@dataclass
class Erp:
    """The ERP's database as the tests (playing the ERP) see it."""

    kind: str
    url: str
    engine: Engine

    @property
    def mariadb(self) -> bool:
        return self.kind == "mariadb"

    def ddl(self, mariadb: str, postgresql: str) -> None:
        """Run one DDL statement in the dialect at hand."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(mariadb if self.mariadb else postgresql)

    def run(self, sql: str, rows: Mapping[str, Any] | list[dict[str, Any]] | None = None) -> None:
        """Run a statement with bound values (as the ERP would write its tables)."""
        with self.engine.begin() as conn:
            conn.execute(text(sql), rows if rows is not None else {})

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def settings(self, **values: Any) -> SqlSettings:
        return SqlSettings(url=self.url, **values)

    def client(self, **values: Any) -> SqlClient:
        return SqlClient(self.settings(**values))



ORDERS_MARIADB = """CREATE TABLE orders (
    id INT PRIMARY KEY,
    doc_no VARCHAR(40) NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    updated_at DATETIME NOT NULL,
    note VARCHAR(200) CHARACTER SET gbk NULL,
    KEY ix_orders_wm (updated_at, id)
) DEFAULT CHARSET=utf8mb4"""
ORDERS_POSTGRESQL = """CREATE TABLE orders (
    id INT PRIMARY KEY,
    doc_no VARCHAR(40) NOT NULL,
    amount NUMERIC(18,2) NOT NULL,
    updated_at TIMESTAMP(0) NOT NULL,
    note VARCHAR(200) NULL
)"""
ORDERS_COLUMNS = {"doc_no": "number", "amount": "amount", "updated_at": "updated_at", "note": "note"}


def orders_table(erp: Erp) -> None:
    """The ERP's order table: DATETIME in seconds (Asia/Shanghai), DECIMAL(18,2), a GBK column on MariaDB."""
    erp.ddl(ORDERS_MARIADB, ORDERS_POSTGRESQL)
    erp.ddl("CREATE INDEX ix_orders_wm2 ON orders (updated_at)", "CREATE INDEX ix_orders_wm ON orders (updated_at, id)")


def orders_source(**values: Any) -> dict[str, Any]:
    return {"name": "orders", "table": "orders", "key": ("id",), "watermark": "updated_at",
            "columns": ORDERS_COLUMNS, **values}


T0 = datetime(2026, 1, 5, 9, 0, 0)  # naive, as the ERP writes it: Asia/Shanghai
INSERT_ORDER = ("INSERT INTO orders (id, doc_no, amount, updated_at, note) "
                "VALUES (:id, :doc_no, :amount, :updated_at, :note)")


def order(i: int, at: datetime, amount: str = "10.00", note: str | None = None) -> dict[str, Any]:
    return {"id": i, "doc_no": f"PO-{i:05d}", "amount": Decimal(amount), "updated_at": at, "note": note}
