"""WeComClient against the WeCom sandbox over real HTTP on 127.0.0.1: token, errors, windows, pages."""

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.http import HttpClient
from huiliu.connectors.wecom import WeComClient, WeComSettings, split_windows
from huiliu.errors import AuthExpired, ConfigError, RateLimited, TransientError, VendorRejected
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.wecom import EXPENSE_TEMPLATE_ID, WeComSandbox
from huiliu.testing import FakeClock

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP = {"corp_id": "wx49f0ab532d5d035a", "corp_secret": "corp-s3cret", "callback_token": "123456",
        "encoding_aes_key": AES}
SANDBOX: dict[str, Any] = {"corp_id": CORP["corp_id"], "corp_secret": CORP["corp_secret"], "callback_token": "123456",
           "encoding_aes_key": AES}


@dataclass
class Env:
    sandbox: WeComSandbox
    client: WeComClient
    clock: FakeClock
    faults: FaultPlan
    url: str
    session: aiohttp.ClientSession

    def client_with(self, **over: Any) -> WeComClient:
        settings = WeComSettings.model_validate({"base_url": self.url, **CORP, **over})
        return WeComClient(settings, HttpClient("wecom", self.session, timeout=2.0), self.clock)


def text(value: str) -> dict[str, Any]:
    return {"control": "Textarea", "id": "Textarea-1569573760001", "value": {"text": value}}


@pytest.fixture(params=["next_cursor", "new_cursor"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    clock, faults = FakeClock(), FaultPlan()
    sandbox = WeComSandbox(**SANDBOX, company=make_company(), clock=clock, faults=faults, cursor_style=request.param)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        settings = WeComSettings.model_validate({"base_url": srv.url, **CORP, "cursor_style": request.param})
        client = WeComClient(settings, HttpClient("wecom", session, timeout=2.0), clock)
        yield Env(sandbox, client, clock, faults, srv.url, session)


async def test_token_is_cached_until_the_refresh_margin(env: Env) -> None:
    first = await env.client.access_token()
    assert await env.client.access_token() == first
    env.clock.advance(7200 - 300 - 1)
    assert await env.client.access_token() == first
    assert env.sandbox.calls["gettoken"] == 1
    env.clock.advance(2)
    assert await env.client.access_token() != first
    assert env.sandbox.calls["gettoken"] == 2


async def test_twenty_concurrent_calls_make_one_token_request(env: Env) -> None:
    sp_no = env.sandbox.submit("zhangsan", [text("出差")])
    infos = await asyncio.gather(*(env.client.get_detail(sp_no) for _ in range(20)))
    assert env.sandbox.calls["gettoken"] == 1
    assert env.sandbox.calls["getapprovaldetail"] == 20
    assert {i["sp_no"] for i in infos} == {sp_no}


async def test_twenty_concurrent_calls_after_expiry_make_one_refresh(env: Env) -> None:
    sp_no = env.sandbox.submit("zhangsan", [text("出差")])
    await env.client.get_detail(sp_no)
    env.clock.advance(7200)
    await asyncio.gather(*(env.client.get_detail(sp_no) for _ in range(20)))
    assert env.sandbox.calls["gettoken"] == 2


async def test_expired_token_is_refreshed_and_the_call_retried_once(env: Env) -> None:
    sp_no = env.sandbox.submit("zhangsan", [text("出差")])
    await env.client.get_detail(sp_no)
    env.faults.script("getapprovaldetail", Fault(FaultKind.EXPIRED_TOKEN))
    info = await env.client.get_detail(sp_no)
    assert info["sp_no"] == sp_no
    assert env.sandbox.calls["gettoken"] == 2
    assert env.sandbox.calls["getapprovaldetail"] == 3


async def test_a_token_invalidated_by_wecom_is_refreshed(env: Env) -> None:
    sp_no = env.sandbox.submit("zhangsan", [text("出差")])
    await env.client.get_detail(sp_no)
    env.sandbox.invalidate_tokens()  # 40014 invalid access_token on the next call
    assert (await env.client.get_detail(sp_no))["sp_no"] == sp_no
    assert env.sandbox.calls["gettoken"] == 2


async def test_a_second_auth_failure_is_raised_not_retried_forever(env: Env) -> None:
    sp_no = env.sandbox.submit("zhangsan", [text("出差")])
    env.faults.script("getapprovaldetail", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired) as info:
        await env.client.get_detail(sp_no)
    assert info.value.vendor_code == "42001"
    assert env.sandbox.calls["getapprovaldetail"] == 2


async def test_rate_limit_raises_rate_limited_with_a_growing_backoff(env: Env) -> None:
    sp_no = env.sandbox.submit("zhangsan", [text("出差")])
    env.faults.script("getapprovaldetail", Fault(FaultKind.RATE_LIMIT), Fault(FaultKind.RATE_LIMIT))
    waits = []
    for _ in range(2):
        with pytest.raises(RateLimited) as info:
            await env.client.get_detail(sp_no)
        assert info.value.vendor_code == "45009"
        assert info.value.retryable
        waits.append(info.value.retry_after)
    assert waits == [60.0, 120.0]
    await env.client.get_detail(sp_no)  # a success resets the backoff
    env.faults.script("getapprovaldetail", Fault(FaultKind.RATE_LIMIT))
    with pytest.raises(RateLimited) as again:
        await env.client.get_detail(sp_no)
    assert again.value.retry_after == 60.0


async def test_an_extra_rate_limit_code_from_the_settings_counts(env: Env) -> None:
    client = env.client_with(rate_limit_errcodes=[45009, 40058])
    with pytest.raises(RateLimited):
        await client.get_detail("no-such-sp-no")  # the sandbox answers 40058 for it


async def test_busy_server_is_transient(env: Env) -> None:
    env.faults.script("getapprovaldetail", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError) as info:
        await env.client.get_detail("x")
    assert info.value.vendor_code == "-1"
    assert info.value.where == "wecom.getapprovaldetail"


async def test_wrong_secret_is_rejected_without_leaking_it(env: Env) -> None:
    client = env.client_with(corp_secret="wrong-secret-xyz")
    with pytest.raises(VendorRejected) as info:
        await client.access_token()
    assert info.value.vendor_code == "40001"
    assert "wrong-secret-xyz" not in str(info.value)
    assert "corp_secret" in str(info.value)


async def test_unknown_sp_no_is_vendor_rejected(env: Env) -> None:
    with pytest.raises(VendorRejected) as info:
        await env.client.get_detail("209901010001")
    assert info.value.vendor_code == "40058"


def test_95_days_make_four_windows_without_overlap_or_gap() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=95)
    windows = split_windows(start, end)
    assert len(windows) == 4
    assert windows[0] == (start, start + timedelta(days=31))
    assert windows[-1][1] == end
    for (_, first_end), (second_start, _) in itertools.pairwise(windows):
        assert second_start == first_end + timedelta(seconds=1)
    assert all(b - a <= timedelta(days=31) for a, b in windows)


def test_split_windows_refuses_bad_input() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="before"):
        split_windows(start, start - timedelta(seconds=1))
    with pytest.raises(ValueError, match="timezone"):
        split_windows(datetime(2026, 1, 1), datetime(2026, 2, 1))
    with pytest.raises(ValueError, match="31 days"):
        split_windows(start, start + timedelta(days=90), timedelta(days=32))
    assert split_windows(start, start) == [(start, start)]


