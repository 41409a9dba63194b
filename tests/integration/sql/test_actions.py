"""``sql.row.insert`` and ``sql.changes.since`` against the real MariaDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sql_env import INSERT_ORDER, T0, Erp, order, orders_source, orders_table

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.sql import SqlClient, register_actions
from huiliu.errors import ConfigError, MappingError, VendorRejected

INBOX_MARIADB = """CREATE TABLE po_inbox (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    hub_ref VARCHAR(64) NOT NULL UNIQUE,
    po_no VARCHAR(40) NOT NULL UNIQUE,
    supplier VARCHAR(100) CHARACTER SET gbk NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    approved_at DATETIME NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'NEW'
) DEFAULT CHARSET=utf8mb4"""
INBOX_POSTGRESQL = """CREATE TABLE po_inbox (
    id BIGSERIAL PRIMARY KEY,
    hub_ref VARCHAR(64) NOT NULL UNIQUE,
    po_no VARCHAR(40) NOT NULL UNIQUE,
    supplier VARCHAR(100) NOT NULL,
    amount NUMERIC(18,2) NOT NULL,
    approved_at TIMESTAMP NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'NEW'
)"""
TARGET = {"name": "po_inbox", "table": "po_inbox", "reference_column": "hub_ref",
          "columns": {"number": "po_no", "supplier": "supplier", "amount": "amount", "approved_at": "approved_at"}}
ROW = {"number": "PO-2026-0042", "supplier": "上海某某办公家具有限公司", "amount": "1299.00",
       "approved_at": "2026-01-05T09:30:00+08:00"}


def ctx(reference: str, attempt: int = 1) -> ActionContext:
    return ActionContext(idempotency_key=f"flow:{reference}:create", attempt=attempt, reference=reference)


@pytest.fixture
def actions(erp: Erp, make_client: Any) -> ActionRegistry:
    erp.ddl(INBOX_MARIADB, INBOX_POSTGRESQL)
    orders_table(erp)
    registry = ActionRegistry()
    client: SqlClient = make_client(sources=[orders_source()], targets=[TARGET])
    register_actions(registry, client)
    return registry


async def test_the_same_document_twice_makes_one_row(erp: Erp, actions: ActionRegistry) -> None:
    insert = actions.get("sql.row.insert")
    first = await insert({"row": ROW}, ctx("HL-0001"))
    again = await insert({"target": "po_inbox", "row": ROW}, ctx("HL-0001"))
    assert first["adopted"] is False and again["adopted"] is True
    assert first["key"] == again["key"] and first["reference"] == "HL-0001"
    assert first["row"]["status"] == "NEW"  # what the database filled in comes back
    assert first["row"]["amount"] == Decimal("1299.00")
    assert first["row"]["approved_at"] == datetime(2026, 1, 5, 1, 30, tzinfo=UTC)
    rows = erp.rows("SELECT hub_ref, po_no, supplier, amount, approved_at FROM po_inbox")
    assert rows == [("HL-0001", "PO-2026-0042", "上海某某办公家具有限公司", Decimal("1299.00"),
                     datetime(2026, 1, 5, 9, 30))]  # stored in the ERP's zone, Asia/Shanghai


async def test_a_retry_after_a_lost_reply_adopts_the_row(erp: Erp, actions: ActionRegistry) -> None:
    insert = actions.get("sql.row.insert")
    await insert({"row": ROW}, ctx("HL-0002"))  # applied; pretend the reply was lost
    retried = await insert({"row": ROW}, ctx("HL-0002", attempt=2))
    assert retried["adopted"] is True
    assert erp.rows("SELECT COUNT(*) FROM po_inbox") == [(1,)]


async def test_other_constraint_violations_are_the_erps_refusal(erp: Erp, actions: ActionRegistry) -> None:
    insert = actions.get("sql.row.insert")
    await insert({"row": ROW}, ctx("HL-0003"))
    with pytest.raises(VendorRejected) as duplicate:  # the same PO number under another reference
        await insert({"row": ROW}, ctx("HL-0004"))
    assert "PO-2026-0042" in (duplicate.value.vendor_message or "") or "po_no" in (duplicate.value.vendor_message or "")
    with pytest.raises(VendorRejected) as missing:  # NOT NULL supplier
        await insert({"row": {**ROW, "number": "PO-2", "supplier": None}}, ctx("HL-0005"))
    assert "supplier" in str(missing.value)
    assert erp.rows("SELECT COUNT(*) FROM po_inbox") == [(1,)]


async def test_bad_rows_fail_before_any_write(erp: Erp, actions: ActionRegistry) -> None:
    insert = actions.get("sql.row.insert")
    with pytest.raises(MappingError, match="amount"):
        await insert({"row": {**ROW, "amount": 1299.0}}, ctx("HL-0006"))
    with pytest.raises(MappingError, match="approved_at"):
        await insert({"row": {**ROW, "approved_at": "2026-01-05T09:30:00"}}, ctx("HL-0006"))
    with pytest.raises(MappingError, match="colour"):
        await insert({"row": {**ROW, "colour": "red"}}, ctx("HL-0006"))
    with pytest.raises(MappingError, match="nowhere"):
        await insert({"target": "nowhere", "row": ROW}, ctx("HL-0006"))
    assert erp.rows("SELECT COUNT(*) FROM po_inbox") == [(0,)]


async def test_a_renamed_target_column_is_a_config_error(erp: Erp, actions: ActionRegistry) -> None:
    insert = actions.get("sql.row.insert")
    await insert({"row": ROW}, ctx("HL-0007"))
    renamed = "ALTER TABLE po_inbox RENAME COLUMN po_no TO bill_no"
    erp.ddl(renamed, renamed)
    with pytest.raises(ConfigError) as caught:
        await insert({"row": {**ROW, "number": "PO-3"}}, ctx("HL-0008"))
    assert "po_no" in str(caught.value) and "po_inbox" in str(caught.value)


async def test_changes_since_pages_with_the_flows_position(erp: Erp, actions: ActionRegistry) -> None:
    erp.run(INSERT_ORDER, [order(i, T0) for i in range(1, 6)])
    since = actions.get("sql.changes.since")
    seen: list[int] = []
    position = None
    for expected_more in (True, True, False):
        result = await since({"source": "orders", "position": position, "limit": 2}, ctx("poll"))
        seen.extend(change["key"]["id"] for change in result["changes"])
        assert result["more"] is expected_more
        position = result["position"]
    assert seen == [1, 2, 3, 4, 5]
    empty = await since({"source": "orders", "position": position}, ctx("poll"))
    assert empty["changes"] == [] and empty["more"] is False
    with pytest.raises(ConfigError):
        await since({"source": "orders", "position": "{not a position"}, ctx("poll"))
    with pytest.raises(MappingError):
        await since({"source": "orders", "limit": 0}, ctx("poll"))
