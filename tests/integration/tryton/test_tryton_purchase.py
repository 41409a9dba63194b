"""Approved OA purchase requisitions become confirmed purchase orders in a real Tryton 8.2 (no mocks)."""

from __future__ import annotations

import base64
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from tryton_env import Env

from huiliu.connectors.base import ActionContext
from huiliu.connectors.tryton import (
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    PartyMatch,
)
from huiliu.errors import ConfigError, MappingError, VendorRejected


def uid() -> str:
    return uuid.uuid4().hex[:8].upper()


def requisition(tag: str, *, lines: list[dict[str, Any]] | None = None, **supplier: Any) -> dict[str, Any]:
    return {
        "number": f"PR-{tag}",
        "currency": "CNY",
        "description": f"研发部采购申请 {tag}",
        "supplier": {"name": f"上海汇流办公家具有限公司{tag}", "code": f"SUP-{tag}",
                     "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}, **supplier},
        "lines": lines or [
            {"item": {"code": f"CHAIR-{tag}", "name": f"人体工学椅{tag}", "unit": "把"},
             "quantity": "3", "unit_price": "1299.99", "description": "黑色 带头枕"},
            {"item": {"code": f"PEN-{tag}", "name": f"签字笔{tag}", "unit": "个"},
             "quantity": "7", "unit_price": "0.35", "description": "蓝色 0.5mm"},
        ],
    }


async def run(env: Env, action: str, request: dict[str, Any], *, attempt: int = 1,
              ref: str = "HL-REF") -> Any:
    return await env.registry.get(action)(request, ActionContext(f"key-{ref}", attempt, ref))


async def test_approved_requisition_becomes_a_confirmed_purchase_order(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    started = time.perf_counter()
    result = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag)}, ref=ref)
    read = await run(tryton, PURCHASE_READ, {"id": result["id"]}, ref=ref)
    elapsed = time.perf_counter() - started
    assert result["adopted"] is False
    assert result["number"]  # Tryton numbers the order when it is quoted
    assert result["state"] in {"confirmed", "processing"}
    assert result["untaxed_amount"] == Decimal("3902.42")  # 3 × 1299.99 + 7 × 0.35
    assert (read["number"], read["state"], read["reference"]) == (result["number"], result["state"], ref)
    assert read["description"] == f"研发部采购申请 {tag}"
    assert read["currency"] == "CNY"
    tryton.server.timings["po_flow_s"] = elapsed
    print(f"tryton timings: {tryton.server.timings}")


async def test_chinese_text_round_trips(tryton: Env) -> None:
    tag = uid()
    result = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag)}, ref=f"HL-{uid()}")
    read = await run(tryton, PURCHASE_READ, {"id": result["id"]})
    [party] = await tryton.client.read("party.party", [read["party"]], ["name"])
    assert party["name"] == f"上海汇流办公家具有限公司{tag}"
    assert [line["description"] for line in read["lines"]] == ["黑色 带头枕", "蓝色 0.5mm"]
    products = await tryton.client.read("product.product", [line["product"] for line in read["lines"]],
                                        ["name", "code"])
    assert [(p["code"], p["name"]) for p in products] == [(f"CHAIR-{tag}", f"人体工学椅{tag}"),
                                                          (f"PEN-{tag}", f"签字笔{tag}")]
    [address] = await tryton.client.search_read("party.address", [["party", "=", read["party"]]],
                                                ["street", "city"])
    assert (address["street"], address["city"]) == ("淮海中路 1 号", "上海")


async def test_second_requisition_reuses_the_supplier_and_the_item(tryton: Env) -> None:
    tag = uid()
    one_line = [{"item": {"code": f"DESK-{tag}", "name": f"升降桌{tag}", "unit": "台"},
                 "quantity": "2", "unit_price": "2450.00"}]
    first = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag, lines=one_line)},
                      ref=f"HL-{uid()}")
    second = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag, lines=one_line)},
                       ref=f"HL-{uid()}")
    assert first["id"] != second["id"]
    assert first["number"] != second["number"]
    assert first["party"] == second["party"]
    assert await tryton.client.search("party.party", [["code", "=", f"SUP-{tag}"]]) == [first["party"]]
    assert len(await tryton.client.search("product.product", [["code", "=", f"DESK-{tag}"]])) == 1
    orders = await tryton.client.search("purchase.purchase", [["party", "=", first["party"]]])
    assert sorted(orders) == sorted([first["id"], second["id"]])


