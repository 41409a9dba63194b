"""The Yonyou client over real HTTP: the signed token, its cache and refresh, U8 trade ids, every mapped error."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from yonyou_rig import APP_KEY, APP_SECRET, YonyouEnv, requisition

from huiliu.connectors.http import HttpClient
from huiliu.connectors.yonyou import PURCHASE_CREATE, YonyouClient, YonyouSettings, resubmit_key, signature
from huiliu.errors import AuthExpired, NoReply, RateLimited, TransientError, VendorRejected
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.yonyou import YonyouSandbox


def test_signature_matches_the_contract_formula_computed_independently() -> None:
    # Contract §5.1: URLEncode(Base64(HmacSHA256(key=appSecret, "appKey"+appKey+"timestamp"+timestamp))).
    message = b"appKey" + b"41832a3d2df94989b500da6a22268747" + b"timestamp" + b"1568098531823"
    expected = base64.b64encode(hmac.digest(b"a9b8c7", message, "sha256")).decode()
    got = signature({"timestamp": "1568098531823", "appKey": "41832a3d2df94989b500da6a22268747"}, "a9b8c7")
    assert got == expected
    assert signature({"appKey": "k", "timestamp": "1", "signature": "ignored"}, "s") == signature(
        {"appKey": "k", "timestamp": "1"}, "s")


def test_resubmit_key_is_the_reference_or_a_hash_that_fits() -> None:
    assert resubmit_key("HL-PR-0042") == "HL-PR-0042"
    long = "x" * 33
    assert resubmit_key(long) == "h" + hashlib.sha256(long.encode()).hexdigest()[:31]
    assert resubmit_key("采购") != resubmit_key("采购 ")


async def test_token_request_carries_a_url_encoded_signature_the_sandbox_verifies(yonyou: YonyouEnv) -> None:
    seen: list[str] = []

    async def capture(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.json_response({"code": "00000", "data": {"access_token": "t", "expire": 7200}})

    app = web.Application()
    app.router.add_get("/open-auth/selfAppAuth/getAccessToken", capture)
    async with SandboxServer(app) as server:
        env = yonyou.connector(base_url=server.url)
        assert await env.client.token() == "t"
    query = parse_qs(urlsplit(seen[0]).query)  # parse_qs undoes the URL-encoding once
    stamp = query["timestamp"][0]
    assert stamp == str(int(yonyou.clock.now().timestamp() * 1000))
    raw = hmac.new(APP_SECRET.encode(), f"appKey{APP_KEY}timestamp{stamp}".encode(), hashlib.sha256).digest()
    assert query["signature"][0] == base64.b64encode(raw).decode()
    assert "+" not in urlsplit(seen[0]).query.split("signature=")[1] or "%2B" in seen[0]
    await yonyou.client.token()  # and the real sandbox accepts it
    assert yonyou.sandbox.token_calls == 1


async def test_token_is_cached_then_refreshed_before_expiry(yonyou: YonyouEnv) -> None:
    await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert yonyou.client.token_fetches == 1
    yonyou.clock.advance(7200 - 299)  # inside the 300 s refresh margin
    await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert yonyou.client.token_fetches == 2
    assert yonyou.sandbox.token_calls == 2


async def test_concurrent_callers_share_one_refresh(yonyou: YonyouEnv) -> None:
    await asyncio.gather(*(yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1}) for _ in range(8)))
    assert yonyou.sandbox.token_calls == 1


async def test_expired_token_code_refreshes_and_retries_once(yonyou: YonyouEnv) -> None:
    await yonyou.client.token()
    yonyou.sandbox.expire_tokens()
    data = await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert data["recordCount"] == 0
    assert yonyou.client.token_fetches == 2
    yonyou.sandbox.faults.script("vendor.list", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired) as caught:
        await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert caught.value.vendor_code == "401"
    assert yonyou.client.token_fetches == 3  # one refresh, one retry, then the error


async def test_wrong_secret_is_rejected_not_retried(yonyou: YonyouEnv) -> None:
    env = yonyou.connector(app_secret="wrong")
    with pytest.raises(VendorRejected) as caught:
        await env.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert caught.value.vendor_message == "签名校验失败"
    assert "wrong" not in str(caught.value)
    assert yonyou.sandbox.token_calls == 0


async def test_clock_skew_beyond_the_window_is_refused(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.clock = type(yonyou.clock)()
    yonyou.clock.advance(600)
    with pytest.raises(VendorRejected, match="timestamp"):
        await yonyou.client.token()


async def test_rate_limit_honours_retry_after(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.faults.script("vendor.list", Fault(FaultKind.RATE_LIMIT, retry_after=7))
    with pytest.raises(RateLimited) as caught:
        await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert caught.value.retry_after == 7
    assert caught.value.retryable is True


async def test_server_error_and_drop_are_transient(yonyou: YonyouEnv) -> None:
    yonyou.sandbox.faults.script("vendor.list", Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.DROP))
    with pytest.raises(TransientError) as caught:
        await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})
    assert caught.value.vendor_code == "502"
    with pytest.raises(NoReply):
        await yonyou.client.call("vendor.list", {"pageIndex": 1, "pageSize": 1})


async def test_slow_reply_times_out_as_no_reply_but_is_applied(yonyou: YonyouEnv) -> None:
    settings = YonyouSettings.model_validate({"base_url": yonyou.url, "app_key": APP_KEY, "app_secret": APP_SECRET})
    client = YonyouClient(settings, HttpClient("yonyou", yonyou.http, timeout=0.2, clock=yonyou.clock))
    await client.token()
    yonyou.sandbox.faults.script("vendor.save", Fault(FaultKind.SLOW, delay=0.5))
    with pytest.raises(NoReply):
        await client.call("vendor.save", {"data": {"code": "V1", "name": "慢供应商"}})
    await asyncio.sleep(0.5)
    assert len(yonyou.sandbox.ledger.vendors) == 1


async def test_configured_codes_map_to_rate_limit_and_expiry(yonyou: YonyouEnv) -> None:
    async def answer(request: web.Request) -> web.Response:
        if request.path.endswith("getAccessToken"):
            return web.json_response({"code": "00000", "data": {"access_token": "t", "expire": 7200}})
        return web.json_response({"code": 88, "message": "调用频率超限"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with SandboxServer(app) as server:
        env = yonyou.connector(base_url=server.url, rate_limit_codes=["88"])
        with pytest.raises(RateLimited) as caught:
            await env.client.call("vendor.list", {})
        assert caught.value.vendor_message == "调用频率超限"
        env = yonyou.connector(base_url=server.url, expired_token_codes=["88"])
        with pytest.raises(AuthExpired):
            await env.client.call("vendor.list", {})
        assert env.client.token_fetches == 2


async def test_non_json_reply_is_transient(yonyou: YonyouEnv) -> None:
    async def answer(request: web.Request) -> web.Response:
        if request.path.endswith("getAccessToken"):
            return web.json_response({"code": "00000", "data": {"access_token": "t", "expire": 7200}})
        return web.Response(text="<html>网关维护中</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with SandboxServer(app) as server:
        env = yonyou.connector(base_url=server.url)
        with pytest.raises(TransientError, match="JSON"):
            await env.client.call("vendor.list", {})


async def test_u8_flavour_token_tradeid_and_one_order_after_reply_lost() -> None:
    from huiliu.testing import FakeClock

    clock = FakeClock()
    sandbox = YonyouSandbox(app_key="u8key", app_secret="u8secret", from_account="hub", to_account="acme",
                            clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        base = YonyouEnv(sandbox, None, None, None, clock, server.url, http)  # type: ignore[arg-type]
        env = base.connector(flavour="u8", app_key="u8key", app_secret="u8secret", from_account="hub",
                             to_account="acme")
        sandbox.faults.script("purchase.save", Fault(FaultKind.APPLIED_REPLY_LOST))
        with pytest.raises(TransientError):
            await env.run(PURCHASE_CREATE, {"requisition": requisition()})
        # Same process, attempt 1 again: the same tradeid goes out and U8 answers with the first result.
        result = await env.run(PURCHASE_CREATE, {"requisition": requisition()})
        assert len(sandbox.ledger.orders) == 1
        assert result["state"] == "approved"
        assert sandbox.write_calls["purchase.save"] == 1
        assert sandbox.token_calls == 1
