"""Yonyou payments (付款单) and projects (项目档案) against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from yonyou_rig import YonyouEnv

from huiliu.connectors.yonyou import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    VOUCHER_CREATE,
    resubmit_key,
)
from huiliu.errors import AmbiguousOutcome, MappingError, VendorRejected
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import Fault, FaultKind
from huiliu.store.codec import to_jsonable

SUPPLIER = {"name": "上海晨光文具有限公司", "code": "GYS001", "tax_id": "91310000MA1FL0XJ2K"}


def payment(amount: str = "12800.05", on: str = "2026-11-25", **extra: Any) -> dict[str, Any]:
    return {"payment": {"number": "FK-2026-0007", "supplier": SUPPLIER, "amount": amount, "currency": "CNY",
                        "date": on, "description": "支付十一月办公用品货款", "invoice_number": "INV-88", **extra}}


async def test_payment_is_saved_audited_and_read_back_to_the_cent(yonyou: YonyouEnv) -> None:
    result = await yonyou.run(PAYMENT_CREATE, payment(), ref="HL-FK-0007")
    assert result["state"] == "approved"
    assert (result["amount"], result["currency"], result["paid"], result["adopted"]) == (
        Decimal("12800.05"), "CNY", False, False)
    assert result["number"].startswith("FKD20261125")
    assert result["reference"] == "HL-FK-0007"
    [stored] = yonyou.sandbox.payments_by_reference("HL-FK-0007")
    assert stored["description"] == "支付十一月办公用品货款"
    assert stored["bodyItem"][0]["oriSum"] == "12800.05"
    assert stored["supplier_code"] == "GYS001"
    assert stored["invoiceNo"] == "INV-88"
    yonyou.sandbox.settle_payment(stored["id"])
    by_id = await yonyou.run(PAYMENT_READ, {"id": result["id"]})
    by_reference = await yonyou.run(PAYMENT_READ, {"reference": "HL-FK-0007"})
    assert by_id == by_reference
    assert (by_id["paid"], by_id["state"], by_id["amount"]) == (True, "approved", Decimal("12800.05"))


async def test_supplier_is_created_once_and_reused(yonyou: YonyouEnv) -> None:
    await yonyou.run(PAYMENT_CREATE, payment(), ref="HL-FK-1")
    await yonyou.run(PAYMENT_CREATE, payment("0.01"), ref="HL-FK-2")
    assert len(yonyou.sandbox.ledger.vendors) == 1
    assert len(yonyou.sandbox.payables.payments) == 2
    assert yonyou.sandbox.write_calls["vendor.save"] == 1


async def test_attempt_two_adopts_the_payment_of_attempt_one(yonyou: YonyouEnv) -> None:
    first = await yonyou.run(PAYMENT_CREATE, payment())
    again = await yonyou.run(PAYMENT_CREATE, payment(), attempt=2)
    assert again["adopted"] is True
    assert again["id"] == first["id"]
    assert len(yonyou.sandbox.payables.payments) == 1
    assert yonyou.sandbox.write_calls["payment.save"] == 1


async def test_apply_then_drop_is_ambiguous_then_adopted(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.faults.script("payment.save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as caught:
        await yonyou.run(PAYMENT_CREATE, payment())
    assert caught.value.retry_after == yonyou.settings.ambiguous_wait
    assert len(yonyou.sandbox.payables.payments) == 1
    result = await yonyou.run(PAYMENT_CREATE, payment(), attempt=2)
    assert (result["adopted"], result["state"]) == (True, "approved")
    assert len(yonyou.sandbox.payables.payments) == 1


async def test_repeated_resubmit_check_key_is_adopted(yonyou: YonyouEnv) -> None:
    first = await yonyou.run(PAYMENT_CREATE, payment())
    # Another worker whose first attempt is this one: Yonyou refuses the key as a repeat.
    again = await yonyou.run(PAYMENT_CREATE, payment(), attempt=1)
    assert (again["adopted"], again["id"]) == (True, first["id"])
    assert yonyou.sandbox.write_calls["payment.save"] == 2
    assert resubmit_key("HL-PR-0042") in yonyou.sandbox.ledger.resubmit_keys
    assert len(yonyou.sandbox.payables.payments) == 1


async def test_unknown_project_is_refused_with_yonyous_message(yonyou: YonyouEnv) -> None:
    with pytest.raises(VendorRejected) as caught:
        await yonyou.run(PAYMENT_CREATE, payment(project="P-NONE"))
    assert "项目[P-NONE]不存在" in (caught.value.vendor_message or "")
    assert yonyou.sandbox.payables.payments == {}


async def test_closed_period_is_refused(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.close_period("2026-10")
    with pytest.raises(VendorRejected) as caught:
        await yonyou.run(PAYMENT_CREATE, payment(on="2026-10-31"))
    assert "会计期间[2026-10]已结账" in (caught.value.vendor_message or "")


async def test_bad_requests_fail_before_any_call(yonyou: YonyouEnv) -> None:
    with pytest.raises(MappingError) as caught:
        await yonyou.run(PAYMENT_CREATE, payment(amount="0"))
    assert caught.value.where == "payment.amount"
    with pytest.raises(MappingError) as caught:
        await yonyou.run(PAYMENT_CREATE, {"payment": {**payment()["payment"], "currency": "USD"}})
    assert caught.value.where == "payment.currency"
    with pytest.raises(MappingError):
        await yonyou.run(PAYMENT_READ, {})
    assert yonyou.sandbox.token_calls == 0
    with pytest.raises(VendorRejected) as missing:
        await yonyou.run(PAYMENT_READ, {"reference": "HL-NOPE"})
    assert missing.value.vendor_code == "not_found"


async def test_u8_payment_carries_a_trade_id_and_is_adopted(yonyou: YonyouEnv) -> None:
    u8 = yonyou.connector(flavour="u8", from_account="hub", to_account="acme")
    yonyou.sandbox.faults.script("payment.save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await u8.run(PAYMENT_CREATE, payment())
    result = await u8.run(PAYMENT_CREATE, payment(), attempt=2)
    assert (result["adopted"], result["amount"]) == (True, Decimal("12800.05"))
    assert len(yonyou.sandbox.payables.payments) == 1


PROJECT = {"code": "P-2026-01", "name": "华东仓储改造项目", "manager": "王伟", "budget": "500000.00",
           "start": "2026-01-01", "end": "2026-12-31"}


async def test_project_is_ensured_once(yonyou: YonyouEnv) -> None:
    first = await yonyou.run(PROJECT_ENSURE, {"project": PROJECT})
    again = await yonyou.run(PROJECT_ENSURE, {"project": PROJECT})
    assert (first["created"], first["matched_by"], first["name"]) == (True, None, "华东仓储改造项目")
    assert (again["created"], again["matched_by"], again["id"]) == (False, "code", first["id"])
    [stored] = yonyou.sandbox.payables.projects.values()
    assert (stored["code"], stored["budgetMoney"], stored["planEndDate"]) == ("P-2026-01", "500000.00", "2026-12-31")


def cost(amount: str, project: str, on: date, account: str = "6602.01") -> dict[str, Any]:
    lines = (VoucherLine("仓储改造材料费", account, Direction.DEBIT, Money(Decimal(amount)), (("project", project),)),
             VoucherLine("应付账款", "2202.01", Direction.CREDIT, Money(Decimal(amount)), (("project", project),)))
    return {"voucher": to_jsonable(Voucher("cost", "001", on, "记", "CNY", lines))}


async def test_actuals_sum_the_costs_booked_against_the_project(yonyou: YonyouEnv) -> None:
    await yonyou.run(PROJECT_ENSURE, {"project": PROJECT})
    await yonyou.run(VOUCHER_CREATE, cost("1234.56", "P-2026-01", date(2026, 10, 9)), ref="c-1")
    await yonyou.run(VOUCHER_CREATE, cost("0.07", "P-2026-01", date(2026, 11, 20)), ref="c-2")
    await yonyou.run(VOUCHER_CREATE, cost("999.00", "P-OTHER", date(2026, 11, 20)), ref="c-3")
    await yonyou.run(VOUCHER_CREATE, cost("50.00", "P-2026-01", date(2025, 12, 31)), ref="c-4")
    result = await yonyou.run(PROJECT_ACTUALS, {"code": "P-2026-01"})
    assert (result["code"], result["currency"], result["actual"]) == ("P-2026-01", "CNY", Decimal("1234.63"))
    # the 2202.01 credit lines carry the project too, but are no cost accounts
    assert [(line["date"], line["account"], line["amount"]) for line in result["lines"]] == [
        (date(2026, 10, 9), "6602.01", Decimal("1234.56")), (date(2026, 11, 20), "6602.01", Decimal("0.07"))]
    assert result["lines"][0]["document"] == "记-0001"
    window = await yonyou.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2025-12-01", "until": "2026-10-31"})
    assert window["actual"] == Decimal("1284.56")
    with pytest.raises(MappingError):
        await yonyou.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2026-12-01", "until": "2026-01-01"})


async def test_project_ensured_concurrently_is_saved_once(yonyou: YonyouEnv) -> None:
    results = await asyncio.gather(*(yonyou.run(PROJECT_ENSURE, {"project": PROJECT}) for _ in range(3)))
    assert sorted(r["created"] for r in results) == [False, False, True]
    assert len({r["id"] for r in results}) == 1
    assert len(yonyou.sandbox.payables.projects) == 1
