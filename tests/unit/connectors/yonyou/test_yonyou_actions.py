"""Yonyou actions against the sandbox over real HTTP: PO flow, master data reuse, adoption, reverse, vouchers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from yonyou_rig import YonyouEnv, requisition

from huiliu.connectors.yonyou import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    VOUCHER_CREATE,
    purchase_order_values,
    requisition_from_json,
    resubmit_key,
)
from huiliu.errors import AmbiguousOutcome, MappingError, TransientError, UnbalancedVoucher, VendorRejected
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import Fault, FaultKind
from huiliu.store.codec import to_jsonable


async def test_requisition_becomes_an_audited_order_with_its_number(yonyou: YonyouEnv) -> None:
    result = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert result["state"] == "approved"
    assert result["adopted"] is False
    assert result["number"].startswith("CGDD20261125")
    # 4 × 1299.00 + 2 × 0.05 untaxed; 13 % tax on each line rounded to the fen
    assert result["untaxed_amount"] == Decimal("5196.10")
    assert result["total_amount"] == Decimal("5196.10") + Decimal("675.48") + Decimal("0.01")
    [order] = yonyou.sandbox.orders_by_reference("HL-PR-0042")
    assert order["status"] == "1"
    assert order["code"] == result["number"]
    assert order["vendor_code"] == "SUP-001"
    assert order["purchaseOrders"][0]["memo"] == "黑色 带头枕"
    assert order["purchaseOrders"][0]["oriMoney"] == "5196.00"
    assert order["purchaseOrders"][1]["oriTax"] == "0.01"


async def test_supplier_and_item_are_created_once_then_matched(yonyou: YonyouEnv) -> None:
    first = await yonyou.run(PARTY_ENSURE, {"supplier": {"name": "深圳华强电子", "tax_id": "91440300X"}})
    again = await yonyou.run(PARTY_ENSURE, {"supplier": {"name": "深圳华强电子", "tax_id": "91440300X"}})
    assert first["created"] is True
    assert again["created"] is False
    assert again["matched_by"] == "tax_identifier"
    assert again["id"] == first["id"]
    item = await yonyou.run(PRODUCT_ENSURE, {"item": {"code": "M-9", "name": "螺丝刀", "unit": "把"}})
    item2 = await yonyou.run(PRODUCT_ENSURE, {"item": {"code": "M-9", "name": "螺丝刀"}})
    assert (item["created"], item2["created"], item2["id"]) == (True, False, item["id"])
    assert item["unit"] == "BA"
    await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()}, ref="HL-PR-0043")
    assert len(yonyou.sandbox.ledger.vendors) == 2  # 深圳华强电子 and SUP-001, each once
    assert len(yonyou.sandbox.ledger.products) == 3


async def test_item_without_code_gets_a_stable_derived_code(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.faults.script("product.save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await yonyou.run(PRODUCT_ENSURE, {"item": {"name": "显示器支架"}})
    result = await yonyou.run(PRODUCT_ENSURE, {"item": {"name": "显示器支架"}})
    assert len(yonyou.sandbox.ledger.products) == 1
    assert result["code"].startswith("HLM")


async def test_retry_after_apply_then_drop_adopts_the_order(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.faults.script("purchase.save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as caught:
        await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert caught.value.retry_after == yonyou.settings.ambiguous_wait
    assert len(yonyou.sandbox.ledger.orders) == 1
    result = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()}, attempt=2)
    assert result["adopted"] is True
    assert result["state"] == "approved"
    assert len(yonyou.sandbox.ledger.orders) == 1
    assert yonyou.sandbox.write_calls["purchase.save"] == 1


async def test_repeat_refused_by_resubmit_check_key_is_adopted(yonyou: YonyouEnv) -> None:
    # A retry that skips the lookup (attempt 1 twice, e.g. the hub lost its own record) is refused by
    # Yonyou as a repeated resubmitCheckKey, and the refusal adopts the first order.
    first = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    second = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    assert second["adopted"] is True
    assert second["id"] == first["id"]
    assert len(yonyou.sandbox.ledger.orders) == 1
    assert yonyou.sandbox.write_calls["purchase.save"] == 2
    assert resubmit_key("HL-PR-0042") in yonyou.sandbox.ledger.resubmit_keys


async def test_long_reference_is_hashed_into_a_32_character_key(yonyou: YonyouEnv) -> None:
    reference = "flow:采购申请/PR-2026-0042/step:create-po/attempt-independent"
    await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()}, ref=reference)
    [key] = yonyou.sandbox.ledger.resubmit_keys
    assert len(key) == 32
    assert yonyou.sandbox.orders_by_reference(reference)


async def test_save_refused_for_unknown_supplier_keeps_yonyou_message(yonyou: YonyouEnv) -> None:
    # Bypass ensure: write an order naming a vendor that does not exist.
    values = purchase_order_values(requisition_from_json(requisition()), "R1", vendor="NOPE",
                                   products={0: "X", 1: "Y"}, units={0: "BA", 1: "PCS"},
                                   order_date=date(2026, 11, 25), settings=yonyou.settings)
    with pytest.raises(VendorRejected) as caught:
        await yonyou.client.call("purchase.save", values, idempotency_key="R1")
    assert "供应商[NOPE]不存在" in (caught.value.vendor_message or "")
    assert caught.value.retryable is False


async def test_read_returns_amounts_to_the_cent_and_chinese_text(yonyou: YonyouEnv) -> None:
    created = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition(price="0.07", quantity="3")})
    by_ref = await yonyou.run(PURCHASE_READ, {"reference": "HL-PR-0042"})
    by_id = await yonyou.run(PURCHASE_READ, {"id": created["id"]})
    assert by_ref == by_id
    assert by_ref["untaxed_amount"] == Decimal("0.31")
    assert by_ref["lines"][0]["amount"] == Decimal("0.21")
    assert by_ref["lines"][0]["unit_price"] == Decimal("0.07")
    assert by_ref["lines"][0]["quantity"] == Decimal("3")
    assert by_ref["reference"] == "HL-PR-0042"
    assert by_ref["lines"][0]["description"] == "黑色 带头枕"
    assert by_ref["purchase_date"] == date(2026, 11, 25)


async def test_reverse_unaudits_and_deletes_then_is_idempotent(yonyou: YonyouEnv) -> None:
    created = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    result = await yonyou.run(PURCHASE_REVERSE, {"id": created["id"]})
    assert (result["reversed"], result["how"]) == (True, "deleted")
    assert yonyou.sandbox.ledger.orders == {}
    again = await yonyou.run(PURCHASE_REVERSE, {"id": created["id"]})
    assert again["how"] == "already_absent"


async def test_reverse_refused_after_goods_receipt_names_the_document(yonyou: YonyouEnv) -> None:
    created = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    yonyou.sandbox.receive(created["id"])
    with pytest.raises(VendorRejected) as caught:
        await yonyou.run(PURCHASE_REVERSE, {"reference": "HL-PR-0042"})
    assert "采购入库单" in (caught.value.vendor_message or "")
    assert len(yonyou.sandbox.ledger.orders) == 1


async def test_reverse_of_closed_order_says_what_yonyou_requires(yonyou: YonyouEnv) -> None:
    created = await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()})
    yonyou.sandbox.close_order(created["id"])
    with pytest.raises(VendorRejected, match="打开"):
        await yonyou.run(PURCHASE_REVERSE, {"id": created["id"]})


def voucher(credit: str = "880.00", on: date = date(2026, 11, 25)) -> dict[str, Any]:
    lines = (VoucherLine("业务招待费 客户晚宴", "6602.05", Direction.DEBIT, Money(Decimal("880.00")),
                         (("department", "BM03"),)),
             VoucherLine("应付员工报销款", "2241.01", Direction.CREDIT, Money(Decimal(credit))))
    return {"voucher": to_jsonable(Voucher("claim-9", "001", on, "记", "CNY", lines))}


async def test_voucher_posts_balanced_to_the_cent(yonyou: YonyouEnv) -> None:
    result = await yonyou.run(VOUCHER_CREATE, voucher(), ref="HL-V-1")
    assert result["number"] == "记-0001"
    assert result["adopted"] is False
    [stored] = yonyou.sandbox.ledger.vouchers.values()
    assert stored["bodies"][0]["debitOrg"] == "880.00"
    assert stored["bodies"][1]["creditOrg"] == "880.00"
    assert stored["bodies"][0]["description"] == "[HL-V-1]业务招待费 客户晚宴"


async def test_unbalanced_voucher_is_refused_before_any_call(yonyou: YonyouEnv) -> None:
    with pytest.raises(UnbalancedVoucher):
        await yonyou.run(VOUCHER_CREATE, voucher(credit="879.99"))
    with pytest.raises(MappingError):
        await yonyou.run(VOUCHER_CREATE, {})
    assert yonyou.sandbox.token_calls == 0
    assert yonyou.sandbox.ledger.vouchers == {}


async def test_voucher_in_a_closed_period_is_refused_with_yonyou_text(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.close_period("2026-10")
    with pytest.raises(VendorRejected) as caught:
        await yonyou.run(VOUCHER_CREATE, voucher(on=date(2026, 10, 31)))
    assert "已结账" in (caught.value.vendor_message or "")
    assert caught.value.vendor_code == "310074"


async def test_voucher_retry_after_lost_reply_adopts(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.faults.script("voucher.add", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome):
        await yonyou.run(VOUCHER_CREATE, voucher(), ref="HL-V-2")
    result = await yonyou.run(VOUCHER_CREATE, voucher(), attempt=2, ref="HL-V-2")
    assert result["adopted"] is True
    assert len(yonyou.sandbox.ledger.vouchers) == 1
    # Without the lookup, the duplicate code refuses and adopts as well.
    again = await yonyou.run(VOUCHER_CREATE, voucher(), attempt=1, ref="HL-V-2")
    assert (again["adopted"], again["number"]) == (True, result["number"])
    assert len(yonyou.sandbox.ledger.vouchers) == 1


async def test_changes_since_pages_through_modified_orders(yonyou: YonyouEnv) -> None:
    for index in range(5):
        await yonyou.run(PURCHASE_CREATE, {"requisition": requisition()}, ref=f"HL-{index}")
        yonyou.clock.advance(60)
    since = datetime(2026, 11, 25, 17, 2, tzinfo=timezone(timedelta(hours=8)))  # 09:02 UTC: skips two
    seen: list[Any] = []
    cursor = None
    pages = 0
    while True:
        request: dict[str, Any] = {"since": since.isoformat(), "limit": 2}
        if cursor:
            request["cursor"] = cursor
        page = await yonyou.run(CHANGES_SINCE, request)
        seen.extend(page["documents"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert len(seen) == 3
    assert all(d["modified"] >= since for d in seen)
    assert seen[0]["modified"].utcoffset() == timedelta(0)
    assert [d["state"] for d in seen] == ["approved"] * 3
    with pytest.raises(MappingError, match="since"):
        await yonyou.run(CHANGES_SINCE, {"since": "2026-11-25T09:00:00"})
