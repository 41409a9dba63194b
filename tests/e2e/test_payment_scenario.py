"""The standard scenario end to end: a payment request (付款申请) approved in DingTalk, WeCom or Feishu becomes
one audited (paid) Kingdee 付款单, the supplier made once, its number written back (DingTalk); a redelivered
callback changes nothing and a closed period is one dead letter with Kingdee's words, never retried."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.sandbox.company import SUPPLIERS, PaymentSpec, make_company
from huiliu.store.schema import dead_letters, inbox, runs

FLOW = "payment-request-to-payment"
PAYMENTS, SUPPLIER_FORM = "AP_PAYBILL", "BD_SUPPLIER"


def payments_for(stack: DemoStack, instance_id: str) -> list[Any]:
    """The Kingdee 付款单 carrying the hub's reference for this approval's payment step."""
    reference = reference_for(f"{FLOW}:{instance_id}:pay")
    return [bill for bill in stack.kd.bills.get(PAYMENTS, {}).values()
            if bill.model.get(stack.kd.reference_field) == reference]


def remarks(stack: DemoStack, instance_id: str) -> list[str]:
    return [r["remark"] for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]


def redeliver(stack: DemoStack, instance_id: str, times: int) -> None:
    (stack.wecom or stack.feishu or stack.ding).redeliver(instance_id, times)


def run_counts(stack: DemoStack) -> dict[tuple[str, str], int]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        return {(flow, status): n for flow, status, n in conn.execute(
            select(runs.c.flow_id, runs.c.status, func.count()).group_by(runs.c.flow_id, runs.c.status))}


@pytest.mark.parametrize("oa", ["dingtalk", "wecom", "feishu"])
async def test_approved_payment_requests_become_one_paid_kingdee_payment_each(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    async with make_stack(seed=47, oa=oa) as stack:
        company = stack.company
        approved = [company.payment(approve_rate=1.0, supplier_code=code) for code in ("GYS002", "GYS003", "GYS002")]
        refused = company.payment(approve_rate=0.0, refuse_rate=1.0)
        ids = [stack.submit_payment(spec) for spec in approved]
        refused_id = stack.submit_payment(refused)
        stack.submit(company.claim(approve_rate=1.0))  # the other templates keep to their approvals
        assert await stack.settle(expected_runs=len(approved) + 1, timeout=60)

        bills = stack.kd.bills[PAYMENTS]
        assert len(bills) == len(approved)  # the refused request paid nothing
        specs: dict[str, PaymentSpec] = dict(zip(ids, approved, strict=True))
        for instance_id, spec in specs.items():
            [bill] = payments_for(stack, instance_id)
            model = bill.model
            assert bill.status == "C"  # audited: paid
            assert Decimal(model["FPAYAMOUNTFOR"]) == spec.amount  # to the fen
            assert model["FPAYAMOUNTFOR"] == f"{spec.amount:.2f}"
            assert model["FCONTACTUNIT"] == {"FNumber": spec.supplier_code}
            assert model["FDATE"] == spec.pay_date.isoformat()
            assert spec.reason in model["FREMARK"] and f"发票 {spec.invoice_number}" in model["FREMARK"]
            if oa == "dingtalk":  # the payment number and amount written back, once
                [remark] = remarks(stack, instance_id)
                assert bill.number in remark and f"{spec.amount:.2f} 元" in remark and "已付款" in remark
        assert payments_for(stack, refused_id) == []
        suppliers = stack.kd.bills[SUPPLIER_FORM].values()
        assert sorted(s.number for s in suppliers) == ["GYS002", "GYS003"]  # GYS002 is paid twice, made once
        assert {s.model["FName"] for s in suppliers} == {approved[0].supplier_name, approved[1].supplier_name}
        assert stack.kd.count() == 1  # the claim's voucher; no payment became a voucher
        assert run_counts(stack) == {(FLOW, "succeeded"): 3, ("expense-claim-to-voucher", "succeeded"): 1}

        # The OA sends the final event of a paid request again: stored once, nothing paid twice.
        saves = stack.kd.save_calls
        redeliver(stack, ids[0], 3)
        assert await stack.settle(expected_runs=len(approved) + 1, timeout=60)
        if oa == "dingtalk":
            assert await stack.ding.wait_delivered(10)
            assert len(remarks(stack, ids[0])) == 1
        assert len(stack.kd.bills[PAYMENTS]) == len(approved) and len(payments_for(stack, ids[0])) == 1
        assert stack.kd.save_calls == saves
        assert run_counts(stack) == {(FLOW, "succeeded"): 3, ("expense-claim-to-voucher", "succeeded"): 1}
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            stored = conn.execute(select(func.count()).select_from(inbox).where(
                inbox.c.source == oa, inbox.c.type == f"{oa}.approval.approved")).scalar_one()
        assert stored == len(approved) + 1


async def test_a_payment_in_a_closed_period_is_one_dead_letter_with_kingdees_words_not_retried(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=53) as stack:
        spec = stack.company.payment(approve_rate=1.0)
        stack.kd.close_period("001", spec.pay_date.isoformat()[:7])  # 结账: the payment's month is closed
        instance_id = stack.submit_payment(spec)
        assert await stack.settle(expected_runs=1, timeout=60)
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            [dead] = conn.execute(select(dead_letters)).all()
            [run] = conn.execute(select(runs)).all()
        assert dead.reason == "vendor_rejected" and dead.attempts == 1  # a refusal is never retried
        assert "已结账，不能保存付款单" in dead.last_error and spec.pay_date.isoformat() in dead.last_error
        assert run.status == "failed" and run.flow_id == FLOW and run.business_key == instance_id
        assert stack.kd.bills.get(PAYMENTS, {}) == {}
        assert remarks(stack, instance_id) == []  # nothing written back for a payment not made


def test_generated_payment_requests_are_the_same_for_a_seed_and_to_the_fen() -> None:
    day = date(2026, 11, 26)
    first, second = make_company(seed=61), make_company(seed=61)
    drawn = [first.payment(pay_date=day) for _ in range(20)]
    assert drawn == [second.payment(pay_date=day) for _ in range(20)]
    assert all(p.amount > 0 and p.amount.as_tuple().exponent == -2 for p in drawn)
    assert {(p.supplier_code, p.supplier_name, p.supplier_tax_id) for p in drawn} <= set(SUPPLIERS)
    assert {p.outcome for p in drawn} <= {"approved", "refused", "revoked"}
    assert first.payment(supplier_code="GYS003").supplier_name == "杭州绿源办公家具有限公司"
    with pytest.raises(KeyError, match="GYS999"):
        first.payment(supplier_code="GYS999")
