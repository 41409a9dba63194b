"""The standard scenario end to end: a contract approval (合同审批) approved in DingTalk, WeCom or Feishu becomes
one audited Kingdee 采购合同 with its supplier — found by 统一社会信用代码, created once, an existing one matched —
and the contract number written back (DingTalk); a redelivered callback changes nothing, and a contract Kingdee
refuses is one dead letter with Kingdee's words, no contract made and nothing written back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.sandbox.company import SUPPLIERS, ContractSpec, make_company
from huiliu.store import loads
from huiliu.store.schema import dead_letters, inbox, runs

FLOW = "contract-to-supplier"
CONTRACTS, SUPPLIER_FORM = "PUR_CONTRACT", "BD_SUPPLIER"
TAX = {code: tax_id for code, _, tax_id in SUPPLIERS}


def contracts_for(stack: DemoStack, instance_id: str) -> list[Any]:
    """The Kingdee 采购合同 carrying the hub's reference for this approval's contract step."""
    reference = reference_for(f"{FLOW}:{instance_id}:erp_contract")
    return [bill for bill in stack.kd.bills.get(CONTRACTS, {}).values()
            if bill.model.get(stack.kd.reference_field) == reference]


def suppliers(stack: DemoStack) -> list[Any]:
    return list(stack.kd.bills.get(SUPPLIER_FORM, {}).values())


def remarks(stack: DemoStack, instance_id: str) -> list[str]:
    return [r["remark"] for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]


def run_counts(stack: DemoStack) -> dict[tuple[str, str], int]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        return {(flow, status): n for flow, status, n in conn.execute(
            select(runs.c.flow_id, runs.c.status, func.count()).group_by(runs.c.flow_id, runs.c.status))}


def check_contract(stack: DemoStack, instance_id: str, spec: ContractSpec, supplier_number: str) -> None:
    [bill] = contracts_for(stack, instance_id)
    model = bill.model
    assert bill.status == "C"  # submitted and audited
    assert Decimal(model["FTotalAmount"]) == spec.amount and model["FTotalAmount"] == f"{spec.amount:.2f}"
    assert model["FCONTRACTNAME"] == spec.name  # Chinese text round-trips
    assert model["FSupplierId"] == {"FNumber": supplier_number}
    assert (model["FDate"], model["FBeginDate"], model["FEndDate"]) == (
        spec.signed_on.isoformat(), spec.start.isoformat(), spec.end.isoformat())
    assert model["FContractFin"]["FSettleCurrId"] == {"FNumber": "PRE001"}  # 人民币
    assert f"付款条件：{spec.payment_terms}" in model["FDescription"]
    assert bill.number == (spec.contract_number or bill.number) and bill.number  # the OA's 合同编号 when it gave one
    if stack.oa == "dingtalk":  # the contract number and amount written back, once
        [remark] = remarks(stack, instance_id)
        assert bill.number in remark and f"{spec.amount:.2f} 元" in remark and supplier_number in remark


@pytest.mark.parametrize("oa", ["dingtalk", "wecom", "feishu"])
async def test_approved_contracts_become_one_kingdee_contract_each_and_one_supplier_per_tax_id(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    async with make_stack(seed=67, oa=oa) as stack:
        company = stack.company
        approved = [company.contract(approve_rate=1.0, supplier_code="GYS002", numbered=True),
                    company.contract(approve_rate=1.0, supplier_code="GYS003", numbered=False),
                    company.contract(approve_rate=1.0, supplier_code="GYS002", numbered=False)]
        refused = company.contract(approve_rate=0.0, refuse_rate=1.0)
        ids = [stack.submit_contract(spec) for spec in approved]
        refused_id = stack.submit_contract(refused)
        stack.submit(company.claim(approve_rate=1.0))  # the other templates keep to their approvals
        assert await stack.settle(expected_runs=len(approved) + 1, timeout=60)

        assert len(stack.kd.bills[CONTRACTS]) == len(approved)  # the refused approval made nothing
        for instance_id, spec in zip(ids, approved, strict=True):
            check_contract(stack, instance_id, spec, spec.supplier_tax_id)  # a new supplier is numbered by tax id
        assert approved[0].contract_number is not None
        assert contracts_for(stack, ids[0])[0].number == approved[0].contract_number
        assert contracts_for(stack, refused_id) == []
        made = suppliers(stack)  # GYS002's tax id is in two contracts: one supplier
        assert sorted(s.number for s in made) == sorted([TAX["GYS002"], TAX["GYS003"]])
        assert {s.model["FName"] for s in made} == {approved[0].supplier_name, approved[1].supplier_name}
        assert all(s.status == "C" and s.model["FBaseInfo"]["FSOCIALCRECODE"] == s.number for s in made)
        assert stack.kd.count() == 1  # the claim's voucher
        assert run_counts(stack) == {(FLOW, "succeeded"): 3, ("expense-claim-to-voucher", "succeeded"): 1}

        # The OA sends the final event of an approved contract again: stored once, nothing made twice.
        saves = stack.kd.save_calls
        (stack.wecom or stack.feishu or stack.ding).redeliver(ids[1], 3)
        assert await stack.settle(expected_runs=len(approved) + 1, timeout=60)
        if oa == "dingtalk":
            assert await stack.ding.wait_delivered(10)
            assert len(remarks(stack, ids[1])) == 1
        assert len(stack.kd.bills[CONTRACTS]) == len(approved) and len(contracts_for(stack, ids[1])) == 1
        assert len(suppliers(stack)) == 2 and stack.kd.save_calls == saves
        assert run_counts(stack) == {(FLOW, "succeeded"): 3, ("expense-claim-to-voucher", "succeeded"): 1}
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            stored = conn.execute(select(func.count()).select_from(inbox).where(
                inbox.c.source == oa, inbox.c.type == f"{oa}.approval.approved")).scalar_one()
        assert stored == len(approved) + 1


@pytest.mark.parametrize("oa", ["dingtalk", "wecom", "feishu"])
async def test_a_supplier_already_in_kingdee_is_matched_not_duplicated(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    async with make_stack(seed=71, oa=oa) as stack:
        code, name, tax_id = SUPPLIERS[0]
        stack.kd.add_supplier(code, name, tax_id)  # keyed in by hand, with its 统一社会信用代码
        stack.kd.add_supplier("GYS003", SUPPLIERS[2][1])  # an older record without one: matched by name
        specs = [stack.company.contract(approve_rate=1.0, supplier_code=code),
                 stack.company.contract(approve_rate=1.0, supplier_code="GYS003")]
        ids = [stack.submit_contract(spec) for spec in specs]
        assert await stack.settle(expected_runs=len(specs), timeout=60)

        assert sorted(s.number for s in suppliers(stack)) == [code, "GYS003"]  # none created
        check_contract(stack, ids[0], specs[0], code)
        check_contract(stack, ids[1], specs[1], "GYS003")
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            found = {r.business_key: loads(r.context)["steps"]["supplier"] for r in conn.execute(select(runs))}
        assert (found[ids[0]]["matched_by"], found[ids[0]]["created"]) == ("tax_id", False)
        assert (found[ids[1]]["matched_by"], found[ids[1]]["created"]) == ("name", False)
        assert run_counts(stack) == {(FLOW, "succeeded"): 2}


@pytest.mark.parametrize("oa", ["dingtalk", "wecom", "feishu"])
async def test_a_contract_kingdee_refuses_is_one_dead_letter_with_its_words_and_nothing_half_made(
        make_stack: Callable[..., DemoStack], oa: str) -> None:
    # No purchasing organisation configured: Kingdee refuses the contract (a required field), at once.
    async with make_stack(seed=73, oa=oa, kingdee_settings={"contract_org": None}) as stack:
        code, name, tax_id = SUPPLIERS[1]
        stack.kd.add_supplier(code, name, tax_id)
        spec = stack.company.contract(approve_rate=1.0, supplier_code=code)
        instance_id = stack.submit_contract(spec)
        assert await stack.settle(expected_runs=1, timeout=60)
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            [dead] = conn.execute(select(dead_letters)).all()
            [run] = conn.execute(select(runs)).all()
        assert dead.reason == "vendor_rejected" and dead.attempts == 1  # a refusal is never retried
        assert "字段“采购组织”是必填项" in dead.last_error and "FPurchaseOrgId" in dead.last_error
        assert run.status == "failed" and run.flow_id == FLOW and run.business_key == instance_id
        assert stack.kd.bills.get(CONTRACTS, {}) == {}  # no draft contract left behind
        assert [s.number for s in suppliers(stack)] == [code]  # the supplier was matched, none made
        if oa == "dingtalk":
            assert remarks(stack, instance_id) == []  # nothing written back for a contract not made


def test_generated_contracts_are_the_same_for_a_seed_and_to_the_fen() -> None:
    day = date(2026, 11, 26)
    first, second = make_company(seed=61), make_company(seed=61)
    drawn = [first.contract(signed_on=day) for _ in range(20)]
    assert drawn == [second.contract(signed_on=day) for _ in range(20)]
    assert all(c.amount > 0 and c.amount.as_tuple().exponent == -2 for c in drawn)
    assert {(c.supplier_name, c.supplier_tax_id) for c in drawn} <= {(n, t) for _, n, t in SUPPLIERS}
    assert all(c.signed_on <= c.start < c.end for c in drawn)
    numbers = [c.contract_number for c in drawn if c.contract_number is not None]
    assert numbers and len(set(numbers)) == len(numbers) and len(numbers) < len(drawn)  # optional, unique
    assert {c.outcome for c in drawn} <= {"approved", "refused", "revoked"}
    assert first.contract(supplier_code="GYS003").supplier_tax_id == TAX["GYS003"]
    with pytest.raises(KeyError, match="GYS999"):
        first.contract(supplier_code="GYS999")