async def test_ensure_actions_create_once_then_match(tryton: Env) -> None:
    tag = uid()
    supplier = {"name": f"北京某某科技有限公司{tag}", "tax_id": f"9111{tag}MA01"}
    created = await run(tryton, PARTY_ENSURE, {"supplier": supplier})
    renamed = await run(tryton, PARTY_ENSURE, {"supplier": {**supplier, "name": f"北京某某科技{tag}（更名）"}})
    by_name = await run(tryton.make(party_match=[PartyMatch.NAME]), PARTY_ENSURE, {"supplier": supplier})
    assert created["created"] is True
    assert (renamed["created"], renamed["id"], renamed["matched_by"]) == (False, created["id"], "tax_identifier")
    assert (by_name["created"], by_name["id"], by_name["matched_by"]) == (False, created["id"], "name")
    assert created["address"] > 0

    item = {"code": f"LAMP-{tag}", "name": f"台灯{tag}", "unit": "个"}
    made = await run(tryton, PRODUCT_ENSURE, {"item": item})
    again = await run(tryton, PRODUCT_ENSURE, {"item": item}, attempt=2)
    assert made["created"] is True
    assert (again["created"], again["id"], again["code"], again["name"]) == (False, made["id"], f"LAMP-{tag}",
                                                                            f"台灯{tag}")


async def test_retry_after_a_lost_reply_adopts_the_existing_order(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    request = {"requisition": requisition(tag)}
    first = await run(tryton, PURCHASE_CREATE, request, ref=ref)  # its reply "was lost": the hub retries
    retry = await run(tryton, PURCHASE_CREATE, request, attempt=2, ref=ref)
    assert retry["adopted"] is True
    assert (retry["id"], retry["number"], retry["state"]) == (first["id"], first["number"], first["state"])
    assert await tryton.client.search("purchase.purchase", [["reference", "=", ref]]) == [first["id"]]


async def test_retry_finishes_an_order_the_first_attempt_left_in_draft(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    request = {"requisition": requisition(tag)}
    stopped = await run(tryton.make(confirm_purchases=False), PURCHASE_CREATE, request, ref=ref)
    assert stopped["state"] == "draft"
    retry = await run(tryton, PURCHASE_CREATE, request, attempt=2, ref=ref)
    assert (retry["adopted"], retry["id"]) == (True, stopped["id"])
    assert retry["state"] in {"confirmed", "processing"}
    assert retry["number"]
    assert len(await tryton.client.search("purchase.purchase", [["reference", "=", ref]])) == 1


async def test_the_order_invoice_is_read_back_to_the_cent(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    created = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag)}, ref=ref)
    read = await run(tryton, PURCHASE_READ, {"reference": ref})
    assert read["id"] == created["id"]
    assert read["invoice_state"] == "pending"
    [invoice] = read["invoices"]  # invoice method "order": drafted at confirmation
    assert (invoice["type"], invoice["state"], invoice["currency"]) == ("in", "draft", "CNY")
    for amount in (invoice["untaxed_amount"], invoice["total_amount"], read["total_amount"]):
        assert isinstance(amount, Decimal)
        assert amount == Decimal("3902.42")
    assert invoice["tax_amount"] == Decimal("0.00")
    assert [(line["quantity"], line["unit_price"], line["amount"]) for line in read["lines"]] == [
        (Decimal("3"), Decimal("1299.9900"), Decimal("3899.97")), (Decimal("7"), Decimal("0.3500"), Decimal("2.45"))]


async def test_bad_login_is_rejected_with_a_chinese_message(tryton: Env) -> None:
    # A throw-away login: failures are counted per login and slow further attempts down (contract §8.8).
    bad = tryton.make(username=f"nobody-{uid()}", password="wrong")
    with pytest.raises(VendorRejected) as info:
        await bad.client.login()
    assert "Tryton 登录失败" in str(info.value)
    assert info.value.vendor_code == "401"
    assert info.value.retryable is False
    assert bad.client.logins == 0


async def test_a_user_error_keeps_trytons_own_message(tryton: Env) -> None:
    party = await run(tryton, PARTY_ENSURE, {"supplier": {"name": f"空单供应商{uid()}"}})
    [empty] = await tryton.client.create("purchase.purchase", [{"party": party["id"],
                                                                "invoice_address": party["address"]}])
    with pytest.raises(VendorRejected) as info:
        await tryton.client.button("purchase.purchase", "confirm", [empty])
    assert info.value.vendor_code == "UserError"
    assert info.value.vendor_message is not None
    assert 'You can not call "confirm"' in info.value.vendor_message
    assert "Tryton 拒绝了 model.purchase.purchase.confirm" in str(info.value)

    with pytest.raises(VendorRejected) as missing:  # a required field (party) left out
        await tryton.client.create("purchase.purchase", [{"invoice_address": party["address"]}])
    assert missing.value.vendor_message is not None
    assert "Invoice Address" in missing.value.vendor_message
    assert len(missing.value.vendor_message) < 600  # the domain's kilobytes of field definitions are dropped


