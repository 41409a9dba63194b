"""ERPNext payments, vouchers and projects against the ERPNext sandbox over real local HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.erpnext import (
    PARTY_ENSURE,
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    VOUCHER_CREATE,
    ErpnextClient,
    ErpnextSettings,
    register_actions,
)
from huiliu.connectors.http import HttpClient
from huiliu.errors import AmbiguousOutcome, ConfigError, MappingError, UnbalancedVoucher, VendorRejected
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox
from huiliu.testing import FakeClock

BANK = "1002 - 银行存款 - HL"


@dataclass
class Env:
    sandbox: ErpnextSandbox
    registry: ActionRegistry
    http: aiohttp.ClientSession
    url: str
    clock: FakeClock

    async def run(self, name: str, request: dict[str, Any], attempt: int = 1, ref: str = "OA:ding/FK-7") -> Any:
        return await self.registry.get(name)(request, ActionContext("key-1", attempt, ref))


def make_env(http: aiohttp.ClientSession, url: str, sandbox: ErpnextSandbox, clock: FakeClock,
             **extra: Any) -> Env:
    settings = ErpnextSettings.model_validate({"base_url": url, "api_key": "erp-key", "api_secret": "erp-secret",
                                               "ambiguous_wait": 0, "payment_account": BANK,
                                               "cost_centers": {"BM001": "研发部 - HL"}, **extra})
    registry = ActionRegistry()
    register_actions(registry, ErpnextClient(settings, HttpClient("erpnext", http, timeout=2, clock=clock)), settings)
    return Env(sandbox, registry, http, url, clock)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sandbox = ErpnextSandbox(clock=clock, closed_until=date(2026, 6, 30))
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield make_env(http, server.url, sandbox, clock)


def payment(amount: str = "12800.07", day: str = "2026-11-26") -> dict[str, Any]:
    return {"number": "FK-2026-0007", "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001"},
            "amount": amount, "currency": "CNY", "date": day, "description": "支付货款", "invoice_number": "INV-88"}


def voucher(amount: str = "350.25", account: str = "6602", project: str | None = "P-2026-01") -> dict[str, Any]:
    aux = [["department", "BM001"], *([["project", project]] if project else [])]
    return {"reference": "BX-2026-0101", "book": "main", "date": "2026-11-20", "group": "记", "currency": "CNY",
            "lines": [{"summary": "差旅费 张三", "account": account, "direction": "debit",
                       "amount": {"amount": amount}, "aux": aux},
                      {"summary": "应付报销款", "account": "2241", "direction": "credit",
                       "amount": {"amount": amount}}]}


PROJECT = {"code": "P-2026-01", "name": "华东仓储改造项目", "budget": "500000.00", "start": "2026-11-01"}


async def test_payment_entry_is_created_submitted_and_read_back(env: Env) -> None:
    result = await env.run(PAYMENT_CREATE, {"payment": payment()})
    assert result == {"id": "ACC-PAY-2026-00001", "number": "ACC-PAY-2026-00001", "state": "Submitted",
                      "reference": "OA:ding/FK-7", "amount": Decimal("12800.07"), "currency": "CNY", "paid": True,
                      "adopted": False}
    doc = env.sandbox.docs("Payment Entry")["ACC-PAY-2026-00001"]
    assert (doc["party"], doc["paid_from"]) == ("上海某某办公家具有限公司", BANK)
    assert doc["paid_to"] == "2202 - 应付账款 - HL"  # the company's default payable account
    assert doc["remarks"] == "FK-2026-0007 支付货款 发票 INV-88"
    gl = [(e["account"], e["debit"], e["credit"]) for e in env.sandbox.docs("GL Entry").values()]
    assert gl == [("2202 - 应付账款 - HL", 12800.07, 0.0), (BANK, 0.0, 12800.07)]
    by_ref = await env.run(PAYMENT_READ, {"reference": "OA:ding/FK-7"})
    assert by_ref == await env.run(PAYMENT_READ, {"id": result["id"]}) == result


async def test_supplier_is_reused_and_a_lost_reply_is_adopted(env: Env) -> None:
    env.sandbox.faults.script("Payment Entry.insert", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await env.run(PAYMENT_CREATE, {"payment": payment()})
    [draft] = env.sandbox.docs("Payment Entry").values()
    assert draft["docstatus"] == 0
    result = await env.run(PAYMENT_CREATE, {"payment": payment()}, attempt=2)
    assert (result["adopted"], result["id"], result["paid"]) == (True, draft["name"], True)
    again = await env.run(PAYMENT_CREATE, {"payment": payment()}, attempt=3)
    assert (again["adopted"], again["id"]) == (True, draft["name"])
    await env.run(PAYMENT_CREATE, {"payment": payment("0.01")}, ref="R-2")
    assert len(env.sandbox.docs("Payment Entry")) == 2
    assert len(env.sandbox.docs("Supplier")) == 1
    party = await env.run(PARTY_ENSURE, {"supplier": {"name": "别名", "code": "SUP-001"}})
    assert party["created"] is False


async def test_payment_in_the_closed_period_is_refused_with_the_sites_message(env: Env) -> None:
    with pytest.raises(VendorRejected) as caught:
        await env.run(PAYMENT_CREATE, {"payment": payment(day="2026-06-30")})
    assert caught.value.vendor_code == "ClosedAccountingPeriod"
    assert "closed Accounting Period" in (caught.value.vendor_message or "")
    assert caught.value.retryable is False
    assert env.sandbox.docs("GL Entry") == {}


async def test_bad_payments_are_refused_before_any_call(env: Env) -> None:
    with pytest.raises(MappingError, match="付款金额必须大于 0"):
        await env.run(PAYMENT_CREATE, {"payment": payment("-1")})
    usd = {**payment(), "currency": "USD"}
    with pytest.raises(MappingError, match="不是公司本位币"):
        await env.run(PAYMENT_CREATE, {"payment": usd})
    unset = make_env(env.http, env.url, env.sandbox, env.clock, payment_account=None)
    with pytest.raises(ConfigError):
        await unset.run(PAYMENT_CREATE, {"payment": payment()})
    with pytest.raises(VendorRejected, match="ERPNext 中找不到付款单"):
        await env.run(PAYMENT_READ, {"reference": "nope"})
    assert env.sandbox.docs("Payment Entry") == {}


async def test_custom_reference_field_leaves_reference_no_to_the_oa_number(env: Env) -> None:
    custom = make_env(env.http, env.url, env.sandbox, env.clock, payment_reference_field="custom_huiliu_ref")
    await custom.run(PAYMENT_CREATE, {"payment": payment()})
    [doc] = env.sandbox.docs("Payment Entry").values()
    assert (doc["reference_no"], doc["custom_huiliu_ref"]) == ("FK-2026-0007", "OA:ding/FK-7")


async def test_voucher_becomes_a_submitted_journal_entry_retried_once(env: Env) -> None:
    await env.run(PROJECT_ENSURE, {"project": PROJECT})
    env.sandbox.faults.script("Journal Entry.insert", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await env.run(VOUCHER_CREATE, {"voucher": voucher()}, ref="OA:BX-101")
    result = await env.run(VOUCHER_CREATE, {"voucher": voucher()}, attempt=2, ref="OA:BX-101")
    assert result == {"id": "ACC-JV-2026-00001", "number": "ACC-JV-2026-00001", "status": "Submitted",
                      "adopted": True}
    [entry] = env.sandbox.docs("Journal Entry").values()
    assert (entry["cheque_no"], entry["cheque_date"], entry["docstatus"]) == ("OA:BX-101", "2026-11-20", 1)
    rows = [(r["account"], r["debit_in_account_currency"], r["credit_in_account_currency"], r.get("cost_center"),
             r.get("project")) for r in entry["accounts"]]
    assert rows == [("6602 - 管理费用 - HL", 350.25, 0.0, "研发部 - HL", "PROJ-0001"),
                    ("2241 - 其他应付款 - HL", 0.0, 350.25, None, None)]


async def test_unknown_account_is_refused_by_number_and_by_name_with_the_sites_message(env: Env) -> None:
    with pytest.raises(VendorRejected, match="ERPNext 科目表中没有科目编号 9999"):
        await env.run(VOUCHER_CREATE, {"voucher": voucher(account="9999", project=None)})
    by_name = make_env(env.http, env.url, env.sandbox, env.clock, account_lookup="name")
    named = voucher(account="9999 - 不存在 - HL", project=None)
    named["lines"][1]["account"] = "2241 - 其他应付款 - HL"
    with pytest.raises(VendorRejected) as caught:
        await by_name.run(VOUCHER_CREATE, {"voucher": named})
    assert caught.value.vendor_code == "LinkValidationError"
    assert "Could not find Row #1: Account: 9999 - 不存在 - HL" in (caught.value.vendor_message or "")
    assert env.sandbox.docs("Journal Entry") == {}


async def test_unbalanced_voucher_and_unknown_project_are_refused(env: Env) -> None:
    bad = voucher()
    bad["lines"][1]["amount"] = {"amount": "350.24"}
    with pytest.raises(UnbalancedVoucher):
        await env.run(VOUCHER_CREATE, {"voucher": bad})
    with pytest.raises(VendorRejected, match="ERPNext 中没有项目 P-2026-01"):
        await env.run(VOUCHER_CREATE, {"voucher": voucher()})
    assert env.sandbox.calls["Journal Entry.insert"] == 0


async def test_project_is_ensured_once_and_actuals_sum_to_the_cent(env: Env) -> None:
    first = await env.run(PROJECT_ENSURE, {"project": PROJECT})
    again = await env.run(PROJECT_ENSURE, {"project": {**PROJECT, "name": "别名"}}, attempt=2)
    assert first == {"id": "PROJ-0001", "code": "P-2026-01", "name": "华东仓储改造项目", "created": True,
                     "matched_by": None}
    assert (again["created"], again["id"], again["matched_by"]) == (False, "PROJ-0001", "code")
    stored = env.sandbox.docs("Project")["PROJ-0001"]
    assert (stored["estimated_costing"], stored["expected_start_date"]) == (500000.0, "2026-11-01")
    await env.run(VOUCHER_CREATE, {"voucher": voucher("350.25")}, ref="V-1")
    await env.run(VOUCHER_CREATE, {"voucher": voucher("0.10", account="6601")}, ref="V-2")
    await env.run(VOUCHER_CREATE, {"voucher": voucher("99.00", project=None)}, ref="V-3")
    actuals = await env.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2026-11-01"})
    assert actuals == {"code": "P-2026-01", "currency": "CNY", "actual": Decimal("350.35"), "lines": [
        {"document": "ACC-JV-2026-00001", "date": date(2026, 11, 20), "account": "6602", "amount": Decimal("350.25")},
        {"document": "ACC-JV-2026-00002", "date": date(2026, 11, 20), "account": "6601", "amount": Decimal("0.10")}]}
    env.sandbox.ledger.cancel("Journal Entry", "ACC-JV-2026-00002")
    after = await env.run(PROJECT_ACTUALS, {"code": "P-2026-01"})
    assert after["actual"] == Decimal("350.25")
    with pytest.raises(VendorRejected, match="ERPNext 中找不到项目"):
        await env.run(PROJECT_ACTUALS, {"code": "P-X"})
    with pytest.raises(MappingError):
        await env.run(PROJECT_ACTUALS, {"code": "P-2026-01", "until": "later"})
