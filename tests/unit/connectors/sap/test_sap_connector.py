"""SAP connector against the sandbox over real HTTP: CSRF, errors, PO flow, adoption, reverse, journal, changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sap_rig import SapEnv, make

from huiliu.connectors.http import HttpReply
from huiliu.connectors.sap import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    VOUCHER_CREATE,
    check_reply,
    short_reference,
)
from huiliu.errors import (
    AmbiguousOutcome,
    AuthExpired,
    MappingError,
    NoReply,
    RateLimited,
    TransientError,
    UnbalancedVoucher,
    VendorRejected,
)
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import Fault, FaultKind
from huiliu.store.codec import to_jsonable


def requisition(price: str = "1299.00") -> dict[str, Any]:
    return {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
            "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001"},
            "lines": [{"item": {"code": "chair-01", "name": "人体工学椅", "unit": "把"},
                       "quantity": "4", "unit_price": price, "description": "黑色 带头枕"},
                      {"item": {"name": "显示器支架"}, "quantity": "3", "unit_price": "0.07"}]}


async def test_requisition_becomes_a_released_order_with_its_number(sap: SapEnv) -> None:
    result = await sap.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert result["number"] == "4500000001"
    assert result["state"] == "approved"
    assert result["untaxed_amount"] == Decimal("5196.21")
    assert result["adopted"] is False
    [order] = sap.sandbox.orders_by_reference("HL-PR-0042")
    assert order["PurchasingProcessingStatus"] == "05"
    assert order["to_PurchaseOrderItem"][0]["PurchaseOrderItemText"] == "黑色 带头枕"
    assert order["to_PurchaseOrderItem"][0]["Material"] == "CHAIR-01"
    assert sap.client.csrf_fetches == 1  # one token for partner, products, order and release


async def test_read_round_trips_chinese_text_and_cents(sap: SapEnv) -> None:
    created = await sap.run(PURCHASE_CREATE, {"requisition": requisition()})
    read = await sap.run(PURCHASE_READ, {"reference": "HL-PR-0042"})
    assert read == await sap.run(PURCHASE_READ, {"id": created["id"]})
    assert read["lines"][1]["amount"] == Decimal("0.21")
    assert read["lines"][0]["description"] == "黑色 带头枕"
    assert read["purchase_date"] == date(2026, 11, 25)
    assert read["reference"] == "HL-PR-0042"


async def test_supplier_and_item_created_once_then_matched(sap: SapEnv) -> None:
    first = await sap.run(PARTY_ENSURE, {"supplier": {"name": "深圳华强电子", "code": "V-9"}})
    again = await sap.run(PARTY_ENSURE, {"supplier": {"name": "深圳华强电子"}})
    assert (first["created"], again["created"], again["matched_by"]) == (True, False, "name")
    assert again["id"] == first["id"]
    item = await sap.run(PRODUCT_ENSURE, {"item": {"code": "m-1", "name": "螺丝刀"}})
    item2 = await sap.run(PRODUCT_ENSURE, {"item": {"code": "M-1", "name": "螺丝刀"}})
    assert (item["created"], item2["created"], item2["code"]) == (True, False, "M-1")
    await sap.run(PURCHASE_CREATE, {"requisition": requisition()})
    await sap.run(PURCHASE_CREATE, {"requisition": requisition()}, ref="HL-PR-0043")
    assert len(sap.sandbox.partners) == 2
    assert len(sap.sandbox.products) == 3


async def test_retry_after_apply_then_drop_adopts_one_order(sap: SapEnv) -> None:
    sap.sandbox.faults.script("A_PurchaseOrder.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await sap.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert len(sap.sandbox.orders) == 1
    result = await sap.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    assert result["adopted"] is True
    assert result["state"] == "approved"
    assert len(sap.sandbox.orders) == 1
    assert sap.sandbox.create_calls["A_PurchaseOrder"] == 1


async def test_long_reference_is_stored_as_a_12_character_hash(sap: SapEnv) -> None:
    reference = "flow:采购/PR-2026-0042/create-po"
    await sap.run(PURCHASE_CREATE, {"requisition": requisition()}, ref=reference)
    stored = short_reference(reference, 12)
    assert len(stored) == 12
    assert sap.sandbox.orders_by_reference(stored)
    found = await sap.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2, ref=reference)
    assert found["adopted"] is True


async def test_csrf_refusal_refetches_and_retries_once(sap: SapEnv) -> None:
    await sap.run(PARTY_ENSURE, {"supplier": {"name": "甲", "code": "A1"}})
    sap.sandbox.expire_csrf()
    await sap.run(PARTY_ENSURE, {"supplier": {"name": "乙", "code": "B1"}})
    assert sap.client.csrf_fetches == 2
    assert len(sap.sandbox.partners) == 2
    # Refused again right after the refetch: the error reaches the caller, no third fetch.
    sap.sandbox.faults.script("A_BusinessPartner.create", Fault(FaultKind.EXPIRED_TOKEN),
                              Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired) as caught:
        await sap.run(PARTY_ENSURE, {"supplier": {"name": "丙", "code": "C1"}})
    assert caught.value.vendor_code == "csrf"
    assert sap.client.csrf_fetches == 3


async def test_wrong_password_is_rejected_and_bearer_expiry_is_auth_expired(sap: SapEnv) -> None:
    env = sap.connector(password="wrong")
    with pytest.raises(VendorRejected) as caught:
        await env.run(PURCHASE_READ, {"id": "4500000001"})
    assert "wrong" not in str(caught.value)
    env = sap.connector(username=None, password=None, bearer_token="expired")
    with pytest.raises(AuthExpired):
        await env.run(PURCHASE_READ, {"id": "4500000001"})


async def test_mapped_errors(sap: SapEnv) -> None:
    with pytest.raises(VendorRejected) as caught:
        await sap.run(PURCHASE_READ, {"id": "4599999999"})
    assert caught.value.vendor_message == "未找到键为 4599999999 的资源"
    sap.sandbox.faults.script("A_PurchaseOrder.query", Fault(FaultKind.RATE_LIMIT, retry_after=9),
                              Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(RateLimited) as limited:
        await sap.run(PURCHASE_READ, {"reference": "x"})
    assert limited.value.retry_after == 9
    with pytest.raises(TransientError) as server:
        await sap.run(PURCHASE_READ, {"reference": "x"})
    assert server.value.vendor_message == "服务暂时不可用"
    # aiohttp repeats an idempotent GET on a dropped keep-alive connection, so the drop is shown on a write.
    sap.sandbox.faults.script("A_BusinessPartner.create", Fault(FaultKind.DROP))
    with pytest.raises(AmbiguousOutcome) as dropped:
        await sap.run(PARTY_ENSURE, {"supplier": {"name": "丁", "code": "D1"}})
    assert isinstance(dropped.value.__cause__, NoReply)
    assert sap.sandbox.partners == {}


def test_error_bodies_of_both_versions_keep_sap_text() -> None:
    v2 = HttpReply(400, {}, b"{}", {"error": {"code": "ME/047", "message": {"lang": "zh", "value": "供应商不存在"},
                                            "innererror": {"errordetails": [{"message": "行 10：物料缺失"}]}}})
    with pytest.raises(VendorRejected) as caught:
        check_reply(v2, "A_PurchaseOrder.create", bearer=False)
    assert (caught.value.vendor_code, caught.value.vendor_message) == ("ME/047", "供应商不存在；行 10：物料缺失")
    v4 = HttpReply(400, {}, b"{}", {"error": {"code": "X", "message": "坏", "details": []}})
    with pytest.raises(VendorRejected, match="坏"):
        check_reply(v4, "op", bearer=True)
    with pytest.raises(TransientError):
        check_reply(HttpReply(200, {}, b"<html/>", None), "op", bearer=False)
    forbidden = HttpReply(403, {"x-csrf-token": "Required"}, b"CSRF token validation failed", None)
    with pytest.raises(AuthExpired):
        check_reply(forbidden, "op", bearer=False)
    with pytest.raises(VendorRejected):
        check_reply(HttpReply(403, {}, b"no", None), "op", bearer=False)


async def test_order_with_unknown_supplier_is_refused_with_sap_message(sap: SapEnv) -> None:
    body = {"CompanyCode": "1010", "Supplier": "999", "to_PurchaseOrderItem": {"results": []}}
    with pytest.raises(VendorRejected) as caught:
        await sap.client.write("POST", sap.settings.purchase_service, "A_PurchaseOrder", "A_PurchaseOrder.create",
                               body)
    assert caught.value.vendor_message == "供应商 999 不存在"


async def test_reverse_deletes_then_is_idempotent_and_refuses_after_receipt(sap: SapEnv) -> None:
    created = await sap.run(PURCHASE_CREATE, {"requisition": requisition()})
    result = await sap.run(PURCHASE_REVERSE, {"id": created["id"]})
    assert result["how"] == "deleted"
    assert sap.sandbox.orders[created["id"]]["PurchasingDocumentDeletionCode"] == "L"
    assert (await sap.run(PURCHASE_REVERSE, {"id": created["id"]}))["how"] == "already_deleted"
    other = await sap.run(PURCHASE_CREATE, {"requisition": requisition()}, ref="HL-2")
    sap.sandbox.receive(other["id"])
    with pytest.raises(VendorRejected, match="冲销收货"):
        await sap.run(PURCHASE_REVERSE, {"reference": "HL-2"})


def voucher(credit: str = "880.00", on: date = date(2026, 11, 25)) -> dict[str, Any]:
    lines = (VoucherLine("业务招待费 客户晚宴", "6602.05", Direction.DEBIT, Money(Decimal("880.00"))),
             VoucherLine("应付员工报销款", "2241.01", Direction.CREDIT, Money(Decimal(credit))))
    return {"voucher": to_jsonable(Voucher("claim-9", "001", on, "记", "CNY", lines))}


async def test_journal_entry_posts_balanced_and_retry_adopts(sap: SapEnv) -> None:
    sap.sandbox.faults.script("A_JournalEntry.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await sap.run(VOUCHER_CREATE, voucher(), ref="HL-V-1")
    result = await sap.run(VOUCHER_CREATE, voucher(), attempt=2, ref="HL-V-1")
    assert (result["adopted"], result["number"], result["id"]) == (True, "100000001", "1010/100000001/2026")
    [entry] = sap.sandbox.entries.values()
    assert [i["AmountInTransactionCurrency"] for i in entry["_items"]] == ["880.00", "-880.00"]


async def test_unbalanced_voucher_refused_before_any_call_and_closed_period_by_sap(sap: SapEnv) -> None:
    with pytest.raises(UnbalancedVoucher):
        await sap.run(VOUCHER_CREATE, voucher(credit="879.99"))
    assert sap.client.csrf_fetches == 0
    sap.sandbox.closed_periods.add("2026-10")
    with pytest.raises(VendorRejected, match="未打开"):
        await sap.run(VOUCHER_CREATE, voucher(on=date(2026, 10, 30)))


async def test_changes_since_pages(sap: SapEnv) -> None:
    for index in range(5):
        await sap.run(PURCHASE_CREATE, {"requisition": requisition()}, ref=f"HL-{index}")
        sap.clock.advance(60)
    since = datetime(2026, 11, 25, 17, 2, tzinfo=timezone(timedelta(hours=8)))
    first = await sap.run(CHANGES_SINCE, {"since": since.isoformat(), "limit": 2})
    second = await sap.run(CHANGES_SINCE, {"since": since.isoformat(), "limit": 2, "cursor": first["next_cursor"]})
    assert second["next_cursor"] is None
    numbers = [d["number"] for d in first["documents"] + second["documents"]]
    assert numbers == ["4500000003", "4500000004", "4500000005"]
    assert all(d["modified"] >= since for d in first["documents"])
    with pytest.raises(MappingError):
        await sap.run(CHANGES_SINCE, {"since": "2026-11-25T09:00:00"})


async def test_odata_v4_flavour() -> None:
    async for env in make(odata_version="v4"):
        v4 = env.connector(odata_version="v4", purchase_items="_PurchaseOrderItem")
        result = await v4.run(PURCHASE_CREATE, {"requisition": requisition()})
        assert result["untaxed_amount"] == Decimal("5196.21")
        read = await v4.run(PURCHASE_READ, {"id": result["id"]})
        assert read["lines"][0]["quantity"] == Decimal("4")
        page = await v4.run(CHANGES_SINCE, {"since": "2026-11-25T00:00:00+00:00"})
        assert page["documents"][0]["modified"] == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
