"""The ERP → OA direction through the ERP's database: a large purchase order appears in the ERP's table,
the change feed turns it into an event, the flow starts a DingTalk approval — once per order, however many
times the row changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from backends import PG_DSN, postgres_schema
from huiliu.cli.demo import DemoStack
from huiliu.connectors.sql import SqlSettings, SqlSource, SqlTarget
from huiliu.service import TEMPLATES
from huiliu.store.schema import dead_letters, inbox, runs, waits

FLOW = """\
id: large-po-approval
version: "1"
title: 大额采购订单 → 钉钉审批
trigger:
  event: sql.erp_orders.changed
  when: "(form['amount'] | decimal) >= 10000"
steps:
  - id: approval
    call: dingtalk.approval.create
    with:
      process_code: PROC-PO-APPROVAL
      originator_user_id: "{{ form['buyer'] }}"
      document:
        采购订单号: "{{ form['number'] }}"
        金额: "{{ form['amount'] }}"
"""


@pytest.fixture
def erp_table() -> Iterator[str]:
    """A fresh schema holding the ERP's purchase-order table; yields the schema name."""
    with postgres_schema() as url:
        schema = url.rsplit("%3D", 1)[1]
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE TABLE "{schema}".erp_orders (id integer primary key, number text not null, '
                         "amount numeric(18,2) not null, buyer text not null, updated_at timestamptz not null)")
        yield schema


def write(schema: str, sql: str, *args: object) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.replace("T.", f'"{schema}".'), args)


async def test_a_large_order_in_the_erp_database_starts_one_approval_however_often_it_changes(
        make_stack: Callable[..., DemoStack], tmp_path: Path, erp_table: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "po.yaml").write_text(FLOW, encoding="utf-8")
    sql = SqlSettings(url="postgresql+psycopg://postgres@127.0.0.1:5432/test", sources=(SqlSource(
        name="erp_orders", table="erp_orders", db_schema=erp_table, key=("id",), watermark="updated_at",
        columns={"number": "number", "amount": "amount", "buyer": "buyer"}),))
    async with make_stack(seed=37, settings={"sql": sql, "flows_dir": flows}) as stack:
        hub = stack.hub
        assert hub is not None
        buyer = stack.company.employees[0].oa_user_id
        write(erp_table, "INSERT INTO T.erp_orders VALUES (1, 'PO-0001', 25800.00, %s, now()), "
                         "(2, 'PO-0002', 980.50, %s, now())", buyer, buyer)
        feed = hub.change_feed()
        assert feed is not None
        assert await feed.poll() == 2
        assert await stack.settle(expected_runs=1, timeout=30)
        assert len(stack.ding.instances) == 1  # only the large order needs an approval
        [instance] = stack.ding.instances.values()
        fields = {f["name"]: f["value"] for f in instance.form}
        assert fields["采购订单号"] == "PO-0001" and fields["金额"] == "25800.00"
        assert await feed.poll() == 0  # nothing new: nothing stored twice
        write(erp_table, "UPDATE T.erp_orders SET amount = 26000.00, updated_at = now() + interval '1 second' "
                         "WHERE id = 1")
        assert await feed.poll() == 1  # a new version of the row: a new event …
        assert await stack.settle(expected_runs=2, timeout=30)
        assert len(stack.ding.instances) == 1  # … but the order's approval exists once
        with hub.db.read() as conn:
            types = conn.execute(select(inbox.c.type)).scalars().all()
            statuses = conn.execute(select(runs.c.status)).scalars().all()
        assert sorted(types) == ["sql.erp_orders.changed"] * 3
        assert statuses == ["succeeded", "succeeded"]



_SHIPPED = (TEMPLATES / "erp_document_approval.yaml").read_text(encoding="utf-8")
assert "timeout: 259200" in _SHIPPED and "on_timeout: continue" in _SHIPPED
ROUND_TRIP = _SHIPPED.replace("timeout: 259200", "timeout: TIMEOUT").replace("on_timeout: continue",
                                                                             "on_timeout: ON_TIMEOUT")
"""The shipped scenario-5 template, with the wait's timeout and outcome set per test."""


