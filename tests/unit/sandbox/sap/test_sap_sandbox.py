"""The SAP sandbox over real HTTP: auth, CSRF fetch and refusal, envelopes, document rules, faults."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.sap import CSRF_FAILED, SESSION_COOKIE, SapSandbox
from huiliu.testing import FakeClock

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"U:P").decode()}


@dataclass
class Env:
    sandbox: SapSandbox
    url: str
    http: aiohttp.ClientSession
    token: str = ""
    cookie: str = ""

    async def fetch(self) -> None:
        async with self.http.get(f"{self.url}{SERVICE}/", headers={**AUTH, "x-csrf-token": "Fetch"}) as resp:
            assert resp.status == 200
            self.token = resp.headers["x-csrf-token"]
            self.cookie = resp.cookies[SESSION_COOKIE].value

    async def post(self, entity: str, body: Any, token: str | None = None) -> tuple[int, Any, Any]:
        headers = {**AUTH, "x-csrf-token": self.token if token is None else token,
                   "Cookie": f"{SESSION_COOKIE}={self.cookie}"}
        async with self.http.post(f"{self.url}{SERVICE}/{entity}", json=body, headers=headers) as resp:
            text = await resp.text()
            return resp.status, resp.headers, text


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sandbox = SapSandbox(username="U", password="P", clock=FakeClock())
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield Env(sandbox, server.url, http)


async def test_requests_without_credentials_get_401(env: Env) -> None:
    async with env.http.get(f"{env.url}{SERVICE}/A_PurchaseOrder") as resp:
        assert resp.status == 401


async def test_write_without_valid_token_gets_403_required(env: Env) -> None:
    status, headers, text = await env.post("A_BusinessPartner", {"BusinessPartnerCategory": "2"}, token="")
    assert (status, headers["x-csrf-token"], text) == (403, "Required", CSRF_FAILED)
    await env.fetch()
    status, _, _ = await env.post("A_BusinessPartner", {"BusinessPartnerCategory": "2",
                                                         "OrganizationBPName1": "供应商甲"})
    assert status == 201
    env.sandbox.expire_csrf()
    status, headers, _ = await env.post("A_BusinessPartner", {"BusinessPartnerCategory": "2",
                                                               "OrganizationBPName1": "供应商乙"})
    assert (status, headers["x-csrf-token"]) == (403, "Required")
    assert len(env.sandbox.partners) == 1


async def test_order_rules_and_v2_error_body(env: Env) -> None:
    await env.fetch()
    status, _, text = await env.post("A_PurchaseOrder", {"CompanyCode": "1010", "Supplier": "404",
                                                         "to_PurchaseOrderItem": {"results": [{}]}})
    assert status == 400
    assert '"value": "供应商 404 不存在"' in text
    assert "errordetails" in text
    assert env.sandbox.orders == {}


async def test_journal_entry_must_balance(env: Env) -> None:
    await env.fetch()
    items = [{"GLAccount": "6602.03", "AmountInTransactionCurrency": "10.00", "DebitCreditCode": "S"},
             {"GLAccount": "2241.01", "AmountInTransactionCurrency": "-9.99", "DebitCreditCode": "H"}]
    body = {"CompanyCode": "1010", "PostingDate": "2026-11-25", "to_Item": {"results": items}}
    status, _, text = await env.post("A_JournalEntry", body)
    assert status == 400
    assert "余额不为零" in text
    items[1]["AmountInTransactionCurrency"] = "-10.00"
    status, _, text = await env.post("A_JournalEntry", body)
    assert status == 201
    assert '"AccountingDocument": "100000001"' in text


async def test_faults_on_writes(env: Env) -> None:
    await env.fetch()
    body = {"BusinessPartnerCategory": "2", "OrganizationBPName1": "丙"}
    env.sandbox.faults.script("A_BusinessPartner.create", Fault(FaultKind.RATE_LIMIT, retry_after=4),
                              Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.APPLIED_REPLY_LOST))
    status, headers, _ = await env.post("A_BusinessPartner", body)
    assert (status, headers["Retry-After"]) == (429, "4")
    status, _, _ = await env.post("A_BusinessPartner", body)
    assert status == 503
    with pytest.raises(aiohttp.ClientError):
        await env.post("A_BusinessPartner", body)
    assert len(env.sandbox.partners) == 1


async def test_v4_envelope() -> None:
    sandbox = SapSandbox(username="U", password="P", odata_version="v4", clock=FakeClock())
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}{SERVICE}/A_PurchaseOrder", headers=AUTH) as resp:
            assert await resp.json() == {"value": []}
        async with http.get(f"{server.url}{SERVICE}/A_PurchaseOrder('1')", headers=AUTH) as resp:
            body = await resp.json()
        assert resp.status == 404
        assert isinstance(body["error"]["message"], str)
