"""Change data capture against the real MariaDB and PostgreSQL: nothing missed, nothing emitted twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sql_env import INSERT_ORDER, T0, Erp, order, orders_source, orders_table
from sqlalchemy import text

from huiliu.connectors.sql import (
    Batch,
    Change,
    ChangeCapture,
    ChangeOp,
    ChangeTable,
    MemoryPositionStore,
    SqlClient,
    WatermarkStore,
)
from huiliu.store import Database

INSERT = INSERT_ORDER


async def drain(capture: ChangeCapture) -> list[Change]:
    seen: list[Change] = []

    async def handle(batch: Batch) -> None:
        seen.extend(batch.changes)

    await capture.poll(handle)
    return seen


def versions(changes: list[Change]) -> Counter[tuple[Any, str]]:
    return Counter((c.key["id"], c.version) for c in changes)


async def test_inserts_and_updates_are_captured(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    erp.run(INSERT, [order(1, T0), order(2, T0 + timedelta(seconds=1))])
    client: SqlClient = make_client(sources=[orders_source(batch_size=10)])
    capture = ChangeCapture(client, "orders", MemoryPositionStore())

    first = await drain(capture)
    assert [c.key["id"] for c in first] == [1, 2]
    assert all(c.op is ChangeOp.UPSERT for c in first)
    assert first[0].values == {"number": "PO-00001", "amount": Decimal("10.00"),
                               "updated_at": datetime(2026, 1, 5, 1, 0, tzinfo=UTC), "note": None}
    assert await drain(capture) == []  # nothing new: nothing emitted again

    erp.run("UPDATE orders SET amount = :a, updated_at = :at WHERE id = 1",
            {"a": Decimal("11.50"), "at": T0 + timedelta(seconds=5)})
    erp.run(INSERT, [order(3, T0 + timedelta(seconds=6))])
    second = await drain(capture)
    assert [(c.key["id"], c.values["amount"] if c.values else None) for c in second] == [
        (1, Decimal("11.50")), (3, Decimal("10.00"))]
    assert second[0].version != first[0].version


async def test_changes_while_stopped_are_read_after_a_restart_once(erp: Erp, make_client: Any,
                                                                  tmp_path: Path) -> None:
    hub = Database(f"sqlite:///{tmp_path / 'hub.db'}")  # the hub's own database keeps the position
    hub.migrate()
    try:
        orders_table(erp)
        erp.run(INSERT, [order(i, T0 + timedelta(seconds=i)) for i in range(1, 6)])
        source = orders_source(batch_size=2, overlap=timedelta(seconds=30))
        effects: Counter[tuple[Any, str]] = Counter()

        async def apply(batch: Batch) -> None:
            for change in batch.changes:
                effects[(change.key["id"], change.version)] += 1

        first = make_client(sources=[source])
        assert await ChangeCapture(first, "orders", WatermarkStore(hub)).poll(apply) == 5
        first.dispose()  # the connector stops

        erp.run(INSERT, [order(i, T0 + timedelta(seconds=i)) for i in range(6, 10)])
        erp.run("UPDATE orders SET amount = :a, updated_at = :at WHERE id IN (2, 7)",
                {"a": Decimal("99.99"), "at": T0 + timedelta(seconds=20)})

        second = make_client(sources=[source])  # a new process: only the saved position is shared
        assert await ChangeCapture(second, "orders", WatermarkStore(hub)).poll(apply) == 5
        assert all(n == 1 for n in effects.values()), effects
        assert sorted(k for k, _ in effects) == [1, 2, 2, 3, 4, 5, 6, 7, 8, 9]  # 7 only as updated

        # A crash after handling a batch but before committing it: the batch comes again, the inbox
        # (keyed by dedupe_key) absorbs it, and the effect happens once.
        erp.run(INSERT, [order(i, T0 + timedelta(seconds=30 + i)) for i in (10, 11, 12)])
        inbox: dict[str, int] = {}
        deliveries: Counter[str] = Counter()

        async def once(batch: Batch) -> None:
            for change in batch.changes:
                deliveries[change.dedupe_key] += 1
                inbox.setdefault(change.dedupe_key, change.key["id"])

        crashed = ChangeCapture(second, "orders", WatermarkStore(hub))
        lost: list[str] = []
        async for batch in crashed.batches():
            await once(batch)
            lost = [c.dedupe_key for c in batch.changes]
            break  # dies before commit
        await ChangeCapture(make_client(sources=[source]), "orders", WatermarkStore(hub)).poll(once)
        assert sorted(inbox.values()) == [10, 11, 12]
        assert lost and all(deliveries[key] == 2 for key in lost)  # the uncommitted batch came again
        assert sum(deliveries.values()) == 3 + len(lost)
    finally:
        hub.dispose()


@pytest.mark.parametrize("overlap", [timedelta(0), timedelta(seconds=60)])
async def test_250_rows_sharing_one_timestamp_across_batches_of_100(erp: Erp, make_client: Any,
                                                                    overlap: timedelta) -> None:
    orders_table(erp)
    erp.run(INSERT, [order(i, T0) for i in range(1, 251)])
    store = MemoryPositionStore()
    client = make_client(sources=[orders_source(batch_size=100, overlap=overlap)])
    capture = ChangeCapture(client, "orders", store)
    sizes, ids = [], []
    async for batch in capture.batches():
        sizes.append(len(batch.changes))
        ids.extend(c.key["id"] for c in batch.changes)
        await capture.commit(batch)
        if len(sizes) == 1:
            break  # stop after the first batch: a restart resumes inside the tie
    async for batch in ChangeCapture(client, "orders", store).batches():
        sizes.append(len(batch.changes))
        ids.extend(c.key["id"] for c in batch.changes)
        await capture.commit(batch)
    assert sizes == [100, 100, 50]
    assert sorted(ids) == list(range(1, 251))
    assert await drain(ChangeCapture(client, "orders", store)) == []


async def test_a_row_committed_late_with_an_older_timestamp_is_caught_by_the_overlap(
        erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    erp.run(INSERT, [order(1, T0)])
    with_overlap = ChangeCapture(make_client(sources=[orders_source(overlap=timedelta(seconds=30))]), "orders",
                                 MemoryPositionStore())
    without = ChangeCapture(make_client(sources=[orders_source()]), "orders", MemoryPositionStore())
    assert [c.key["id"] for c in await drain(with_overlap)] == [1]
    assert [c.key["id"] for c in await drain(without)] == [1]

    with erp.engine.connect() as slow:  # an ERP transaction stamped at +5 s that commits after +6 s
        slow.execute(text(INSERT), order(2, T0 + timedelta(seconds=5)))
        erp.run(INSERT, [order(3, T0 + timedelta(seconds=6))])
        assert [c.key["id"] for c in await drain(with_overlap)] == [3]
        assert [c.key["id"] for c in await drain(without)] == [3]
        slow.commit()

    assert [c.key["id"] for c in await drain(with_overlap)] == [2]  # caught, and 1 and 3 not again
    assert await drain(without) == []  # what the overlap is for: without it the row is lost
    assert await drain(with_overlap) == []


async def test_change_table_reports_updates_and_deletes(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    erp.ddl("CREATE TABLE order_changes (seq BIGINT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, "
            "op CHAR(1) NOT NULL)",
            "CREATE TABLE order_changes (seq BIGSERIAL PRIMARY KEY, order_id INT NOT NULL, op CHAR(1) NOT NULL)")
    log = "INSERT INTO order_changes (order_id, op) VALUES (:id, :op)"
    erp.run(INSERT, [order(1, T0), order(2, T0)])
    erp.run(log, [{"id": 1, "op": "I"}, {"id": 2, "op": "I"}])
    source = orders_source(watermark=None, batch_size=2,
                           change_table=ChangeTable(table="order_changes", key=("order_id",)))
    capture = ChangeCapture(make_client(sources=[source]), "orders", MemoryPositionStore())
    first = await drain(capture)
    assert [(c.key["id"], c.op, c.version) for c in first] == [(1, ChangeOp.UPSERT, "1"), (2, ChangeOp.UPSERT, "2")]

    erp.run("UPDATE orders SET amount = :a WHERE id = 1", {"a": Decimal("20.00")})
    erp.run(log, [{"id": 1, "op": "U"}])
    erp.run("DELETE FROM orders WHERE id = 2")
    erp.run(log, [{"id": 2, "op": "D"}])
    erp.run(INSERT, [order(3, T0)])
    erp.run(log, [{"id": 3, "op": "I"}, {"id": 3, "op": "U"}])
    second = await drain(capture)
    assert [(c.key["id"], c.op, c.version) for c in second] == [
        (1, ChangeOp.UPSERT, "3"), (2, ChangeOp.DELETE, "4"), (3, ChangeOp.UPSERT, "6")]
    assert second[0].values is not None and second[0].values["amount"] == Decimal("20.00")
    assert second[1].values is None
    assert await drain(capture) == []


async def test_decimal_to_the_cent_and_datetimes_in_their_zone(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    amounts = ["9999999999999999.99", "0.01", "-3.10", "1299.00"]
    erp.run(INSERT, [order(i, T0, amount) for i, amount in enumerate(amounts, 1)])
    capture = ChangeCapture(make_client(sources=[orders_source()]), "orders", MemoryPositionStore())
    changes = await drain(capture)
    read = [c.values["amount"] for c in changes if c.values]
    assert all(type(a) is Decimal for a in read)
    assert [str(a) for a in read] == amounts
    assert sum(read, Decimal(0)) == Decimal("10000000000001295.90")
    assert {c.values["updated_at"] for c in changes if c.values} == {datetime(2026, 1, 5, 1, 0, tzinfo=UTC)}
    assert changes[0].version.startswith("2026-01-05T01:00:00+00:00#")


async def test_aware_timestamps_are_read_as_instants(erp: Erp, make_client: Any) -> None:
    # MariaDB TIMESTAMP and PostgreSQL timestamptz hold instants; the session zone must not shift them.
    erp.ddl("CREATE TABLE stamps (id INT PRIMARY KEY, approved_at TIMESTAMP NULL, seq BIGINT NOT NULL)",
            "CREATE TABLE stamps (id INT PRIMARY KEY, approved_at TIMESTAMPTZ NULL, seq BIGINT NOT NULL)")
    with erp.engine.begin() as conn:
        if erp.mariadb:
            conn.exec_driver_sql("SET time_zone = '+08:00'")
            conn.exec_driver_sql("INSERT INTO stamps VALUES (1, '2026-01-05 09:00:00', 1)")
        else:
            conn.exec_driver_sql("INSERT INTO stamps VALUES (1, '2026-01-05 09:00:00+08', 1)")
    client = make_client(sources=[{"name": "stamps", "table": "stamps", "key": ("id",), "watermark": "seq",
                                   "columns": {"approved_at": "approved_at"}, "timezone": "America/New_York"}])
    [change] = await drain(ChangeCapture(client, "stamps", MemoryPositionStore()))
    assert change.values == {"approved_at": datetime(2026, 1, 5, 1, 0, tzinfo=UTC)}
    assert change.version == "1"


async def test_text_from_gbk_and_utf8mb4_columns(erp: Erp, make_client: Any) -> None:
    orders_table(erp)
    number = "采购单-😀-𠮷野家"
    note = "供应商：上海某某办公家具有限公司（含税）"
    erp.run(INSERT, [{**order(1, T0), "doc_no": number, "note": note}])
    erp.ddl("CREATE TABLE legacy (id INT PRIMARY KEY, seq BIGINT NOT NULL, name VARBINARY(100))",
            "CREATE TABLE legacy (id INT PRIMARY KEY, seq BIGINT NOT NULL, name BYTEA)")
    erp.run("INSERT INTO legacy VALUES (1, 1, :name)", {"name": "人体工学椅".encode("gbk")})
    client = make_client(sources=[orders_source(),
                                  {"name": "legacy", "table": "legacy", "key": ("id",), "watermark": "seq",
                                   "columns": {"name": "name"}, "encodings": {"name": "gbk"}}])
    [change] = await drain(ChangeCapture(client, "orders", MemoryPositionStore()))
    assert change.values is not None
    assert change.values["number"] == number
    assert change.values["note"] == note
    if erp.mariadb:  # the note really is stored as GBK bytes, converted by the server on the way out
        [(stored,)] = erp.rows("SELECT HEX(note) FROM orders WHERE id = 1")
        assert bytes.fromhex(stored) == note.encode("gbk")
    [legacy] = await drain(ChangeCapture(client, "legacy", MemoryPositionStore()))
    assert legacy.values == {"name": "人体工学椅"}