def round_trip(tmp_path: Path, schema: str, *, timeout: float = 3600, on_timeout: str = "fail") -> dict[str, Any]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "po.yaml").write_text(ROUND_TRIP.replace("ON_TIMEOUT", on_timeout).replace("TIMEOUT", str(timeout)),
                                   encoding="utf-8")
    write(schema, "CREATE TABLE T.erp_po_results (id serial primary key, po_number text not null, "
                  "result text not null, huiliu_ref text not null unique)")
    sql = SqlSettings(url="postgresql+psycopg://postgres@127.0.0.1:5432/test", sources=(SqlSource(
        name="erp_orders", table="erp_orders", db_schema=schema, key=("id",), watermark="updated_at",
        columns={"number": "number", "amount": "amount", "buyer": "buyer"}),), targets=(SqlTarget(
        name="po_results", table="erp_po_results", db_schema=schema, reference_column="huiliu_ref",
        columns={"po_number": "po_number", "result": "result"}),))
    return {"sql": sql, "flows_dir": flows}


def results(schema: str) -> dict[str, str]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return dict(conn.execute(f'SELECT po_number, result FROM "{schema}".erp_po_results').fetchall())


async def test_erp_document_to_oa_approval_and_the_verdict_back_to_the_erp(
        make_stack: Callable[..., DemoStack], tmp_path: Path, erp_table: str) -> None:
    """Scenario 5: ERP document → OA approval → wait for the verdict → ERP, for an approval and a refusal."""
    async with make_stack(seed=39, settings=round_trip(tmp_path, erp_table)) as stack:
        hub = stack.hub
        assert hub is not None and hub.change_feed() is not None
        buyer = stack.company.employees[1].oa_user_id
        write(erp_table, "INSERT INTO T.erp_orders VALUES (1, 'PO-0101', 52000.00, %s, now()), "
                         "(2, 'PO-0102', 18000.00, %s, now())", buyer, buyer)
        feed = hub.change_feed()
        assert feed is not None and await feed.poll() == 2
        for _ in range(300):  # both runs reach their wait
            with hub.db.read() as conn:
                if conn.execute(select(func.count()).select_from(waits)).scalar_one() == 2:
                    break
            await asyncio.sleep(0.02)
        by_order = {next(f["value"] for f in i.form if f["name"] == "采购订单号"): i.instance_id
                    for i in stack.ding.instances.values()}
        assert set(by_order) == {"PO-0101", "PO-0102"} and results(erp_table) == {}
        stack.ding.finish(by_order["PO-0101"], "approved")
        stack.ding.finish(by_order["PO-0102"], "refused")
        for _ in range(300):
            if len(results(erp_table)) == 2:
                break
            await asyncio.sleep(0.05)
        assert results(erp_table) == {"PO-0101": "approved", "PO-0102": "refused"}
        # The ERP row is written by the call; the run is marked done in the transaction after it returns.
        assert await stack.settle(expected_runs=2, timeout=30)
        with hub.db.read() as conn:
            assert conn.execute(select(runs.c.status)).scalars().all() == ["succeeded", "succeeded"]
            assert conn.execute(select(func.count()).select_from(waits)).scalar_one() == 0


@pytest.mark.parametrize("on_timeout", ["continue", "fail"])
async def test_a_wait_that_times_out_goes_on_or_fails_as_the_flow_says(
        make_stack: Callable[..., DemoStack], tmp_path: Path, erp_table: str, on_timeout: str) -> None:
    async with make_stack(seed=41, settings=round_trip(tmp_path, erp_table, timeout=0.5,
                                                       on_timeout=on_timeout)) as stack:
        hub = stack.hub
        assert hub is not None
        write(erp_table, "INSERT INTO T.erp_orders VALUES (1, 'PO-0201', 99000.00, %s, now())",
              stack.company.employees[1].oa_user_id)
        feed = hub.change_feed()
        assert feed is not None and await feed.poll() == 1
        for _ in range(300):
            with hub.db.read() as conn:
                status = conn.execute(select(runs.c.status)).scalar()
            if status in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.05)
        with hub.db.read() as conn:
            dead = conn.execute(select(dead_letters.c.reason)).scalars().all()
        if on_timeout == "continue":
            assert status == "succeeded" and results(erp_table) == {"PO-0201": "timeout"} and dead == []
        else:
            assert status == "failed" and results(erp_table) == {} and dead == ["wait_timeout"]
