"""Payment requests, projects and vouchers against a real Tryton 8.2 (no mocks)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from tryton_env import Env

from huiliu.connectors.base import ActionContext
from huiliu.connectors.tryton import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    VOUCHER_CREATE,
)
from huiliu.errors import MappingError, VendorRejected


def uid() -> str:
    return uuid.uuid4().hex[:8].upper()


def payment(tag: str, amount: str = "12800.05", **extra: Any) -> dict[str, Any]:
    return {"number": f"FK-{tag}", "supplier": {"name": f"杭州汇流软件有限公司{tag}", "code": f"GYS-{tag}"},
            "amount": amount, "currency": "CNY", "date": "2026-11-26", "description": "支付软件服务费",
            "invoice_number": f"INV-{tag}", **extra}


def cost_voucher(tag: str, amount: str, project: str | None) -> dict[str, Any]:
    aux = [["project", project]] if project else []
    return {"reference": f"V-{tag}", "book": "main", "date": "2026-11-20", "group": "记", "currency": "CNY",
            "lines": [{"summary": f"项目差旅费 {tag}", "account": "5.1.3", "direction": "debit",
                       "amount": {"amount": amount, "currency": "CNY"}, "aux": aux},
                      {"summary": f"现金支付 {tag}", "account": "1.1.1", "direction": "credit",
                       "amount": {"amount": amount, "currency": "CNY"}, "aux": []}]}


async def run(env: Env, action: str, request: dict[str, Any], *, attempt: int = 1, ref: str = "HL-REF") -> Any:
    return await env.registry.get(action)(request, ActionContext(f"key-{ref}", attempt, ref))


async def test_payment_becomes_a_posted_payable_once_and_is_read_back(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    first = await run(tryton, PAYMENT_CREATE, {"payment": payment(tag)}, ref=ref)
    again = await run(tryton, PAYMENT_CREATE, {"payment": payment(tag)}, ref=ref, attempt=2)
    assert first["adopted"] is False and again["adopted"] is True
    assert again["id"] == first["id"]
    assert first["state"] == "posted" and first["paid"] is False
    assert first["amount"] == Decimal("12800.05") and first["currency"] == "CNY"
    assert first["reference"] == ref and first["number"]
    assert await tryton.client.search("account.invoice", [["reference", "=", ref]]) == [first["id"]]
    read = await run(tryton, PAYMENT_READ, {"reference": ref})
    assert read == {**first, "adopted": False}
    [invoice] = await tryton.client.read("account.invoice", [first["id"]], ["description", "party"])
    assert invoice["description"] == f"支付软件服务费（付款申请 FK-{tag}，发票 INV-{tag}）"
    [party] = await tryton.client.read("party.party", [invoice["party"]], ["name", "code"])
    assert party == {"id": invoice["party"], "name": f"杭州汇流软件有限公司{tag}", "code": f"GYS-{tag}"}


async def test_payment_paid_at_once_reads_paid_and_reuses_the_supplier(tryton: Env) -> None:
    env = tryton.make(payment_method=tryton.server.info["payment_method"])
    tag = uid()
    first = await run(env, PAYMENT_CREATE, {"payment": payment(tag, "0.01")}, ref=f"HL-{uid()}")
    second = await run(env, PAYMENT_CREATE, {"payment": payment(tag, "999.99")}, ref=f"HL-{uid()}")
    assert (first["state"], first["paid"], first["amount"]) == ("paid", True, Decimal("0.01"))
    assert (second["paid"], second["amount"]) == (True, Decimal("999.99"))
    parties = await env.client.search("party.party", [["code", "=", f"GYS-{tag}"]])
    assert len(parties) == 1
    read = await run(env, PAYMENT_READ, {"id": second["id"]})
    assert read["paid"] is True and read["state"] == "paid"


async def test_a_payment_tryton_refuses_carries_its_message(tryton: Env) -> None:
    with pytest.raises(VendorRejected) as caught:
        # No fiscal year in 1999: Tryton refuses to post the invoice.
        await run(tryton, PAYMENT_CREATE, {"payment": {**payment(uid()), "date": "1999-03-01"}},
                  ref=f"HL-{uid()}")
    assert caught.value.vendor_message
    assert "1999" in caught.value.vendor_message or "fiscal" in caught.value.vendor_message.lower()


async def test_a_malformed_payment_is_refused_before_tryton(tryton: Env) -> None:
    with pytest.raises(MappingError) as caught:
        await run(tryton, PAYMENT_CREATE, {"payment": payment(uid(), "0")})
    assert caught.value.where == "payment.amount"


async def test_project_is_ensured_once_and_actuals_sum_posted_costs(tryton: Env) -> None:
    tag = uid()
    code = f"P-{tag}"
    project = {"code": code, "name": f"华东仓储改造项目{tag}", "budget": "100000.00"}
    made = await run(tryton, PROJECT_ENSURE, {"project": project})
    again = await run(tryton, PROJECT_ENSURE, {"project": project})
    assert made["created"] is True and again == {**made, "created": False, "matched_by": "code"}
    assert made["name"] == f"华东仓储改造项目{tag}"

    await run(tryton, VOUCHER_CREATE, {"voucher": cost_voucher(f"{tag}a", "1234.56", code)}, ref=f"HL-{uid()}")
    await run(tryton, VOUCHER_CREATE, {"voucher": cost_voucher(f"{tag}b", "0.07", code)}, ref=f"HL-{uid()}")
    await run(tryton, VOUCHER_CREATE, {"voucher": cost_voucher(f"{tag}c", "50.00", None)}, ref=f"HL-{uid()}")
    env = tryton.make(payment_method=tryton.server.info["payment_method"])
    await run(env, PAYMENT_CREATE, {"payment": payment(tag, "100.10", project=code)}, ref=f"HL-{uid()}")

    actuals = await run(tryton, PROJECT_ACTUALS, {"code": code})
    assert actuals["actual"] == Decimal("1334.73")  # 1234.56 + 0.07 + 100.10; the 50.00 has no project
    assert actuals["currency"] == "CNY"
    assert sorted(line["amount"] for line in actuals["lines"]) == [Decimal("0.07"), Decimal("100.10"),
                                                                   Decimal("1234.56")]
    assert {line["account"] for line in actuals["lines"]} == {"5.1.3"}
    assert all(line["document"] for line in actuals["lines"])
    later = await run(tryton, PROJECT_ACTUALS, {"code": code, "since": "2026-11-21T00:00:00+08:00"})
    assert later["actual"] == Decimal("100.10")  # the payment is dated 2026-11-26, the vouchers 11-20


async def test_actuals_of_an_unknown_project_and_naive_times_are_refused(tryton: Env) -> None:
    with pytest.raises(MappingError):
        await run(tryton, PROJECT_ACTUALS, {"code": f"NOPE-{uid()}"})
    with pytest.raises(MappingError) as caught:
        await run(tryton, PROJECT_ACTUALS, {"code": "X", "since": "2026-11-01T00:00:00"})
    assert caught.value.where == f"{PROJECT_ACTUALS}.since"


async def test_voucher_is_posted_balanced_and_retried_into_one_move(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    first = await run(tryton, VOUCHER_CREATE, {"voucher": cost_voucher(tag, "888.88", None)}, ref=ref)
    again = await run(tryton, VOUCHER_CREATE, {"voucher": cost_voucher(tag, "888.88", None)}, ref=ref, attempt=2)
    assert (first["adopted"], again["adopted"], again["id"]) == (False, True, first["id"])
    assert first["state"] == "posted" and first["total"] == Decimal("888.88")
    assert await tryton.client.search("account.move", [["description", "=", ref]]) == [first["id"]]
    lines = await tryton.client.search_read("account.move.line", [["move", "=", first["id"]]],
                                            ["debit", "credit", "description"])
    assert sum(Decimal(line["debit"]) for line in lines) == sum(Decimal(line["credit"]) for line in lines)
    assert sorted(line["description"] for line in lines) == [f"现金支付 {tag}", f"项目差旅费 {tag}"]


async def test_voucher_dimensions_tryton_cannot_hold_are_refused_or_described(tryton: Env) -> None:
    tag = uid()
    data = cost_voucher(tag, "10.00", None)
    data["lines"][0]["aux"] = [["department", "D01"]]
    with pytest.raises(MappingError) as caught:
        await run(tryton, VOUCHER_CREATE, {"voucher": data}, ref=f"HL-{uid()}")
    assert caught.value.where == "voucher.lines.0.aux"
    env = tryton.make(voucher_aux_in_description=True)
    made = await run(env, VOUCHER_CREATE, {"voucher": data}, ref=f"HL-{uid()}")
    lines = await env.client.search_read("account.move.line", [["move", "=", made["id"]]], ["description"])
    assert f"项目差旅费 {tag}（department=D01）" in [line["description"] for line in lines]


async def test_voucher_with_an_unknown_account_is_refused_before_creating(tryton: Env) -> None:
    data = cost_voucher(uid(), "10.00", None)
    data["lines"][1]["account"] = "9.9.9"
    ref = f"HL-{uid()}"
    with pytest.raises(MappingError) as caught:
        await run(tryton, VOUCHER_CREATE, {"voucher": data}, ref=ref)
    assert caught.value.where == "voucher.lines.1.account"
    assert await tryton.client.search("account.move", [["description", "=", ref]]) == []
