"""The Odoo sandbox on the wire: envelopes, auth, read formats, domains, the purchase workflow, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.odoo import ACCESS_DENIED, INVALID_APIKEY, OdooSandbox
from huiliu.testing import FakeClock


class Wire:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def rpc(self, service: str, method: str, *args: Any) -> tuple[int, dict[str, Any]]:
        body = {"jsonrpc": "2.0", "method": "call", "id": 7,
                "params": {"service": service, "method": method, "args": list(args)}}
        async with self.http.post(f"{self.url}/jsonrpc", json=body) as resp:
            return resp.status, await resp.json()

    async def kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None,
                 key: str = "odoo-key") -> dict[str, Any]:
        _, body = await self.rpc("object", "execute_kw", "hub", 2, key, model, method, args, kwargs or {})
        return body

    async def json2(self, model: str, method: str, body: dict[str, Any], key: str = "odoo-key",
                    database: str = "hub") -> tuple[int, Any]:
        headers = {"Authorization": f"bearer {key}", "X-Odoo-Database": database}
        async with self.http.post(f"{self.url}/json/2/{model}/{method}", json=body, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None) if resp.status != 429 else None


@pytest.fixture
async def wire() -> AsyncIterator[tuple[OdooSandbox, Wire]]:
    sandbox = OdooSandbox()
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield sandbox, Wire(http, server.url)


async def test_authenticate_returns_the_uid_or_false(wire: tuple[OdooSandbox, Wire]) -> None:
    _, w = wire
    status, ok = await w.rpc("common", "authenticate", "hub", "api", "odoo-key", {})
    _, bad = await w.rpc("common", "authenticate", "hub", "api", "nope", {})
    _, version = await w.rpc("common", "version")
    assert (status, ok) == (200, {"jsonrpc": "2.0", "id": 7, "result": 2})
    assert bad["result"] is False
    assert version["result"]["protocol_version"] == 1


async def test_jsonrpc_errors_use_odoos_envelope_with_http_200(wire: tuple[OdooSandbox, Wire]) -> None:
    _, w = wire
    denied = await w.kw("res.partner", "search", [[]], key="nope")
    assert denied["error"]["code"] == 200
    assert denied["error"]["message"] == "Odoo Server Error"
    assert denied["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert denied["error"]["data"]["message"] == ACCESS_DENIED
    missing = await w.kw("purchase.order", "create", [[{"order_line": []}]])
    assert missing["error"]["data"]["name"] == "odoo.exceptions.ValidationError"
    assert "a mandatory field is not set" in missing["error"]["data"]["message"]


async def test_json2_bad_key_is_401_invalid_apikey(wire: tuple[OdooSandbox, Wire]) -> None:
    _, w = wire
    status, body = await w.json2("res.partner", "search_read", {"domain": []}, key="nope")
    assert status == 401
    assert body["name"] == "werkzeug.exceptions.Unauthorized"
    assert body["message"] == INVALID_APIKEY
    status, body = await w.json2("res.partner", "search", {"domain": [], "colour": 1})
    assert status == 422
    assert "unexpected keyword argument 'colour'" in body["message"]


async def test_read_formats_match_odoo(wire: tuple[OdooSandbox, Wire]) -> None:
    _, w = wire
    partner = (await w.kw("res.partner", "create", [[{"name": "供应商甲", "ref": "S1"}]]))["result"]
    product = (await w.kw("product.product", "create", [{"name": "螺丝", "default_code": "M3"}]))["result"]
    assert partner == [2]
    assert product == 1  # a single dictionary gives a single id
    order = (await w.kw("purchase.order", "create", [[{"partner_id": 2, "origin": "OA-1", "order_line": [
        [0, 0, {"product_id": 1, "product_qty": 3, "price_unit": 0.1}]]}]]))["result"][0]
    [row] = (await w.kw("purchase.order", "read", [[order]], {"fields": [
        "name", "partner_id", "currency_id", "amount_total", "order_line", "partner_ref", "state"]}))["result"]
    assert row == {"id": order, "name": "P00001", "partner_id": [2, "供应商甲"], "currency_id": [1, "CNY"],
                   "amount_total": 0.3, "order_line": [1], "partner_ref": False, "state": "draft"}
    status, [line] = await w.json2("purchase.order.line", "read", {"ids": [1], "fields": ["product_id",
                                                                                          "price_subtotal"]})
    assert (status, line["product_id"], line["price_subtotal"]) == (200, [1, "[M3] 螺丝"], 0.3)


async def test_domains_and_order(wire: tuple[OdooSandbox, Wire]) -> None:
    _, w = wire
    for name, ref in (("甲", "A"), ("乙", "B"), ("丙", False)):
        await w.kw("res.partner", "create", [[{"name": name, "ref": ref}]])
    either = await w.kw("res.partner", "search", [["|", ["ref", "=", "A"], ["ref", "=", "B"]]], {"order": "id desc"})
    assert either["result"] == [3, 2]
    no_ref = await w.kw("res.partner", "search_read", [[["ref", "=", False], ["id", ">", 1]]], {"fields": ["name"]})
    assert no_ref["result"] == [{"id": 4, "name": "丙"}]
    status, count = await w.json2("res.partner", "search_count", {"domain": ["!", ["name", "ilike", "甲"]]})
    assert (status, count) == (200, 3)


async def test_purchase_workflow_and_cancel_refusals(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    await w.kw("res.partner", "create", [[{"name": "甲"}]])
    await w.kw("product.product", "create", [[{"name": "螺丝"}]])
    line = {"product_id": 1, "product_qty": 2, "price_unit": 5}
    first = (await w.kw("purchase.order", "create", [[{"partner_id": 2, "order_line": [[0, 0, line]]}]]))["result"][0]
    assert (await w.kw("purchase.order", "button_confirm", [[first]]))["result"] is True
    assert sandbox.orders()[0]["state"] == "purchase"
    sandbox.book.receive(first)
    refused = await w.kw("purchase.order", "button_cancel", [[first]])
    assert refused["error"]["data"]["name"] == "odoo.exceptions.UserError"
    assert "receptions have already been done" in refused["error"]["data"]["message"]
    second = (await w.kw("purchase.order", "create", [[{"partner_id": 2, "order_line": [[0, 0, line]]}]]))["result"][0]
    status, result = await w.json2("purchase.order", "button_cancel", {"ids": [second]})
    assert (status, result, sandbox.records("purchase.order")[second]["state"]) == (200, True, "cancel")
    status, body = await w.json2("purchase.order", "write", {"ids": [second], "vals": {"state": "purchase"}})
    assert status == 422
    assert body["name"] == "odoo.exceptions.UserError"


async def test_write_date_moves_on_write() -> None:
    clock = FakeClock()
    sandbox = OdooSandbox(clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        w = Wire(http, server.url)
        await w.kw("res.partner", "create", [[{"name": "甲"}]])
        clock.advance(3600)
        await w.kw("res.partner", "write", [[2], {"city": "上海"}])
        [row] = (await w.kw("res.partner", "read", [[2]], {"fields": ["create_date", "write_date"]}))["result"]
    assert (row["create_date"], row["write_date"]) == ("2026-11-25 09:00:00", "2026-11-25 10:00:00")


async def test_applied_reply_lost_applies_then_drops(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    sandbox.faults.script("res.partner.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(aiohttp.ClientError):
        await w.kw("res.partner", "create", [[{"name": "甲"}]])
    assert [p["name"] for p in sandbox.records("res.partner").values()] == ["My Company", "甲"]
    sandbox.faults.script("res.partner.create", Fault(FaultKind.DROP))
    with pytest.raises(aiohttp.ClientError):
        await w.kw("res.partner", "create", [[{"name": "乙"}]])
    assert len(sandbox.records("res.partner")) == 2
    assert sandbox.state()["faults_injected"] == {"res.partner.create:applied_reply_lost": 1,
                                                  "res.partner.create:drop": 1}


async def test_faults_can_be_set_over_http(wire: tuple[OdooSandbox, Wire]) -> None:
    _, w = wire
    spec = {"script": {"uom.uom.search": [{"kind": "rate_limit", "retry_after": 3}]}}
    async with w.http.post(f"{w.url}/_sandbox/faults", json=spec) as resp:
        assert resp.status == 200
    status, _ = await w.json2("uom.uom", "search", {"domain": []})
    assert status == 429
    status, ids = await w.json2("uom.uom", "search", {"domain": [["name", "=", "kg"]]})
    assert (status, ids) == (200, [3])
