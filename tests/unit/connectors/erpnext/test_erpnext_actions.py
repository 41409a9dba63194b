"""ERPNext actions against the ERPNext sandbox over real local HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.erpnext import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    ErpnextClient,
    ErpnextSettings,
    register_actions,
)
from huiliu.connectors.http import HttpClient
from huiliu.errors import AmbiguousOutcome, MappingError, TransientError, VendorRejected
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox
from huiliu.testing import FakeClock


@dataclass
class Env:
    sandbox: ErpnextSandbox
    registry: ActionRegistry
    http: aiohttp.ClientSession
    url: str
    clock: FakeClock

    async def run(self, name: str, request: dict[str, Any], attempt: int = 1, ref: str = "OA:ding/PR-42") -> Any:
        return await self.registry.get(name)(request, ActionContext("key-1", attempt, ref))


def make_env(http: aiohttp.ClientSession, url: str, sandbox: ErpnextSandbox, clock: FakeClock,
             **extra: Any) -> Env:
    settings = ErpnextSettings.model_validate({"base_url": url, "api_key": "erp-key", "api_secret": "erp-secret",
                                               "ambiguous_wait": 0, **extra})
    client = ErpnextClient(settings, HttpClient("erpnext", http, timeout=2, clock=clock))
    registry = ActionRegistry()
    register_actions(registry, client, settings)
    return Env(sandbox, registry, http, url, clock)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sandbox = ErpnextSandbox(clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield make_env(http, server.url, sandbox, clock)


def requisition(number: str = "PR-2026-0042", price: str = "1299.00", quantity: str = "4") -> dict[str, Any]:
    return {"number": number, "currency": "CNY", "description": "研发部采购办公椅",
            "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000MA1FL0000X"},
            "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                       "quantity": quantity, "unit_price": price, "description": "黑色 带头枕"},
                      {"item": {"code": "DESK-01", "name": "升降桌", "unit": "套"},
                       "quantity": "2", "unit_price": "0.10"}]}


async def test_requisition_becomes_a_submitted_order_with_its_number(env: Env) -> None:
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert result["number"] == result["id"] == "PUR-ORD-2026-00001"
    assert (result["state"], result["docstatus"], result["adopted"]) == ("To Receive and Bill", 1, False)
    assert result["untaxed_amount"] == result["total_amount"] == Decimal("5196.20")
    assert result["party"] == "上海某某办公家具有限公司"
    [order] = env.sandbox.orders()
    assert (order["docstatus"], order["custom_huiliu_ref"]) == (1, "OA:ding/PR-42")
    assert order["company"] == "汇流科技有限公司"
    assert [i["uom"] for i in order["items"]] == ["Nos", "Set"]
    assert order["transaction_date"] == "2026-11-25"  # 09:00 UTC is 17:00 in Shanghai, the same day
    assert order["schedule_date"] == "2026-12-02"


async def test_supplier_and_items_are_created_once_and_matched_on_the_second_requisition(env: Env) -> None:
    await env.run(PURCHASE_CREATE, {"requisition": requisition()}, ref="R1")
    second = await env.run(PURCHASE_CREATE, {"requisition": requisition("PR-43")}, ref="R2")
    assert second["number"] == "PUR-ORD-2026-00002"
    assert list(env.sandbox.docs("Supplier")) == ["上海某某办公家具有限公司"]
    assert sorted(env.sandbox.docs("Item")) == ["CHAIR-01", "DESK-01"]
    assert env.sandbox.calls["Supplier.insert"] == 1
    assert env.sandbox.calls["Item.insert"] == 2
    party = await env.run(PARTY_ENSURE, {"supplier": {"name": "别名", "code": "SUP-001"}})
    assert (party["created"], party["matched_by"], party["id"]) == (False, "code", "上海某某办公家具有限公司")
    by_tax = await env.run(PARTY_ENSURE, {"supplier": {"name": "别名", "tax_id": "91310000MA1FL0000X"}})
    assert by_tax["matched_by"] == "tax_id"
    item = await env.run(PRODUCT_ENSURE, {"item": {"code": "CHAIR-01", "name": "别名"}})
    assert (item["created"], item["name"], item["unit"]) == (False, "人体工学椅", "Nos")


async def test_a_supplier_of_the_same_name_is_adopted_on_409(env: Env) -> None:
    by_code = make_env(env.http, env.url, env.sandbox, env.clock, party_match=["code"])
    await by_code.run(PARTY_ENSURE, {"supplier": {"name": "宁波某某", "code": "A"}})
    again = await by_code.run(PARTY_ENSURE, {"supplier": {"name": "宁波某某", "code": "B"}})
    assert (again["created"], again["id"], again["matched_by"]) == (False, "宁波某某", "name")
    assert len(env.sandbox.docs("Supplier")) == 1


async def test_retry_after_applied_then_dropped_insert_adopts_the_order(env: Env) -> None:
    env.sandbox.faults.script("Purchase Order.insert", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    [order] = env.sandbox.orders()
    assert order["docstatus"] == 0
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    assert (result["adopted"], result["id"], result["docstatus"]) == (True, order["name"], 1)
    assert len(env.sandbox.orders()) == 1
    assert env.sandbox.calls["Purchase Order.insert"] == 1


async def test_a_lost_submit_reply_is_absorbed_because_submitting_twice_is_harmless(env: Env) -> None:
    # aiohttp re-sends an idempotent PUT once when a kept-alive connection closes; docstatus 1 → 1 is a no-op.
    env.sandbox.faults.script("Purchase Order.update", Fault(FaultKind.APPLIED_REPLY_LOST))
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    assert (result["adopted"], result["docstatus"]) == (False, 1)
    assert env.sandbox.calls["Purchase Order.update"] == 2
    assert len(env.sandbox.orders()) == 1


async def test_retry_after_a_lost_cancel_reply_finds_it_cancelled(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    env.sandbox.faults.script("cancel", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await env.run(PURCHASE_REVERSE, {"id": created["id"]})
    again = await env.run(PURCHASE_REVERSE, {"id": created["id"]}, attempt=2)
    assert (again["docstatus"], again["already_cancelled"]) == (2, True)
    assert env.sandbox.calls["cancel"] == 1


async def test_a_unique_reference_refusal_adopts_the_first_order() -> None:
    clock = FakeClock()
    sandbox = ErpnextSandbox(clock=clock, unique_reference=True)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        env = make_env(http, server.url, sandbox, clock)
        first = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
        # A flow that lost the first result and starts over at attempt 1 (no lookup) is refused, then adopts.
        again = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    assert (again["adopted"], again["id"]) == (True, first["id"])
    assert len(sandbox.orders()) == 1


async def test_read_returns_decimals_to_the_cent_and_chinese_text(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition(price="0.07", quantity="3")})
    by_ref = await env.run(PURCHASE_READ, {"reference": "OA:ding/PR-42"})
    assert by_ref == await env.run(PURCHASE_READ, {"id": created["id"]})
    assert by_ref["untaxed_amount"] == by_ref["total_amount"] == Decimal("0.41")
    assert by_ref["tax_amount"] == Decimal("0.00")
    assert (by_ref["description"], by_ref["purchase_date"]) == ("研发部采购办公椅", date(2026, 11, 25))
    assert [(r["product"], r["description"], r["quantity"], r["unit_price"], r["amount"]) for r in by_ref["lines"]] \
        == [("CHAIR-01", "黑色 带头枕", Decimal("3.0"), Decimal("0.07"), Decimal("0.21")),
            ("DESK-01", "升降桌", Decimal("2.0"), Decimal("0.1"), Decimal("0.20"))]
    assert (by_ref["invoice_state"], by_ref["shipment_state"]) == ("Not Billed", "Not Received")
    env.sandbox.receive(created["id"])
    received = await env.run(PURCHASE_READ, {"id": created["id"]})
    assert (received["state"], received["shipment_state"]) == ("To Bill", "Fully Received")


async def test_reverse_cancels_and_is_safe_to_retry(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    result = await env.run(PURCHASE_REVERSE, {"reference": "OA:ding/PR-42"})
    assert (result["state"], result["docstatus"], result["already_cancelled"]) == ("Cancelled", 2, False)
    again = await env.run(PURCHASE_REVERSE, {"id": created["id"]}, attempt=2)
    assert (again["docstatus"], again["already_cancelled"]) == (2, True)
    assert env.sandbox.calls["cancel"] == 1


async def test_reverse_of_a_draft_deletes_it(env: Env) -> None:
    drafts = make_env(env.http, env.url, env.sandbox, env.clock, submit_purchases=False)
    created = await drafts.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert created["docstatus"] == 0
    result = await drafts.run(PURCHASE_REVERSE, {"id": created["id"]})
    assert result["state"] == "Deleted"
    assert env.sandbox.orders() == []


async def test_reverse_of_a_received_order_names_what_erpnext_requires(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    receipt = env.sandbox.receive(created["id"])
    with pytest.raises(VendorRejected) as caught:
        await env.run(PURCHASE_REVERSE, {"id": created["id"]})
    assert f"ERPNext 不允许取消采购订单 {created['id']}" in str(caught.value)
    assert caught.value.vendor_code == "LinkExistsError"
    assert receipt in (caught.value.vendor_message or "")
    assert env.sandbox.orders()[0]["docstatus"] == 1


async def test_changes_since_pages_in_modified_order(env: Env) -> None:
    start = env.clock.now()
    for index in range(5):
        env.clock.advance(60)
        await env.run(PURCHASE_CREATE, {"requisition": requisition(f"PR-{index}")}, ref=f"R-{index}")
    since = (start + timedelta(minutes=2)).astimezone(UTC).isoformat()
    page = await env.run(CHANGES_SINCE, {"since": since, "limit": 2})
    assert [r["id"] for r in page["records"]] == ["PUR-ORD-2026-00002", "PUR-ORD-2026-00003"]
    assert page["records"][0]["modified"] == start + timedelta(minutes=2)
    second = await env.run(CHANGES_SINCE, page["next"])
    third = await env.run(CHANGES_SINCE, second["next"])
    assert [r["id"] for r in second["records"]] == ["PUR-ORD-2026-00004", "PUR-ORD-2026-00005"]
    assert (third["records"], third["next"]) == ([], None)
    assert second["high_water"] == start + timedelta(minutes=5)
    suppliers = await env.run(CHANGES_SINCE, {"model": "Supplier", "since": start.isoformat(),
                                              "fields": ["supplier_name"]})
    assert [r["supplier_name"] for r in suppliers["records"]] == ["上海某某办公家具有限公司"]


async def test_changes_since_refuses_a_naive_time(env: Env) -> None:
    with pytest.raises(MappingError, match="带时区"):
        await env.run(CHANGES_SINCE, {"since": datetime(2026, 11, 25).isoformat()})
