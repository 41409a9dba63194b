"""The ERPNext sandbox on the wire: auth, envelopes, lists, docstatus, error bodies, faults."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox
from huiliu.testing import FakeClock

TOKEN = {"Authorization": "token erp-key:erp-secret"}


@pytest.fixture
async def site() -> AsyncIterator[tuple[ErpnextSandbox, str, aiohttp.ClientSession, FakeClock]]:
    clock = FakeClock()
    sandbox = ErpnextSandbox(clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession(headers=TOKEN) as http:
        yield sandbox, server.url, http, clock


async def call(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kw) as resp:
        return resp.status, await resp.json(content_type=None) if resp.status != 429 else dict(resp.headers)


async def seed(http: aiohttp.ClientSession, url: str) -> str:
    await call(http, "POST", f"{url}/api/resource/Supplier", json={"supplier_name": "甲",
                                                                   "supplier_group": "All Supplier Groups"})
    await call(http, "POST", f"{url}/api/resource/Item", json={"item_code": "M3", "item_name": "螺丝",
                                                               "item_group": "All Item Groups", "stock_uom": "Nos"})
    status, body = await call(http, "POST", f"{url}/api/resource/Purchase Order", json={
        "supplier": "甲", "transaction_date": "2026-11-25", "currency": "CNY", "custom_huiliu_ref": "R1",
        "items": [{"item_code": "M3", "qty": 3, "rate": 0.1, "schedule_date": "2026-12-01"}]})
    assert status == 200
    return str(body["data"]["name"])


async def test_auth_token_basic_and_refusal(site: Any) -> None:
    _, url, http, _ = site
    basic = {"Authorization": "Basic " + base64.b64encode(b"erp-key:erp-secret").decode()}
    assert (await call(http, "GET", f"{url}/api/resource/UOM", headers=basic))[0] == 200
    status, body = await call(http, "GET", f"{url}/api/resource/UOM", headers={"Authorization": "token erp-key:x"})
    assert (status, body["exc_type"]) == (401, "AuthenticationError")


async def test_insert_names_by_series_and_computes_totals(site: Any) -> None:
    sandbox, url, http, _ = site
    name = await seed(http, url)
    status, body = await call(http, "GET", f"{url}/api/resource/Purchase Order/{name}")
    doc = body["data"]
    assert (status, name, doc["docstatus"], doc["status"]) == (200, "PUR-ORD-2026-00001", 0, "Draft")
    assert (doc["grand_total"], doc["items"][0]["amount"], doc["items"][0]["uom"]) == (0.3, 0.3, "Nos")
    assert doc["modified"] == "2026-11-25 17:00:00.000000"  # site time, Asia/Shanghai
    status, body = await call(http, "PUT", f"{url}/api/resource/Purchase Order/{name}", json={"docstatus": 1})
    assert (status, body["data"]["status"]) == (200, "To Receive and Bill")
    status, body = await call(http, "PUT", f"{url}/api/resource/Purchase Order/{name}",
                              json={"supplier": "乙"})
    assert (status, body["exc_type"]) == (417, "UpdateAfterSubmitError")
    status, body = await call(http, "POST", f"{url}/api/method/frappe.client.cancel",
                              json={"doctype": "Purchase Order", "name": name})
    assert (status, body["message"]["docstatus"], sandbox.orders()[0]["status"]) == (200, 2, "Cancelled")


async def test_error_bodies_carry_frappes_keys(site: Any) -> None:
    _, url, http, _ = site
    status, body = await call(http, "POST", f"{url}/api/resource/Purchase Order", json={"currency": "CNY"})
    assert status == 417
    assert body["exc_type"] == "MandatoryError"
    assert body["exception"].startswith("frappe.exceptions.MandatoryError: [Purchase Order,")
    [message] = json.loads(body["_server_messages"])
    assert json.loads(message)["message"] == "Error: Value missing for Purchase Order: Supplier"


async def test_list_filters_order_and_pages(site: Any) -> None:
    _, url, http, clock = site
    for name in ("丙", "乙", "甲"):
        clock.advance(1)
        await call(http, "POST", f"{url}/api/resource/Supplier", json={"supplier_name": name,
                                                                       "supplier_group": "All Supplier Groups"})
    params = {"fields": json.dumps(["name"]), "filters": json.dumps([["supplier_name", "!=", "丙"]]),
              "order_by": "modified asc", "limit_start": "1", "limit_page_length": "5"}
    status, body = await call(http, "GET", f"{url}/api/resource/Supplier", params=params)
    assert (status, body["data"]) == (200, [{"name": "甲"}])


async def test_cancel_of_a_received_order_is_refused(site: Any) -> None:
    sandbox, url, http, _ = site
    name = await seed(http, url)
    await call(http, "PUT", f"{url}/api/resource/Purchase Order/{name}", json={"docstatus": 1})
    receipt = sandbox.receive(name)
    status, body = await call(http, "POST", f"{url}/api/method/frappe.client.cancel",
                              json={"doctype": "Purchase Order", "name": name})
    assert (status, body["exc_type"]) == (417, "LinkExistsError")
    assert receipt in body["_server_messages"]


async def test_faults_rate_limit_and_apply_then_drop(site: Any) -> None:
    sandbox, url, http, _ = site
    spec = {"script": {"UOM.list": [{"kind": "rate_limit", "retry_after": 4}]}}
    async with http.post(f"{url}/_sandbox/faults", json=spec) as resp:
        assert resp.status == 200
    status, headers = await call(http, "GET", f"{url}/api/resource/UOM")
    assert (status, headers["Retry-After"], headers["X-RateLimit-Remaining"]) == (429, "4", "0")
    sandbox.faults.script("Supplier.insert", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(aiohttp.ClientError):
        await call(http, "POST", f"{url}/api/resource/Supplier", json={"supplier_name": "甲",
                                                                       "supplier_group": "All Supplier Groups"})
    assert list(sandbox.docs("Supplier")) == ["甲"]
