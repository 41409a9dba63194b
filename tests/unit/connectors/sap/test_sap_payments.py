"""SAP supplier payments (KZ entries) and enterprise projects against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sap_rig import SapEnv, make

from huiliu.connectors.sap import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    VOUCHER_CREATE,
    short_reference,
)
from huiliu.errors import AmbiguousOutcome, MappingError, VendorRejected
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import Fault, FaultKind
from huiliu.store.codec import to_jsonable

SUPPLIER = {"name": "深圳市华强电子科技有限公司", "code": "GYS002"}


def payment(amount: str = "12800.05", on: str = "2026-11-25", **extra: Any) -> dict[str, Any]:
    return {"payment": {"number": "FK-2026-0007", "supplier": SUPPLIER, "amount": amount, "currency": "CNY",
                        "date": on, "description": "支付十一月电子元件货款", "invoice_number": "INV-88", **extra}}


async def test_payment_is_posted_as_a_kz_entry_and_read_back(sap: SapEnv) -> None:
    result = await sap.run(PAYMENT_CREATE, payment(), ref="HL-FK-0007")
    assert result == {"id": "1010/100000001/2026", "number": "100000001", "state": "posted",
                      "reference": "HL-FK-0007", "amount": Decimal("12800.05"), "currency": "CNY", "paid": True,
                      "adopted": False}
    [entry] = sap.sandbox.payments()
    vendor, bank = entry["_items"]
    assert (vendor["Supplier"], vendor["AmountInTransactionCurrency"], vendor["DebitCreditCode"]) == (
        "10300001", "12800.05", "S")
    assert (bank["GLAccount"], bank["AmountInTransactionCurrency"]) == ("1002.01", "-12800.05")
    assert (vendor["DocumentItemText"], vendor["AssignmentReference"]) == ("支付十一月电子元件货款", "INV-88")
    assert entry["DocumentReferenceID"] == short_reference("HL-FK-0007", 16)
    by_reference = await sap.run(PAYMENT_READ, {"reference": "HL-FK-0007"})
    by_id = await sap.run(PAYMENT_READ, {"id": result["id"]})
    assert by_reference == {**result, "adopted": False}
    assert by_id == by_reference
    sap.sandbox.reverse_entry("100000001")
    reversed_ = await sap.run(PAYMENT_READ, {"id": result["id"]})
    assert (reversed_["state"], reversed_["paid"]) == ("reversed", False)


async def test_supplier_is_created_once_and_reused(sap: SapEnv) -> None:
    await sap.run(PAYMENT_CREATE, payment(), ref="HL-FK-1")
    second = await sap.run(PAYMENT_CREATE, payment("0.01"), ref="HL-FK-2")
    assert second["amount"] == Decimal("0.01")
    assert len(sap.sandbox.partners) == 1
    assert sap.sandbox.create_calls["A_BusinessPartner"] == 1
    assert len(sap.sandbox.payments()) == 2


async def test_attempt_two_adopts_the_payment_of_attempt_one(sap: SapEnv) -> None:
    first = await sap.run(PAYMENT_CREATE, payment())
    again = await sap.run(PAYMENT_CREATE, payment(), attempt=2)
    assert (again["adopted"], again["id"]) == (True, first["id"])
    assert sap.sandbox.create_calls["A_JournalEntry"] == 1


async def test_apply_then_drop_is_ambiguous_then_adopted(sap: SapEnv) -> None:
    sap.sandbox.faults.script("A_JournalEntry.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as caught:
        await sap.run(PAYMENT_CREATE, payment())
    assert caught.value.retry_after == sap.settings.ambiguous_wait
    result = await sap.run(PAYMENT_CREATE, payment(), attempt=2)
    assert (result["adopted"], result["amount"]) == (True, Decimal("12800.05"))
    assert len(sap.sandbox.payments()) == 1


async def test_bad_payment_is_refused_with_saps_message(sap: SapEnv) -> None:
    bad = sap.connector(bank_accounts={"6222-0001": "1002.99"})
    with pytest.raises(VendorRejected) as caught:
        await bad.run(PAYMENT_CREATE, payment(bank_account="6222-0001"))
    assert "总账科目 1002.99 在公司代码 1010 中不存在" in (caught.value.vendor_message or "")
    assert sap.sandbox.payments() == []


async def test_closed_period_is_refused(sap: SapEnv) -> None:
    sap.sandbox.closed_periods.add("2026-10")
    with pytest.raises(VendorRejected, match="过账期间 2026-10 未打开"):
        await sap.run(PAYMENT_CREATE, payment(on="2026-10-31"))


async def test_bad_requests_fail_before_any_call(sap: SapEnv) -> None:
    with pytest.raises(MappingError) as caught:
        await sap.run(PAYMENT_CREATE, payment(amount="-1.00"))
    assert caught.value.where == "payment.amount"
    with pytest.raises(MappingError):
        await sap.run(PAYMENT_READ, {"id": "100000001"})
    assert sap.client.csrf_fetches == 0
    with pytest.raises(VendorRejected) as missing:
        await sap.run(PAYMENT_READ, {"reference": "HL-NOPE"})
    assert missing.value.vendor_code == "not_found"


PROJECT = {"code": "P-2026-01", "name": "华东仓储改造项目", "budget": "500000.00", "start": "2026-01-01",
           "end": "2026-12-31"}


async def test_project_is_ensured_once(sap: SapEnv) -> None:
    first = await sap.run(PROJECT_ENSURE, {"project": PROJECT})
    again = await sap.run(PROJECT_ENSURE, {"project": PROJECT})
    assert (first["created"], first["matched_by"], first["code"], first["name"]) == (
        True, None, "P-2026-01", "华东仓储改造项目")
    assert (again["created"], again["matched_by"], again["id"]) == (False, "code", first["id"])
    [stored] = sap.sandbox.finance.projects.values()
    assert stored["ProjectStartDate"] == "/Date(1767225600000)/"
    assert sap.sandbox.create_calls["A_EnterpriseProject"] == 1


def cost(amount: str, project: str, on: date, account: str = "6602.01") -> dict[str, Any]:
    lines = (VoucherLine("仓储改造材料费", account, Direction.DEBIT, Money(Decimal(amount)), (("project", project),)),
             VoucherLine("应付账款", "2202.01", Direction.CREDIT, Money(Decimal(amount))))
    return {"voucher": to_jsonable(Voucher("cost", "001", on, "记", "CNY", lines))}


async def test_actuals_sum_the_costs_booked_against_the_project(sap: SapEnv) -> None:
    await sap.run(PROJECT_ENSURE, {"project": PROJECT})
    await sap.run(PROJECT_ENSURE, {"project": {"code": "P-OTHER", "name": "另一个项目"}})
    await sap.run(VOUCHER_CREATE, cost("1234.56", "P-2026-01", date(2026, 10, 9)), ref="c-1")
    await sap.run(VOUCHER_CREATE, cost("0.07", "P-2026-01", date(2026, 11, 20)), ref="c-2")
    await sap.run(VOUCHER_CREATE, cost("999.00", "P-OTHER", date(2026, 11, 20)), ref="c-3")
    await sap.run(VOUCHER_CREATE, cost("50.00", "P-2026-01", date(2025, 12, 31)), ref="c-4")
    result = await sap.run(PROJECT_ACTUALS, {"code": "P-2026-01"})
    assert (result["code"], result["currency"], result["actual"]) == ("P-2026-01", "CNY", Decimal("1234.63"))
    assert [(line["date"], line["account"], line["amount"]) for line in result["lines"]] == [
        (date(2026, 10, 9), "6602.01", Decimal("1234.56")), (date(2026, 11, 20), "6602.01", Decimal("0.07"))]
    assert result["lines"][0]["document"] == "100000001"
    window = await sap.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2025-12-01", "until": "2026-10-31"})
    assert window["actual"] == Decimal("1284.56")


async def test_cost_on_an_unknown_wbs_element_is_refused(sap: SapEnv) -> None:
    with pytest.raises(VendorRejected, match="WBS 元素 P-NONE 不存在"):
        await sap.run(VOUCHER_CREATE, cost("10.00", "P-NONE", date(2026, 11, 20)))


async def test_payments_and_projects_in_odata_v4() -> None:
    async for env in make(odata_version="v4"):
        v4 = env.connector(odata_version="v4", purchase_items="_PurchaseOrderItem")
        result = await v4.run(PAYMENT_CREATE, payment())
        assert (result["amount"], result["paid"]) == (Decimal("12800.05"), True)
        await v4.run(PROJECT_ENSURE, {"project": PROJECT})
        assert env.sandbox.finance.codes() == {"P-2026-01"}
        await v4.run(VOUCHER_CREATE, cost("7.10", "P-2026-01", date(2026, 11, 20)), ref="c-1")
        actuals = await v4.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2026-01-01"})
        assert actuals["actual"] == Decimal("7.10")


async def test_project_created_by_another_process_is_adopted(sap: SapEnv) -> None:
    other = sap.connector()
    results = await asyncio.gather(sap.run(PROJECT_ENSURE, {"project": PROJECT}),
                                   other.run(PROJECT_ENSURE, {"project": PROJECT}))
    assert sorted(r["created"] for r in results) == [False, True]
    assert len(sap.sandbox.finance.projects) == 1
