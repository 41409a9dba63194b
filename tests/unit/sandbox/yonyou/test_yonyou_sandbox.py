"""The Yonyou sandbox over real HTTP: signed token, token expiry, envelopes, order states, voucher rules, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.yonyou import YonyouSandbox
from huiliu.testing import FakeClock

KEY, SECRET = "app-key-1", "app-secret-1"


def sign(stamp: str, secret: str = SECRET) -> str:
    text = f"appKey{KEY}timestamp{stamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()


@dataclass
class Env:
    sandbox: YonyouSandbox
    clock: FakeClock
    url: str
    http: aiohttp.ClientSession
    token: str = ""

    def stamp(self) -> str:
        return str(int(self.clock.now().timestamp() * 1000))

    async def get_token(self, signature: str | None = None) -> Any:
        stamp = self.stamp()
        params = {"appKey": KEY, "timestamp": stamp, "signature": signature or sign(stamp)}
        async with self.http.get(f"{self.url}/open-auth/selfAppAuth/getAccessToken", params=params) as resp:
            body = await resp.json()
        if body["code"] == "00000":
            self.token = body["data"]["access_token"]
        return body

    async def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        params = {"access_token": self.token if token is None else token}
        async with self.http.post(f"{self.url}/yonbip{path}", json=body, params=params) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sandbox = YonyouSandbox(app_key=KEY, app_secret=SECRET, clock=clock, token_ttl=7200)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        e = Env(sandbox, clock, server.url, http)
        await e.get_token()
        yield e


def order(vendor: str = "V1", product: str = "P1", money: str = "20.00", key: str | None = "k-1") -> dict[str, Any]:
    data: dict[str, Any] = {
        "bustype_code": "A20001", "currency_code": "CNY", "org_code": "ORG01", "vendor_code": vendor,
        "vouchdate": "2026-11-25", "_status": "Insert", "memo": "REF-1",
        "purchaseOrders": [{"product_cCode": product, "qty": "2", "oriUnitPrice": "10.00", "oriMoney": money,
                            "oriTax": "2.60", "oriSum": "22.60", "inOrg_code": "ORG01",
                            "inInvoiceOrg_code": "ORG01"}]}
    if key:
        data["resubmitCheckKey"] = key
    return {"data": data}


async def seed(env: Env) -> None:
    await env.post("/digitalModel/vendor/save", {"data": {"code": "V1", "name": "供应商一"}})
    await env.post("/digitalModel/product/save", {"data": {"code": "P1", "name": "物料一", "unit_code": "PCS"}})


async def test_token_signature_is_checked_with_the_contract_formula(env: Env) -> None:
    assert env.token
    bad = await env.get_token(signature=sign(env.stamp(), secret="other"))
    assert (bad["code"], bad["message"]) == ("999", "签名校验失败")
    env.clock.advance(3600)
    again = await env.get_token()
    assert again["data"]["expire"] == 7200
    assert env.sandbox.token_calls == 2


async def test_expired_and_unknown_tokens_are_refused(env: Env) -> None:
    status, body = await env.post("/digitalModel/vendor/list", {"pageIndex": 1, "pageSize": 5}, token="nope")
    assert (status, body["code"], body["message"]) == (200, "401", "非法token")
    env.clock.advance(7200)
    _, body = await env.post("/digitalModel/vendor/list", {"pageIndex": 1, "pageSize": 5})
    assert body["code"] == "401"


async def test_order_moves_through_states_and_refuses_wrong_moves(env: Env) -> None:
    await seed(env)
    _, saved = await env.post("/scm/purchaseorder/singleSave_v1", order())
    assert saved["code"] == "200"
    order_id = saved["data"]["id"]
    assert saved["data"]["code"] == "CGDD202611250001"
    _, audit_first = await env.post("/scm/purchaseorder/batchaudit", {"data": [{"id": order_id}]})
    assert "不是审核中" in audit_first["message"]
    for path in ("batchsubmit", "batchaudit"):
        _, body = await env.post(f"/scm/purchaseorder/{path}", {"data": [{"id": order_id}]})
        assert body["code"] == "200"
    assert env.sandbox.ledger.orders[order_id]["status"] == "1"
    _, refused = await env.post("/scm/purchaseorder/batchdelete", {"data": [{"id": order_id}]})
    assert "不能删除" in refused["message"]
    env.sandbox.receive(order_id)
    _, refused = await env.post("/scm/purchaseorder/batchunaudit", {"data": [{"id": order_id}]})
    assert "下游单据" in refused["message"]


async def test_order_validation_names_the_problem(env: Env) -> None:
    await seed(env)
    _, body = await env.post("/scm/purchaseorder/singleSave_v1", order(vendor="NOPE"))
    assert "供应商[NOPE]不存在" in body["message"]
    _, body = await env.post("/scm/purchaseorder/singleSave_v1", order(money="19.99"))
    assert "金额" in body["message"]
    _, body = await env.post("/scm/purchaseorder/singleSave_v1", order(product="X"))
    assert "物料[X]不存在" in body["message"]
    assert env.sandbox.ledger.orders == {}


async def test_resubmit_check_key_refuses_a_repeat(env: Env) -> None:
    await seed(env)
    await env.post("/scm/purchaseorder/singleSave_v1", order())
    _, body = await env.post("/scm/purchaseorder/singleSave_v1", order())
    assert "重复提交" in body["message"]
    _, body = await env.post("/scm/purchaseorder/singleSave_v1", order(key="x" * 33))
    assert "32" in body["message"]
    assert len(env.sandbox.ledger.orders) == 1


def voucher(credit: str = "100.00", make: str = "2026-11-25") -> dict[str, Any]:
    return {"accbookCode": "001", "voucherTypeCode": "1", "makeTime": make, "bodies": [
        {"description": "差旅费", "accsubjectCode": "6602.03", "debitOrg": "100.00", "debitOriginal": "100.00"},
        {"description": "应付", "accsubjectCode": "2241.01", "creditOrg": credit, "creditOriginal": credit}]}


async def test_voucher_rules(env: Env) -> None:
    _, body = await env.post("/fi/ficloud/openapi/voucher/addVoucher", voucher(credit="99.99"))
    assert "借贷不平衡" in body["message"]
    env.sandbox.close_period("2026-10")
    _, body = await env.post("/fi/ficloud/openapi/voucher/addVoucher", voucher(make="2026-10-08"))
    assert (body["code"], "已结账" in body["message"]) == ("310074", True)
    _, body = await env.post("/fi/ficloud/openapi/voucher/addVoucher", voucher())
    assert body["data"]["billCode"] == "记-0001"
    _, listed = await env.post("/fi/ficloud/openapi/voucher/queryVouchers", {
        "accbookCode": "001", "periodStart": "2026-11", "periodEnd": "2026-11", "pager": {"pageIndex": 1,
                                                                                           "pageSize": 10}})
    assert listed["data"]["recordCount"] == 1
    assert listed["data"]["recordList"][0]["bodies"][0]["description"] == "差旅费"


async def test_faults_rate_limit_server_error_and_apply_then_drop(env: Env) -> None:
    await seed(env)
    env.sandbox.faults.script("purchase.save", Fault(FaultKind.RATE_LIMIT, retry_after=3),
                              Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.APPLIED_REPLY_LOST))
    async with env.http.post(f"{env.url}/yonbip/scm/purchaseorder/singleSave_v1", json=order(),
                             params={"access_token": env.token}) as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "3")
    async with env.http.post(f"{env.url}/yonbip/scm/purchaseorder/singleSave_v1", json=order(),
                             params={"access_token": env.token}) as resp:
        assert resp.status == 502
    assert env.sandbox.ledger.orders == {}
    with pytest.raises(aiohttp.ClientError):
        await env.post("/scm/purchaseorder/singleSave_v1", order())
    assert len(env.sandbox.ledger.orders) == 1  # applied, reply lost


async def test_u8_token_tradeid_and_once_only_add(env: Env) -> None:
    base = {"from_account": "hub", "app_key": KEY}
    async with env.http.get(f"{env.url}/system/token", params={**base, "app_secret": SECRET}) as resp:
        token = (await resp.json())["token"]["id"]
    async with env.http.get(f"{env.url}/system/tradeid", params={**base, "token": token}) as resp:
        trade = (await resp.json())["trade"]["id"]
    params = {**base, "to_account": "acme", "token": token, "tradeid": trade}
    body = {"data": {"code": "V9", "name": "供应商九"}}
    answers = []
    for _ in range(2):
        async with env.http.post(f"{env.url}/api/vendor/add", json=body, params=params) as resp:
            answers.append(await resp.json())
    assert answers[0] == answers[1]
    assert answers[0]["errcode"] == "0"
    assert len(env.sandbox.ledger.vendors) == 1
    async with env.http.post(f"{env.url}/api/vendor/add", json=body, params={**params, "tradeid": "x"}) as resp:
        assert (await resp.json())["errcode"] == "30001"
