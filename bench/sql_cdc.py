"""SQL CDC read speed: 50,000 rows inserted into an ERP table, then read through change data capture.

Runs on the local MariaDB (127.0.0.1:3306, root) and PostgreSQL (127.0.0.1:5432, database ``test``), each in
a fresh database / schema dropped afterwards. Rows carry an updated-at DATETIME in seconds with 100 rows per
second (ties across batch boundaries), a DECIMAL(18,2) amount and Chinese text. The read converts every row to
canonical values (Decimal, UTC datetimes) and commits each batch's position to an in-memory store. Prints the
insert and read rates; with ``--overlap`` the read also keeps the overlap window's emitted versions.

    .venv/bin/python bench/sql_cdc.py [--rows 50000] [--batch 1000] [--overlap 0] [--only mariadb|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pymysql
from sqlalchemy import create_engine, text

from huiliu.connectors.sql import ChangeCapture, MemoryPositionStore, SqlClient, SqlSettings

MARIADB_DDL = """CREATE TABLE orders (id INT PRIMARY KEY, doc_no VARCHAR(40) NOT NULL, supplier VARCHAR(100) NOT NULL,
    amount DECIMAL(18,2) NOT NULL, updated_at DATETIME NOT NULL, KEY ix_wm (updated_at, id)) DEFAULT CHARSET=utf8mb4"""
POSTGRESQL_DDL = """CREATE TABLE orders (id INT PRIMARY KEY, doc_no VARCHAR(40) NOT NULL,
    supplier VARCHAR(100) NOT NULL,
    amount NUMERIC(18,2) NOT NULL, updated_at TIMESTAMP(0) NOT NULL);
    CREATE INDEX ix_wm ON orders (updated_at, id)"""
T0 = datetime(2026, 1, 5, 9, 0, 0)


@contextmanager
def mariadb() -> Iterator[str]:
    name = f"hl_bench_{uuid.uuid4().hex[:8]}"
    with pymysql.connect(host="127.0.0.1", user="root") as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with pymysql.connect(host="127.0.0.1", user="root") as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE `{name}`")


@contextmanager
def postgresql() -> Iterator[str]:
    name = f"hl_bench_{uuid.uuid4().hex[:8]}"
    dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')


def load(url: str, ddl: str, rows: int) -> float:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in ddl.split(";"):
                conn.exec_driver_sql(statement)
        started = time.perf_counter()
        insert = text("INSERT INTO orders (id, doc_no, supplier, amount, updated_at) VALUES (:i, :d, :s, :a, :u)")
        for start in range(0, rows, 5000):
            with engine.begin() as conn:
                conn.execute(insert, [{"i": i, "d": f"PO-{i:06d}", "s": f"上海某某办公家具有限公司{i % 97}",
                                       "a": Decimal(i) / 100, "u": T0 + timedelta(seconds=i // 100)}
                                      for i in range(start + 1, min(start + 5000, rows) + 1)])
        return time.perf_counter() - started
    finally:
        engine.dispose()


async def read(url: str, batch: int, overlap: float) -> tuple[int, float, int]:
    settings = SqlSettings(url=url, sources=[{
        "name": "orders", "table": "orders", "key": ["id"], "watermark": "updated_at", "batch_size": batch,
        "overlap": timedelta(seconds=overlap),
        "columns": {"doc_no": "number", "supplier": "supplier", "amount": "amount", "updated_at": "updated_at"}}])
    client = SqlClient(settings)
    store = MemoryPositionStore()
    try:
        await client.check()
        capture = ChangeCapture(client, "orders", store)
        started = time.perf_counter()
        count = 0
        async for got in capture.batches():
            count += len(got.changes)
            await capture.commit(got)
        elapsed = time.perf_counter() - started
        return count, elapsed, len(next(iter(store.tokens.values())))
    finally:
        client.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--overlap", type=float, default=0.0, help="seconds")
    parser.add_argument("--only", choices=["mariadb", "postgresql"])
    args = parser.parse_args()
    print(f"SQL CDC: {args.rows} rows, batch {args.batch}, overlap {args.overlap:g} s")
    for name, database, ddl in (("mariadb", mariadb, MARIADB_DDL), ("postgresql", postgresql, POSTGRESQL_DDL)):
        if args.only and args.only != name:
            continue
        with database() as url:
            inserted = load(url, ddl, args.rows)
            count, elapsed, token = asyncio.run(read(url, args.batch, args.overlap))
        assert count == args.rows, f"{name}: read {count} of {args.rows}"
        print(f"{name:<11} insert {args.rows / inserted:>9,.0f} rows/s   CDC read {count / elapsed:>9,.0f} rows/s "
              f"({elapsed:.2f} s, position {token:,} bytes)")


if __name__ == "__main__":
    main()
