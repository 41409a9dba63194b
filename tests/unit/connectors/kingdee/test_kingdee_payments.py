"""Kingdee payments (付款单) and projects against the sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from kingdee_rig import MakeEnv

from huiliu.connectors.kingdee import PAYMENT_CREATE, PAYMENT_READ, PROJECT_ACTUALS, PROJECT_ENSURE, VOUCHER_CREATE
from huiliu.errors import AmbiguousOutcome, ConfigError, MappingError, VendorRejected
from huiliu.sandbox.faults import Fault, FaultKind
from huiliu.sandbox.kingdee import KingdeeSandbox

AUX = {"department": "FFLEX5", "employee": "FFLEX7", "project": "FFLEX9"}


def payment(amount: str = "12800.05", **extra: Any) -> dict[str, Any]:
    return {"number": "FK-2026-0007", "supplier": {"name": "杭州汇流软件有限公司", "code": "GYS001"},
            "amount": amount, "date": "2026-11-26", "description": "支付软件服务费", **extra}


def sandbox() -> KingdeeSandbox:
    return KingdeeSandbox(acct_id="AC1", username="api", password="pw", aux_fields=AUX)


async def test_payment_saved_once_audited_and_read_back(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox())
    first = await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P1")
    again = await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P1", attempt=2)
    assert (first["adopted"], again["adopted"], again["id"]) == (False, True, first["id"])
    assert (first["state"], first["paid"], first["amount"], first["currency"]) == ("C", True, Decimal("12800.05"),
                                                                                   "CNY")
    assert env.sandbox.bill_count("AP_PAYBILL") == 1
    read = await env.run(PAYMENT_READ, {"reference": "HL-P1"})
    assert read == {**first, "adopted": False}
    [bill] = env.sandbox.bills["AP_PAYBILL"].values()
    assert bill.model["FREMARK"] == "支付软件服务费（付款申请 FK-2026-0007）"


async def test_supplier_created_once_and_reused(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox())
    await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P1")
    await env.run(PAYMENT_CREATE, {"payment": payment("0.01")}, ref="HL-P2")
    assert env.sandbox.bill_count("BD_SUPPLIER") == 1
    [supplier] = env.sandbox.bills["BD_SUPPLIER"].values()
    assert (supplier.number, supplier.model["FName"], supplier.status) == ("GYS001", "杭州汇流软件有限公司", "C")


async def test_reply_lost_after_save_is_ambiguous_and_the_retry_adopts_the_payment(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox(), ambiguous_wait=0)
    await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P0")  # the supplier exists: one Save per bill
    env.sandbox.faults.script("save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as caught:
        await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P1")
    assert "payment bill" in caught.value.what.en
    assert env.sandbox.bill_count("AP_PAYBILL") == 2  # Kingdee made it; the hub does not know
    result = await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P1", attempt=2)
    assert (result["adopted"], result["state"], result["reference"]) == (True, "C", "HL-P1")
    assert env.sandbox.bill_count("AP_PAYBILL") == 2


async def test_read_needs_an_id_or_a_reference_kingdee_holds(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox())
    for request in ({}, {"id": True}, {"id": "7"}, {"reference": ""}):
        with pytest.raises(MappingError) as caught:
            await env.run(PAYMENT_READ, request)
        assert caught.value.where == f"{PAYMENT_READ}.id"
    with pytest.raises(VendorRejected, match="HL-NONE") as missing:
        await env.run(PAYMENT_READ, {"reference": "HL-NONE"})
    assert missing.value.vendor_code == "not_found"
    with pytest.raises(VendorRejected, match="98765") as unknown:
        await env.run(PAYMENT_READ, {"id": 98765})
    assert unknown.value.vendor_code == "not_found"


async def test_closed_period_is_refused_with_kingdee_message(make_kd_env: MakeEnv) -> None:
    box = sandbox()
    box.close_period("001", "2026-11")
    env = await make_kd_env(box)
    with pytest.raises(VendorRejected) as caught:
        await env.run(PAYMENT_CREATE, {"payment": payment()}, ref="HL-P3")
    assert "已结账" in str(caught.value)
    assert env.sandbox.bill_count("AP_PAYBILL") == 0


async def test_bad_amount_refused_before_kingdee(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox())
    with pytest.raises(MappingError) as caught:
        await env.run(PAYMENT_CREATE, {"payment": payment("-1")})
    assert caught.value.where == "payment.amount"
    assert env.sandbox.save_calls == 0


def cost(reference: str, amount: str, project: str | None) -> dict[str, Any]:
    aux = [["department", "BM03"], ["employee", "E1003"]] + ([["project", project]] if project else [])
    return {"reference": reference, "book": "main", "date": "2026-11-20", "group": "记", "currency": "CNY",
            "lines": [{"summary": "项目差旅费", "account": "6602.05", "direction": "debit",
                       "amount": {"amount": amount, "currency": "CNY"}, "aux": aux},
                      {"summary": "银行付款", "account": "1002.01", "direction": "credit",
                       "amount": {"amount": amount, "currency": "CNY"}, "aux": []}]}


async def test_project_ensured_once_and_actuals_summed(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox(), aux_fields=AUX)
    project = {"code": "P-2026-01", "name": "华东仓储改造项目"}
    made = await env.run(PROJECT_ENSURE, {"project": project})
    again = await env.run(PROJECT_ENSURE, {"project": project})
    assert made["created"] is True and again == {**made, "created": False, "matched_by": "code"}
    assert env.sandbox.bill_count("BD_PROJECT") == 1
    await env.run(VOUCHER_CREATE, {"voucher": cost("V1", "1234.56", "P-2026-01")}, ref="HL-V1")
    await env.run(VOUCHER_CREATE, {"voucher": cost("V2", "0.07", "P-2026-01")}, ref="HL-V2")
    await env.run(VOUCHER_CREATE, {"voucher": cost("V3", "50.00", None)}, ref="HL-V3")
    actuals = await env.run(PROJECT_ACTUALS, {"code": "P-2026-01"})
    assert actuals["actual"] == Decimal("1234.63")
    assert [line["amount"] for line in actuals["lines"]] == [Decimal("1234.56"), Decimal("0.07")]
    none = await env.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2026-11-21T00:00:00+08:00"})
    assert none["actual"] == Decimal(0)
    with pytest.raises(MappingError):
        await env.run(PROJECT_ACTUALS, {"code": "P-2026-01", "since": "2026-11-21T00:00:00"})


async def test_actuals_need_the_project_dimension(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(sandbox())
    with pytest.raises(ConfigError):
        await env.run(PROJECT_ACTUALS, {"code": "P-1"})
