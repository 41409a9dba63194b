"""Schema drift and error mapping against the real MariaDB and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sql_env import INSERT_ORDER, T0, Erp, order, orders_source, orders_table
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from huiliu.connectors.sql import ChangeCapture, MemoryPositionStore, SqlClient, SqlSettings, translate
from huiliu.errors import ConfigError, NoReply, TransientError, VendorRejected
from huiliu.i18n import Lang

PASSWORD = "Wr0ng-Pa55-7f3e"


def rename(erp: Erp) -> None:
    erp.ddl("ALTER TABLE orders RENAME COLUMN doc_no TO bill_no", "ALTER TABLE orders RENAME COLUMN doc_no TO bill_no")


async def test_a_renamed_column_is_reported_at_start(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    rename(erp)
    client: SqlClient = make_client(sources=[orders_source()])
    with pytest.raises(ConfigError) as caught:
        await client.check()
    message = caught.value.render(Lang.ZH)
    assert "orders" in message and "doc_no" in message and "bill_no" in message  # the table, the column, the fix
    assert caught.value.where == "sql.sources.orders.columns"
    assert "renamed to bill_no" in caught.value.render(Lang.EN)


async def test_a_column_renamed_while_running_is_reported_not_skipped(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    erp.run(INSERT_ORDER, [order(1, T0)])
    capture = ChangeCapture(make_client(sources=[orders_source()]), "orders", MemoryPositionStore())
    await capture.start()
    rename(erp)
    handled: list[Any] = []

    async def handle(batch: Any) -> None:
        handled.append(batch)

    with pytest.raises(ConfigError) as caught:
        await capture.poll(handle)
    assert handled == []
    assert "doc_no" in str(caught.value) and "bill_no" in str(caught.value)
    assert caught.value.where == "sql.sources.orders.columns"


async def test_a_missing_table_and_a_bad_watermark_are_reported(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    client: SqlClient = make_client(sources=[orders_source(table="order")])
    with pytest.raises(ConfigError) as caught:
        await client.check()
    assert "order" in str(caught.value) and "orders" in str(caught.value)  # the name, and the near one
    client = make_client(sources=[orders_source(watermark="doc_no")])
    with pytest.raises(ConfigError, match="doc_no"):
        await client.check()


async def test_bad_credentials_are_refused_without_the_password(erp: Erp) -> None:
    if erp.mariadb:
        url = erp.url.replace("root@", f"root:{PASSWORD}@")
    else:
        url = erp.url.replace("postgres@", f"hl_nobody:{PASSWORD}@")
    client = SqlClient(SqlSettings(url=url, sources=[orders_source()]))
    try:
        with pytest.raises(VendorRejected) as caught:
            await client.check()
    finally:
        client.dispose()
    error = caught.value
    assert str(error).startswith("无法登录 ERP 数据库")
    for shown in (str(error), error.render(Lang.EN), error.vendor_message or "", repr(error), repr(client.settings)):
        assert PASSWORD not in shown
    assert "***" in str(error)  # the URL is named, masked


async def test_a_refused_connection_is_transient(erp: Erp) -> None:
    url = erp.url.replace(":3306/", ":1/").replace(":5432/", ":1/")
    client = SqlClient(SqlSettings(url=url, connect_timeout=2, sources=[orders_source()]))
    try:
        with pytest.raises(TransientError) as caught:
            await client.check()
    finally:
        client.dispose()
    assert caught.value.retryable and "无法连接 ERP 数据库" in str(caught.value)


async def test_a_connection_lost_mid_call_is_no_reply(erp: Erp, make_client: Any) -> None:
    client: SqlClient = make_client()

    def killed(conn: Any) -> Any:
        if erp.mariadb:
            own = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
            erp.run(f"KILL {int(own)}")
        else:
            own = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            erp.run("SELECT pg_terminate_backend(:pid)", {"pid": own})
        return conn.execute(text("SELECT 1")).scalar()

    with pytest.raises(NoReply) as caught:
        await client.call("read.probe", killed)
    assert caught.value.retryable


async def test_a_lock_wait_timeout_is_transient(erp: Erp) -> None:
    orders_table(erp)
    erp.run(INSERT_ORDER, [order(1, T0)])
    with erp.engine.connect() as holder, erp.engine.connect() as waiter:
        holder.execute(text("UPDATE orders SET amount = 1 WHERE id = 1"))
        waiter.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1" if erp.mariadb else "SET lock_timeout = '1s'")
        with pytest.raises(OperationalError) as raised:
            waiter.execute(text("UPDATE orders SET amount = 2 WHERE id = 1"))
        holder.rollback()
    error = translate(raised.value, system="sql", operation="write.orders", where="erp")
    assert isinstance(error, TransientError) and error.retryable
    assert "锁等待超时" in str(error)