async def test_pages_through_more_than_100_ids_across_windows(env: Env) -> None:
    base = int(env.clock.now().timestamp())
    old = [env.sandbox.submit("zhangsan", [text(f"旧{i}")], at=base - 80 * 86_400 + i) for i in range(130)]
    recent = [env.sandbox.submit("lisi", [text(f"新{i}")], at=base - 3600 + i) for i in range(120)]
    start = env.clock.now() - timedelta(days=95)
    found = [sp async for sp in env.client.iter_sp_nos(start, env.clock.now())]
    assert found == old + recent
    assert env.sandbox.calls["getapprovalinfo"] == 2 + 1 + 1 + 2  # two pages, two empty windows, two pages
    only_lisi = [sp async for sp in env.client.iter_sp_nos(start, env.clock.now(), filters={"creator": "lisi"})]
    assert only_lisi == recent


async def test_one_page_is_at_most_100_and_the_last_has_no_cursor(env: Env) -> None:
    now = env.clock.now()
    for i in range(101):
        env.sandbox.submit("zhangsan", [text(str(i))])
    first = await env.client.list_sp_nos(now - timedelta(days=1), now)
    assert len(first.sp_nos) == 100
    assert first.cursor is not None
    second = await env.client.list_sp_nos(now - timedelta(days=1), now, cursor=first.cursor)
    assert len(second.sp_nos) == 1
    assert second.cursor is None
    assert set(first.sp_nos).isdisjoint(second.sp_nos)


async def test_a_window_over_31_days_is_refused_before_calling(env: Env) -> None:
    now = env.clock.now()
    with pytest.raises(ConfigError, match="31"):
        await env.client.list_sp_nos(now - timedelta(days=31, seconds=1), now)
    assert env.sandbox.calls["getapprovalinfo"] == 0


async def test_apply_event_returns_a_sequential_sp_no(env: Env) -> None:
    first = await env.client.apply_event(creator_userid="zhangsan", template_id=EXPENSE_TEMPLATE_ID,
                                         contents=[text("差旅")])
    second = await env.client.apply_event(creator_userid="zhangsan", template_id=EXPENSE_TEMPLATE_ID,
                                          contents=[text("差旅")], use_template_approver=0,
                                          approvers=[(2, ["a", "b"])], notifyer=["c"], notify_type=1)
    assert first == "202611250001"
    assert second == "202611250002"
    record = env.sandbox.instances[second].as_info()["sp_record"][0]
    assert record["approverattr"] == 2
    assert [d["approver"]["userid"] for d in record["details"]] == ["a", "b"]