async def test_a_requisition_without_lines_never_reaches_tryton(tryton: Env) -> None:
    broken = requisition(uid())
    broken["lines"] = []
    with pytest.raises(MappingError) as info:
        await run(tryton, PURCHASE_CREATE, {"requisition": broken})
    assert info.value.where == "requisition.lines"
    assert tryton.client.logins == 0


async def test_an_expired_session_is_renewed_once(tryton: Env) -> None:
    login = await tryton.http.post(f"{tryton.settings.rpc_url}", json={
        "id": 1, "method": "common.db.login",
        "params": [tryton.settings.username, {"password": tryton.server.password}, "en"]})
    user_id, token, _ = (await login.json())["result"]
    env = tryton.make(session=f"{user_id}:{token}")
    assert await env.client.search("currency.currency", [["code", "=", "CNY"]]) == [tryton.server.info["currency"]]
    assert env.client.logins == 0  # the configured session was used as it was
    auth = base64.b64encode(f"{tryton.settings.username}:{user_id}:{token}".encode()).decode()
    logout = await tryton.http.post(tryton.settings.rpc_url, headers={"Authorization": f"Session {auth}"},
                                    json={"id": 2, "method": "common.db.logout", "params": []})
    assert logout.status == 200
    assert await env.client.search("currency.currency", [["code", "=", "CNY"]]) == [tryton.server.info["currency"]]
    assert env.client.logins == 1


async def test_an_expired_session_without_password_reaches_the_caller(tryton: Env) -> None:
    env = tryton.make(session="1:not-a-real-token", password=None)
    with pytest.raises(ConfigError) as info:  # the 401 cannot be healed without a password
        await env.client.search("currency.currency", [])
    assert "未配置密码" in str(info.value)
    assert env.client.logins == 0


async def test_a_purchase_order_of_fifty_lines_to_the_cent(tryton: Env) -> None:
    tag, ref = uid(), f"HL-{uid()}"
    lines = [{"item": {"code": f"L{n:02d}-{tag}", "name": f"办公用品第{n}号{tag}", "unit": "个"},
              "quantity": str(n), "unit_price": f"{n}.{n % 100:02d}", "description": f"第 {n} 行"}
             for n in range(1, 51)]
    result = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag, lines=lines)}, ref=ref)
    expected = sum((Decimal(n) * Decimal(f"{n}.{n % 100:02d}") for n in range(1, 51)), Decimal(0))
    assert result["untaxed_amount"] == expected.quantize(Decimal("0.01"))
    read = await run(tryton, PURCHASE_READ, {"id": result["id"]}, ref=ref)
    assert len(read["lines"]) == 50 and read["state"] in {"confirmed", "processing"}
    assert [line["quantity"] for line in read["lines"]] == [Decimal(n) for n in range(1, 51)]


async def test_reverse_cancels_a_quotation_and_refuses_a_confirmed_order_naming_its_invoice(tryton: Env) -> None:
    quoting = tryton.make(confirm_purchases=False)  # the order stops before confirmation
    tag, ref = uid(), f"HL-{uid()}"
    made = await run(quoting, PURCHASE_CREATE, {"requisition": requisition(tag)}, ref=ref)
    assert made["state"] in {"draft", "quotation"}
    reversed_ = await run(quoting, PURCHASE_REVERSE, {"reference": ref}, ref=ref)
    assert reversed_["state"] == "cancelled" and reversed_["already_cancelled"] is False
    again = await run(quoting, PURCHASE_REVERSE, {"reference": ref}, ref=ref)  # a retry changes nothing
    assert again["already_cancelled"] is True
    tag, ref = uid(), f"HL-{uid()}"
    confirmed = await run(tryton, PURCHASE_CREATE, {"requisition": requisition(tag)}, ref=ref)
    with pytest.raises(VendorRejected) as refused:
        await run(tryton, PURCHASE_REVERSE, {"id": confirmed["id"]}, ref=ref)
    assert confirmed["number"] in refused.value.render() and "供应商发票" in refused.value.render()
    read = await run(tryton, PURCHASE_READ, {"id": confirmed["id"]}, ref=ref)
    assert read["state"] in {"confirmed", "processing"}  # nothing was half-undone
