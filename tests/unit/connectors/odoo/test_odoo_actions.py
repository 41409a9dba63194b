"""Odoo actions against the Odoo sandbox over real local HTTP, through both APIs (JSON-RPC ≤ 18, JSON-2 19+)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.odoo import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    OdooClient,
    OdooSettings,
    register_actions,
)
from huiliu.errors import AmbiguousOutcome, MappingError, TransientError, VendorRejected
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.odoo import OdooSandbox
from huiliu.testing import FakeClock


@dataclass
class Env:
    sandbox: OdooSandbox
    client: OdooClient
    registry: ActionRegistry
    http: aiohttp.ClientSession
    url: str

    async def run(self, name: str, request: dict[str, Any], attempt: int = 1, ref: str = "OA:ding/PR-42") -> Any:
        return await self.registry.get(name)(request, ActionContext("key-1", attempt, ref))


def make_env(http: aiohttp.ClientSession, url: str, sandbox: OdooSandbox, api: str, **extra: Any) -> Env:
    settings = OdooSettings.model_validate({"base_url": url, "database": "hub", "login": "api",
                                            "api_key": "odoo-key", "api": api, "ambiguous_wait": 0, **extra})
    client = OdooClient(settings, HttpClient("odoo", http, timeout=2))
    registry = ActionRegistry()
    register_actions(registry, client, settings)
    return Env(sandbox, client, registry, http, url)


@pytest.fixture(params=["jsonrpc", "json2"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    sandbox = OdooSandbox(clock=FakeClock())
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield make_env(http, server.url, sandbox, request.param)


def requisition(number: str = "PR-2026-0042", price: str = "1299.00", quantity: str = "4") -> dict[str, Any]:
    return {"number": number, "currency": "CNY", "description": "研发部采购办公椅",
            "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000MA1FL0000X",
                         "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
            "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                       "quantity": quantity, "unit_price": price, "description": "黑色 带头枕"},
                      {"item": {"code": "DESK-01", "name": "升降桌", "unit": "台"},
                       "quantity": "2", "unit_price": "0.10"}]}


async def test_requisition_becomes_a_confirmed_order_with_its_number(env: Env) -> None:
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert result["number"] == "P00001"
    assert result["state"] == "purchase"
    assert result["adopted"] is False
    assert result["untaxed_amount"] == Decimal("5196.20")
    assert result["total_amount"] == Decimal("5196.20")
    assert result["currency"] == "CNY"
    [order] = env.sandbox.orders()
    assert (order["state"], order["origin"], order["name"]) == ("purchase", "OA:ding/PR-42", "P00001")
    assert order["date_approve"]
    lines = env.sandbox.order_lines(order["id"])
    assert [line["product_uom"] for line in lines] == [1, 1]  # 把 and 台 both map to Units
    assert [line["name"] for line in lines] == ["黑色 带头枕", "升降桌"]


async def test_supplier_and_items_are_created_once_and_matched_on_the_second_requisition(env: Env) -> None:
    await env.run(PURCHASE_CREATE, {"requisition": requisition()}, ref="REF-1")
    partners, products = len(env.sandbox.records("res.partner")), len(env.sandbox.records("product.product"))
    second = await env.run(PURCHASE_CREATE, {"requisition": requisition("PR-2026-0043")}, ref="REF-2")
    assert second["number"] == "P00002"
    assert len(env.sandbox.records("res.partner")) == partners == 2  # the company itself and the supplier
    assert len(env.sandbox.records("product.product")) == products == 2
    party = await env.run(PARTY_ENSURE, {"supplier": {"name": "别的名字", "code": "SUP-001"}})
    assert (party["created"], party["matched_by"], party["code"]) == (False, "code", "SUP-001")
    assert party["name"] == "上海某某办公家具有限公司"
    by_tax = await env.run(PARTY_ENSURE, {"supplier": {"name": "别的名字", "tax_id": "91310000MA1FL0000X"}})
    assert (by_tax["id"], by_tax["matched_by"]) == (party["id"], "tax_id")
    item = await env.run(PRODUCT_ENSURE, {"item": {"code": "CHAIR-01", "name": "不同名称"}})
    assert (item["created"], item["matched_by"], item["name"], item["unit"]) == (False, "code", "人体工学椅", 1)


async def test_party_match_by_name_only_is_configurable(env: Env) -> None:
    by_name = make_env(env.http, env.url, env.sandbox, env.client.settings.api.value, party_match=["name"])
    first = await by_name.run(PARTY_ENSURE, {"supplier": {"name": "杭州某某电子", "code": "A"}})
    second = await by_name.run(PARTY_ENSURE, {"supplier": {"name": "杭州某某电子", "code": "B"}})
    assert first["created"] is True
    assert (second["created"], second["id"], second["matched_by"]) == (False, first["id"], "name")
    other = await by_name.run(PARTY_ENSURE, {"supplier": {"name": "宁波某某", "code": "A"}})
    assert other["created"] is True  # the code is not looked at


async def test_retry_after_applied_then_dropped_create_adopts_the_order(env: Env) -> None:
    env.sandbox.faults.script("purchase.order.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as caught:
        await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    assert caught.value.retry_after == 0
    [order] = env.sandbox.orders()
    assert order["state"] == "draft"  # Odoo made it; the hub does not know
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    assert result["adopted"] is True
    assert (result["id"], result["state"]) == (order["id"], "purchase")
    assert len(env.sandbox.orders()) == 1
    assert env.sandbox.book.create_calls["purchase.order"] == 1


async def test_retry_after_a_lost_confirm_reply_does_not_confirm_twice(env: Env) -> None:
    env.sandbox.faults.script("purchase.order.button_confirm", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    assert (result["adopted"], result["state"]) == (True, "purchase")
    assert env.sandbox.calls["purchase.order.button_confirm"] == 1
    assert len(env.sandbox.orders()) == 1


async def test_retry_when_the_first_create_never_arrived_creates_once(env: Env) -> None:
    env.sandbox.faults.script("purchase.order.create", Fault(FaultKind.DROP))
    with pytest.raises(AmbiguousOutcome):
        await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    assert env.sandbox.orders() == []
    result = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    assert result["adopted"] is False
    assert len(env.sandbox.orders()) == 1


async def test_partner_ref_can_hold_the_reference(env: Env) -> None:
    custom = make_env(env.http, env.url, env.sandbox, env.client.settings.api.value, reference_field="partner_ref")
    env.sandbox.faults.script("purchase.order.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await custom.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=1)
    result = await custom.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    [order] = env.sandbox.orders()
    assert (result["adopted"], order["partner_ref"], order.get("origin")) == (True, "OA:ding/PR-42", None)


async def test_confirmation_can_be_turned_off(env: Env) -> None:
    quiet = make_env(env.http, env.url, env.sandbox, env.client.settings.api.value, confirm_purchases=False)
    result = await quiet.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert result["state"] == "draft"
    assert env.sandbox.calls["purchase.order.button_confirm"] == 0


async def test_double_validation_leaves_the_order_to_approve() -> None:
    sandbox = OdooSandbox(approval_threshold=Decimal(5000))
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        env = make_env(http, server.url, sandbox, "jsonrpc")
        big = await env.run(PURCHASE_CREATE, {"requisition": requisition()}, ref="R1")
        small = await env.run(PURCHASE_CREATE, {"requisition": requisition(quantity="1")}, ref="R2")
    assert (big["state"], small["state"]) == ("to approve", "purchase")


async def test_read_returns_decimals_to_the_cent_and_chinese_text(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition(price="0.07", quantity="3")})
    by_ref = await env.run(PURCHASE_READ, {"reference": "OA:ding/PR-42"})
    by_id = await env.run(PURCHASE_READ, {"id": created["id"]})
    assert by_ref == by_id
    assert by_ref["untaxed_amount"] == Decimal("0.41")  # 3 × 0.07 + 2 × 0.10
    assert isinstance(by_ref["total_amount"], Decimal)
    assert by_ref["description"] == "研发部采购办公椅"
    assert by_ref["reference"] == "OA:ding/PR-42"
    assert by_ref["purchase_date"] == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert [(line["description"], line["quantity"], line["unit_price"], line["amount"]) for line in by_ref["lines"]] \
        == [("黑色 带头枕", Decimal("3.0"), Decimal("0.07"), Decimal("0.21")),
            ("升降桌", Decimal("2.0"), Decimal("0.1"), Decimal("0.20"))]
    assert by_ref["invoices"] == []
    env.sandbox.book.receive(created["id"])
    env.sandbox.book.bill(created["id"])
    billed = await env.run(PURCHASE_READ, {"id": created["id"]})
    assert (billed["invoice_state"], billed["shipment_state"]) == ("invoiced", "full")
    [bill] = billed["invoices"]
    assert (bill["state"], bill["type"], bill["total_amount"]) == ("posted", "in_invoice", Decimal("0.41"))


async def test_read_of_an_unknown_reference_is_rejected_in_chinese(env: Env) -> None:
    with pytest.raises(VendorRejected, match="Odoo 中找不到采购订单"):
        await env.run(PURCHASE_READ, {"reference": "nope"})
    with pytest.raises(MappingError):
        await env.run(PURCHASE_READ, {})


async def test_reverse_cancels_a_confirmed_order_and_is_safe_to_retry(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    result = await env.run(PURCHASE_REVERSE, {"reference": "OA:ding/PR-42"})
    assert (result["state"], result["already_cancelled"], result["number"]) == ("cancel", False, created["number"])
    assert env.sandbox.orders()[0]["state"] == "cancel"
    again = await env.run(PURCHASE_REVERSE, {"id": created["id"]}, attempt=2)
    assert (again["state"], again["already_cancelled"]) == ("cancel", True)
    assert env.sandbox.calls["purchase.order.button_cancel"] == 1


async def test_reverse_of_a_received_order_names_what_odoo_requires(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    env.sandbox.book.receive(created["id"])
    with pytest.raises(VendorRejected) as caught:
        await env.run(PURCHASE_REVERSE, {"id": created["id"]})
    assert "Odoo 不允许取消采购订单 P00001" in str(caught.value)
    assert "receptions have already been done" in (caught.value.vendor_message or "")
    assert caught.value.retryable is False
    assert env.sandbox.orders()[0]["state"] == "purchase"


async def test_reverse_of_a_billed_order_is_refused(env: Env) -> None:
    created = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
    env.sandbox.book.bill(created["id"])
    with pytest.raises(VendorRejected, match="vendor bills"):
        await env.run(PURCHASE_REVERSE, {"id": created["id"]})


async def test_changes_since_pages_in_write_date_order(env: Env) -> None:
    clock = env.sandbox.clock
    assert isinstance(clock, FakeClock)
    start = clock.now()
    for index in range(5):
        clock.advance(60)
        await env.run(PURCHASE_CREATE, {"requisition": requisition(f"PR-{index}")}, ref=f"R-{index}")
    clock.advance(60)
    since = (start + timedelta(minutes=2)).astimezone(UTC).isoformat()  # the second order on
    page = await env.run(CHANGES_SINCE, {"since": since, "limit": 2})
    assert [r["name"] for r in page["records"]] == ["P00002", "P00003"]
    assert page["records"][0]["modified"] == start + timedelta(minutes=2)
    assert page["next"] is not None
    second = await env.run(CHANGES_SINCE, page["next"])
    third = await env.run(CHANGES_SINCE, second["next"])
    assert [r["name"] for r in second["records"]] == ["P00004", "P00005"]
    assert third["records"] == []
    assert third["next"] is None
    assert second["high_water"] == start + timedelta(minutes=5)
    east = (start + timedelta(minutes=4)).astimezone(datetime.fromisoformat("2026-01-01T00:00+08:00").tzinfo)
    shifted = await env.run(CHANGES_SINCE, {"since": east.isoformat()})
    assert [r["name"] for r in shifted["records"]] == ["P00004", "P00005"]  # the zone is honoured


async def test_changes_since_refuses_a_naive_time(env: Env) -> None:
    with pytest.raises(MappingError, match="带时区"):
        await env.run(CHANGES_SINCE, {"since": "2026-11-25T09:00:00"})


async def test_malformed_requisition_fails_before_any_call(env: Env) -> None:
    bad = requisition()
    bad["lines"][0]["unit_price"] = 12.5
    with pytest.raises(MappingError) as caught:
        await env.run(PURCHASE_CREATE, {"requisition": bad})
    assert (caught.value.where or "").startswith("requisition.lines.0.unit_price")
    assert sum(env.sandbox.calls.values()) == 0
