"""The ERP → OA direction through the ERP's database: a large purchase order appears in the ERP's table,
the change feed turns it into an event, the flow starts a DingTalk approval — once per order, however many
times the row changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from backends import PG_DSN, postgres_schema
from huiliu.cli.demo import DemoStack
from huiliu.connectors.sql import SqlSettings, SqlSource
from huiliu.store.schema import inbox, runs

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

