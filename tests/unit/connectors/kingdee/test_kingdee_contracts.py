"""Kingdee purchase contracts (采购合同) and suppliers (kingdee.party.ensure) against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from kingdee_rig import MakeEnv

from huiliu.connectors.kingdee import CONTRACT_CREATE, CONTRACT_READ, PARTY_ENSURE
from huiliu.errors import AmbiguousOutcome, MappingError, VendorRejected
from huiliu.sandbox.faults import Fault, FaultKind

TAX_ID = "91330100MA2H3C7L5P"
SUPPLIER = {"name": "杭州绿源办公家具有限公司", "tax_id": TAX_ID}


def contract(amount: Any = "286000.05", **extra: Any) -> dict[str, Any]:
    return {"number": "HT-SP-0007", "name": "2027年度办公家具采购合同", "supplier": SUPPLIER, "amount": amount,
            "currency": "CNY", "signed_on": "2026-11-26", "start": "2027-01-01", "end": "2027-12-31",
            "payment_terms": "验收合格后 30 天内付清", **extra}


async def test_contract_saved_once_audited_and_read_back(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    first = await env.run(CONTRACT_CREATE, {"contract": contract()}, ref="HL-C1")
    again = await env.run(CONTRACT_CREATE, {"contract": contract()}, ref="HL-C1", attempt=2)
    assert (first["adopted"], again["adopted"], again["id"]) == (False, True, first["id"])
    assert (first["state"], first["audited"], first["amount"], first["currency"]) == (
        "C", True, Decimal("286000.05"), "CNY")
    assert (first["number"], first["name"], first["supplier"]) == ("CGHT000001", "2027年度办公家具采购合同", TAX_ID)
    assert env.sandbox.bill_count("PUR_Contract") == 1 and env.sandbox.bill_count("BD_Supplier") == 1
    assert await env.run(CONTRACT_READ, {"reference": "HL-C1"}) == {**first, "adopted": False}
    assert await env.run(CONTRACT_READ, {"id": first["id"]}) == {**first, "adopted": False}
    [bill] = env.sandbox.bills["PUR_CONTRACT"].values()
    model = bill.model
    assert (model["FBeginDate"], model["FEndDate"], model["FDate"]) == ("2027-01-01", "2027-12-31", "2026-11-26")
    assert model["FPurchaseOrgId"] == {"FNumber": "100"} and model["FTotalAmount"] == "286000.05"
    assert model["FDescription"] == "付款条件：验收合格后 30 天内付清；OA 审批单 HT-SP-0007"


async def test_the_oas_contract_number_becomes_the_bill_number_and_a_duplicate_is_refused(
        make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    made = await env.run(CONTRACT_CREATE, {"contract": contract(contract_number="CG-2026-0031")}, ref="HL-C1")
    assert made["number"] == "CG-2026-0031"
    with pytest.raises(VendorRejected) as caught:  # another approval naming the same 合同编号
        await env.run(CONTRACT_CREATE, {"contract": contract(contract_number="CG-2026-0031")}, ref="HL-C2")
    assert "单据编号“CG-2026-0031”已经存在" in str(caught.value)
    assert env.sandbox.bill_count("PUR_Contract") == 1


async def test_reply_lost_after_save_is_ambiguous_and_the_retry_adopts_the_contract(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(ambiguous_wait=0)
    env.sandbox.add_supplier("GYS003", SUPPLIER["name"], TAX_ID)
    env.sandbox.faults.script("save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await env.run(CONTRACT_CREATE, {"contract": contract()}, ref="HL-C1")
    assert env.sandbox.bill_count("PUR_Contract") == 1  # Kingdee made it; the hub does not know
    result = await env.run(CONTRACT_CREATE, {"contract": contract()}, ref="HL-C1", attempt=2)
    assert (result["adopted"], result["state"], result["supplier"]) == (True, "C", "GYS003")
    assert env.sandbox.bill_count("PUR_Contract") == 1 and env.sandbox.save_calls == 1


async def test_supplier_matched_by_tax_id_then_code_then_name_else_created_once(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    env.sandbox.add_supplier("GYS001", "上海晨光文具有限公司", "91310000MA1FL0XJ2K")
    env.sandbox.add_supplier("GYS002", "深圳市华强电子科技有限公司")
    by_tax = await env.run(PARTY_ENSURE, {"supplier": {"name": "晨光文具（简称不同）", "tax_id": "91310000MA1FL0XJ2K"}})
    by_code = await env.run(PARTY_ENSURE, {"supplier": {"name": "华强电子", "code": "GYS002", "tax_id": "X1"}})
    by_name = await env.run(PARTY_ENSURE, {"supplier": {"name": "深圳市华强电子科技有限公司"}})
    assert [(r["code"], r["matched_by"], r["created"]) for r in (by_tax, by_code, by_name)] == [
        ("GYS001", "tax_id", False), ("GYS002", "code", False), ("GYS002", "name", False)]
    made = await asyncio.gather(*(env.run(PARTY_ENSURE, {"supplier": SUPPLIER}) for _ in range(5)))
    assert sum(r["created"] for r in made) == 1 and {r["code"] for r in made} == {TAX_ID}  # numbered by tax id
    assert env.sandbox.bill_count("BD_Supplier") == 3
    [new] = (s for s in env.sandbox.bills["BD_SUPPLIER"].values() if s.number == TAX_ID)
    assert (new.status, new.model["FName"], new.model["FBaseInfo"]) == ("C", SUPPLIER["name"],
                                                                        {"FSOCIALCRECODE": TAX_ID})


async def test_a_supplier_left_unaudited_by_a_lost_attempt_is_audited_when_matched(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    left = env.sandbox.add_supplier("GYS003", SUPPLIER["name"], TAX_ID)
    left.status = left.model["FDocumentStatus"] = "A"
    result = await env.run(CONTRACT_CREATE, {"contract": contract()}, ref="HL-C1")
    assert (result["supplier"], result["state"], left.status) == ("GYS003", "C", "C")


async def test_without_a_tax_id_field_suppliers_match_by_code_and_name(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(supplier_tax_field=None)
    made = await env.run(PARTY_ENSURE, {"supplier": SUPPLIER})
    again = await env.run(PARTY_ENSURE, {"supplier": SUPPLIER})
    assert (made["created"], again["created"], again["matched_by"]) == (True, False, "name")
    [supplier] = env.sandbox.bills["BD_SUPPLIER"].values()
    assert "FBaseInfo" not in supplier.model


async def test_missing_purchasing_org_is_refused_with_kingdees_words_and_nothing_saved(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(contract_org=None)
    with pytest.raises(VendorRejected) as caught:
        await env.run(CONTRACT_CREATE, {"contract": contract()}, ref="HL-C1")
    assert "字段“采购组织”是必填项" in str(caught.value) and caught.value.vendor_message
    assert env.sandbox.bill_count("PUR_Contract") == 0


@pytest.mark.parametrize(("change", "where"), [
    ({"amount": "-1"}, "contract.amount"),
    ({"amount": "0.001"}, "contract.amount"),
    ({"amount": 12.5}, "contract.amount"),
    ({"end": "2026-12-31"}, "contract.end"),
    ({"currency": "USD"}, "contract.currency"),
    ({"name": ""}, "contract.name"),
    ({"signed_on": "明天"}, "contract.signed_on"),
])
async def test_bad_contract_refused_before_kingdee(make_kd_env: MakeEnv, change: dict[str, Any], where: str) -> None:
    env = await make_kd_env()
    with pytest.raises(MappingError) as caught:
        await env.run(CONTRACT_CREATE, {"contract": {**contract(), **change}})
    assert caught.value.where is not None and caught.value.where.startswith(where)
    assert env.sandbox.save_calls == 0 and env.sandbox.bill_count("PUR_Contract") == 0


@pytest.mark.parametrize("request_", [{}, {"contract": "x"}, {"contract": contract(), "supplier_number": ""}])
async def test_malformed_requests_are_refused(make_kd_env: MakeEnv, request_: dict[str, Any]) -> None:
    env = await make_kd_env()
    with pytest.raises(MappingError):
        await env.run(CONTRACT_CREATE, request_)
    with pytest.raises(MappingError):
        await env.run(CONTRACT_READ, {})
    with pytest.raises(VendorRejected, match="HL-NONE"):
        await env.run(CONTRACT_READ, {"reference": "HL-NONE"})


async def test_read_of_an_unknown_contract_id_is_not_found(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    with pytest.raises(VendorRejected, match="98765") as caught:
        await env.run(CONTRACT_READ, {"id": 98765})
    assert caught.value.vendor_code == "not_found" and "purchase contract" in caught.value.what.en
