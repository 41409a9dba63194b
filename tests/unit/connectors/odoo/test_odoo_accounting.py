"""Odoo payments, vouchers and projects against the Odoo sandbox over real local HTTP, through both APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.odoo import (
    PARTY_ENSURE,
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    VOUCHER_CREATE,
    OdooClient,
    OdooSettings,
    register_actions,
)
from huiliu.errors import AmbiguousOutcome, MappingError, UnbalancedVoucher, VendorRejected
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.odoo import OdooSandbox
from huiliu.testing import FakeClock


@dataclass
class Env:
    sandbox: OdooSandbox
    registry: ActionRegistry
    http: aiohttp.ClientSession
    url: str
    api: str

    async def run(self, name: str, request: dict[str, Any], attempt: int = 1, ref: str = "OA:ding/FK-7") -> Any:
        return await self.registry.get(name)(request, ActionContext("key-1", attempt, ref))


def make_env(http: aiohttp.ClientSession, url: str, sandbox: OdooSandbox, api: str, **extra: Any) -> Env:
    settings = OdooSettings.model_validate({"base_url": url, "database": "hub", "login": "api",
                                            "api_key": "odoo-key", "api": api, "ambiguous_wait": 0, **extra})
    registry = ActionRegistry()
    register_actions(registry, OdooClient(settings, HttpClient("odoo", http, timeout=2)), settings)
    return Env(sandbox, registry, http, url, api)


@pytest.fixture(params=["jsonrpc", "json2"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    sandbox = OdooSandbox(clock=FakeClock(), lock_date=date(2026, 6, 30))
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield make_env(http, server.url, sandbox, request.param)


def payment(amount: str = "12800.07", day: str = "2026-11-26") -> dict[str, Any]:
    return {"number": "FK-2026-0007", "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001"},
            "amount": amount, "currency": "CNY", "date": day, "description": "支付货款",
            "invoice_number": "INV-88", "project": "P-2026-01"}


def voucher(amount: str = "350.25", account: str = "6602", project: str | None = "P-2026-01") -> dict[str, Any]:
    aux = [["department", "BM001"], *([["project", project]] if project else [])]
    return {"reference": "BX-2026-0101", "book": "main", "date": "2026-11-20", "group": "记", "currency": "CNY",
            "lines": [{"summary": "差旅费 张三", "account": account, "direction": "debit",
                       "amount": {"amount": amount}, "aux": aux},
                      {"summary": "应付报销款", "account": "2241", "direction": "credit",
                       "amount": {"amount": amount}}]}


PROJECT = {"code": "P-2026-01", "name": "华东仓储改造项目", "budget": "500000.00"}


async def test_payment_is_created_posted_and_read_back_to_the_cent(env: Env) -> None:
    result = await env.run(PAYMENT_CREATE, {"payment": payment()})
    assert result == {"id": result["id"], "number": "PBNK1/2026/00001", "state": "posted",
                      "reference": "OA:ding/FK-7", "amount": Decimal("12800.07"), "currency": "CNY", "paid": False,
                      "adopted": False}
    [stored] = env.sandbox.records("account.payment").values()
    assert (stored["payment_type"], stored["partner_type"], stored["ref"]) == ("outbound", "supplier", "OA:ding/FK-7")
    partner = env.sandbox.records("res.partner")[stored["partner_id"]]
    assert partner["name"] == "上海某某办公家具有限公司"
    env.sandbox.book.accounting.settle(result["id"])
    by_ref = await env.run(PAYMENT_READ, {"reference": "OA:ding/FK-7"})
    by_id = await env.run(PAYMENT_READ, {"id": result["id"]})
    assert by_ref == by_id == {**result, "paid": True}


async def test_supplier_is_reused_by_the_second_payment(env: Env) -> None:
    await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="R-1")
    await env.run(PAYMENT_CREATE, {"payment": payment("1.00")}, ref="R-2")
    partners = [p for p in env.sandbox.records("res.partner").values() if p["name"] == "上海某某办公家具有限公司"]
    assert len(partners) == 1
    party = await env.run(PARTY_ENSURE, {"supplier": {"name": "别名", "code": "SUP-001"}})
    assert (party["created"], party["id"]) == (False, partners[0]["id"])


async def test_retry_after_applied_then_dropped_create_adopts_the_payment(env: Env) -> None:
    env.sandbox.faults.script("account.payment.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await env.run(PAYMENT_CREATE, {"payment": payment()})
    [draft] = env.sandbox.records("account.payment").values()
    assert draft["state"] == "draft"
    result = await env.run(PAYMENT_CREATE, {"payment": payment()}, attempt=2)
    assert (result["adopted"], result["state"], result["id"]) == (True, "posted", draft["id"])
    assert len(env.sandbox.records("account.payment")) == 1
    again = await env.run(PAYMENT_CREATE, {"payment": payment()}, attempt=3)
    assert (again["adopted"], again["number"]) == (True, result["number"])
    assert env.sandbox.calls["account.payment.action_post"] == 1


async def test_memo_field_and_paid_state_of_odoo_18_are_settings() -> None:
    sandbox = OdooSandbox(clock=FakeClock(), paid_state="paid")
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        env = make_env(http, server.url, sandbox, "json2", payment_reference_field="memo", payment_paid_field=None)
        result = await env.run(PAYMENT_CREATE, {"payment": payment()})
        sandbox.book.accounting.settle(result["id"])
        read = await env.run(PAYMENT_READ, {"reference": "OA:ding/FK-7"})
    [stored] = sandbox.records("account.payment").values()
    assert (stored["memo"], stored.get("ref")) == ("OA:ding/FK-7", None)
    assert (read["state"], read["paid"]) == ("paid", True)


async def test_payment_inside_the_lock_date_is_refused_with_odoos_message(env: Env) -> None:
    with pytest.raises(VendorRejected) as caught:
        await env.run(PAYMENT_CREATE, {"payment": payment(day="2026-06-30")})
    assert "lock date 2026-06-30" in (caught.value.vendor_message or "")
    assert "Odoo 拒绝了 account.payment.action_post" in str(caught.value)
    assert caught.value.retryable is False


async def test_bad_payment_is_refused_before_any_call(env: Env) -> None:
    with pytest.raises(MappingError, match="付款金额必须大于 0"):
        await env.run(PAYMENT_CREATE, {"payment": payment("0")})
    with pytest.raises(MappingError):
        await env.run(PAYMENT_READ, {})
    with pytest.raises(VendorRejected, match="Odoo 中找不到付款"):
        await env.run(PAYMENT_READ, {"reference": "nope"})
    assert env.sandbox.records("account.payment") == {}


async def test_voucher_becomes_a_posted_balanced_entry_retried_once(env: Env) -> None:
    await env.run(PROJECT_ENSURE, {"project": PROJECT})
    env.sandbox.faults.script("account.move.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await env.run(VOUCHER_CREATE, {"voucher": voucher()}, ref="OA:BX-101")
    result = await env.run(VOUCHER_CREATE, {"voucher": voucher()}, attempt=2, ref="OA:BX-101")
    assert result == {"id": result["id"], "number": "MISC/2026/00001", "status": "posted", "adopted": True}
    [move] = env.sandbox.records("account.move").values()
    assert (move["ref"], move["state"], move["narration"]) == ("OA:BX-101", "posted", "记 BX-2026-0101")
    items = [env.sandbox.records("account.move.line")[i] for i in move["line_ids"]]
    assert [(i["debit"], i["credit"]) for i in items] == [(Decimal("350.25"), 0), (0, Decimal("350.25"))]
    assert items[0]["name"] == "差旅费 张三 [部门 BM001]"
    assert items[0]["analytic_distribution"] == {"1": 100}


async def test_unknown_account_is_a_clear_refusal(env: Env) -> None:
    with pytest.raises(VendorRejected) as caught:
        await env.run(VOUCHER_CREATE, {"voucher": voucher(account="9999")})
    assert "Odoo 科目表中没有科目 9999" in str(caught.value)
    assert caught.value.vendor_code == "unknown_account"
    assert env.sandbox.records("account.move") == {}


async def test_unbalanced_or_foreign_voucher_is_refused_before_any_call(env: Env) -> None:
    bad = voucher()
    bad["lines"][1]["amount"] = {"amount": "350.24"}
    with pytest.raises(UnbalancedVoucher):
        await env.run(VOUCHER_CREATE, {"voucher": bad})
    usd = voucher(project=None)
    usd["currency"] = "USD"
    for line in usd["lines"]:
        line["amount"]["currency"] = "USD"
    with pytest.raises(MappingError, match="不是公司本位币"):
        await env.run(VOUCHER_CREATE, {"voucher": usd})
    assert env.sandbox.calls["account.move.create"] == 0


async def test_voucher_inside_the_lock_date_keeps_odoos_message(env: Env) -> None:
    early = voucher(project=None)
    early["date"] = "2026-01-05"
    with pytest.raises(VendorRejected, match="lock date"):
        await env.run(VOUCHER_CREATE, {"voucher": early})


async def test_project_is_ensured_once_and_actuals_sum_to_the_cent(env: Env) -> None:
    first = await env.run(PROJECT_ENSURE, {"project": PROJECT})
    again = await env.run(PROJECT_ENSURE, {"project": {**PROJECT, "name": "别名"}}, attempt=2)
    assert (first["created"], first["code"], first["name"]) == (True, "P-2026-01", "华东仓储改造项目")
    assert (again["created"], again["id"], again["matched_by"]) == (False, first["id"], "code")
    assert len(env.sandbox.records("account.analytic.account")) == 1
    await env.run(VOUCHER_CREATE, {"voucher": voucher("350.25")}, ref="V-1")
    await env.run(VOUCHER_CREATE, {"voucher": voucher("0.10", account="6601")}, ref="V-2")
    await env.run(VOUCHER_CREATE, {"voucher": voucher("99.00", project=None)}, ref="V-3")
    actuals = await env.run(PROJECT_ACTUALS, {"code": "P-2026-01"})
    assert actuals["actual"] == Decimal("350.35")
    assert actuals["currency"] == "CNY"
    assert actuals["lines"] == [
        {"document": "MISC/2026/00001", "date": date(2026, 11, 20), "account": "6602", "amount": Decimal("350.25")},
        {"document": "MISC/2026/00002", "date": date(2026, 11, 20), "account": "6601", "amount": Decimal("0.10")}]
    none = await env.run(PROJECT_ACTUALS, {"code": "P-2026-01", "until": "2026-11-19"})
    assert (none["actual"], none["lines"]) == (Decimal("0.00"), [])
    with pytest.raises(VendorRejected, match="Odoo 中找不到项目"):
        await env.run(PROJECT_ACTUALS, {"code": "P-X"})
    with pytest.raises(MappingError):
        await env.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "11/01"})
