"""A fresh foreign "ERP" database per test on the real MariaDB and PostgreSQL of this machine.

MariaDB: a database ``hl_<hex>`` on 127.0.0.1:3306 (root, no password), created with utf8mb4 and dropped
afterwards. PostgreSQL: a schema of its own on 127.0.0.1:5432 (``backends.postgres_schema``). Without the
server a case is skipped and says so; with ``CI=true`` it fails (tests/backends.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from sql_env import MARIADB, Erp
from sqlalchemy import create_engine

from backends import _unavailable, postgres_schema
from huiliu.connectors.sql import SqlClient

ERPS = ["mariadb", "postgresql"]


@pytest.fixture(params=ERPS)
def erp(request: pytest.FixtureRequest) -> Iterator[Erp]:
    if request.param == "mariadb":
        name = f"hl_{uuid.uuid4().hex[:12]}"
        try:
            admin = pymysql.connect(**MARIADB)
        except pymysql.err.OperationalError as exc:
            _unavailable(f"MariaDB is not reachable at 127.0.0.1:3306 ({exc.__class__.__name__})")
            raise  # unreachable: skip/fail raise
        with admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        engine = create_engine(url, connect_args={"charset": "utf8mb4"})
        try:
            yield Erp("mariadb", url, engine)
        finally:
            engine.dispose()
            with pymysql.connect(**MARIADB) as admin, admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE `{name}`")
        return
    with postgres_schema() as url:
        engine = create_engine(url)
        try:
            yield Erp("postgresql", url, engine)
        finally:
            engine.dispose()


@pytest.fixture
def make_client(erp: Erp) -> Iterator[Any]:
    """Clients of the connector on the test's database, disposed afterwards."""
    made: list[SqlClient] = []

    def factory(**values: Any) -> SqlClient:
        client = erp.client(**values)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.dispose()

