"""KingdeeClient against the sandbox over real HTTP: the full cycle, session loss, faults, rejections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.http import HttpClient
from huiliu.connectors.kingdee import KingdeeClient, KingdeeSettings, quote, voucher_model
from huiliu.errors import AuthExpired, RateLimited, TransientError, VendorRejected
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.store.codec import to_jsonable
from huiliu.testing import FakeClock

FORM = "GL_VOUCHER"


@dataclass
class Env:
    sandbox: KingdeeSandbox
    clock: FakeClock
    settings: KingdeeSettings
    client: KingdeeClient
    http: aiohttp.ClientSession

    def other_client(self, **changes: Any) -> KingdeeClient:
        settings = KingdeeSettings.model_validate({**self.settings.model_dump(), **changes})
        return KingdeeClient(settings, HttpClient("kingdee", self.http, timeout=5))


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="s3cret", clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        settings = KingdeeSettings(base_url=server.url + "/k3cloud/", acct_id="AC1", username="api",
                                   password="s3cret")  # type: ignore[arg-type]
        client = KingdeeClient(settings, HttpClient("kingdee", http, timeout=5))
        yield Env(sandbox, clock, settings, client, http)


def line(summary: str, account: str, direction: Direction, amount: str, **aux: str) -> VoucherLine:
    return VoucherLine(summary, account, direction, Money(Decimal(amount)), tuple(aux.items()))


def voucher(*lines: VoucherLine, ref: str = "HL-1") -> dict[str, Any]:
    if not lines:
        lines = (line("差旅费", "6602.03", Direction.DEBIT, "1234.56", department="BM01", employee="E1001"),
                 line("差旅费", "2241.01", Direction.CREDIT, "1234.56", employee="E1001"))
    data = to_jsonable(Voucher(ref, "001", date(2026, 11, 25), "记", "CNY", lines))
    assert isinstance(data, dict)
    return data


async def test_full_cycle_keeps_chinese_text_and_amounts_exact(env: Env) -> None:
    long_summary = "报销：上海—深圳往返高铁及住宿，客户拜访（华东销售组）。" * 40
    long_summary = long_summary[:1000]
    lines = (line("差旅费：张伟 上海出差", "6602.03", Direction.DEBIT, "12345678.99", department="BM03",
                  employee="E1002"),
             line(long_summary, "6602.05", Direction.DEBIT, "0.01", department="BM03", employee="E1002"),
             line("应付员工报销款", "2241.01", Direction.CREDIT, "12345679.00", employee="E1002"))
    model = voucher_model(voucher(*lines), "HL-cycle", env.settings)
    await env.client.login()
    saved = await env.client.save(FORM, model)
    assert saved.number == "记-0001"
    rows = await env.client.query(FORM, ["FVOUCHERID", "FBillNo", "FDocumentStatus"],
                                  f"F_HUILIU_REF={quote('HL-cycle')}")
    assert rows == [[saved.id, saved.number, "A"]]
    await env.client.submit(FORM, [saved.number])
    await env.client.audit(FORM, ids=[saved.id])
    viewed = await env.client.view(FORM, saved.number)
    assert viewed["FDocumentStatus"] == "C"
    entries = viewed["FEntity"]
    assert [e["FEXPLANATION"] for e in entries] == [ln.summary for ln in lines]
    assert len(entries[1]["FEXPLANATION"]) == 1000
    assert [(e["FDEBIT"], e["FCREDIT"]) for e in entries] == [("12345678.99", "0"), ("0.01", "0"),
                                                              ("0", "12345679.00")]
    assert sum(Decimal(e["FDEBIT"]) for e in entries) == sum(Decimal(e["FCREDIT"]) for e in entries)
    assert env.client.logins == 1


async def test_data_as_string_is_accepted(env: Env) -> None:
    client = env.other_client(data_as_string=True)
    saved = await client.save(FORM, voucher_model(voucher(), "HL-s", env.settings))
    assert (await client.view(FORM, id=saved.id))["F_HUILIU_REF"] == "HL-s"


async def test_session_lost_mid_run_relogs_in_and_retries_once(env: Env) -> None:
    await env.client.login()
    env.sandbox.faults.script("save", Fault(FaultKind.EXPIRED_TOKEN))
    saved = await env.client.save(FORM, voucher_model(voucher(), "HL-2", env.settings))
    assert env.client.logins == 2
    assert env.sandbox.login_calls == 2
    assert env.sandbox.count() == 1
    assert env.sandbox.vouchers[saved.id].reference == "HL-2"


async def test_session_expired_by_time_relogs_in(env: Env) -> None:
    await env.client.query(FORM, "FBillNo")
    env.clock.advance(1801)
    assert await env.client.query(FORM, "FBillNo") == []
    assert env.client.logins == 2


async def test_expired_token_drawn_at_login_does_not_break_login(env: Env) -> None:
    env.sandbox.faults.script("login", Fault(FaultKind.EXPIRED_TOKEN))
    await env.client.login()
    assert env.sandbox.login_calls == 1


async def test_two_session_losses_in_a_row_raise_auth_expired(env: Env) -> None:
    env.sandbox.faults.script("query", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired) as info:
        await env.client.query(FORM, "FBillNo")
    assert info.value.vendor_code == "1"
    assert "会话信息已丢失，请重新登录" in str(info.value)
    assert env.client.logins == 2  # the first login and exactly one re-login, no loop


async def test_concurrent_callers_share_one_login(env: Env) -> None:
    await asyncio.gather(*(env.client.query(FORM, "FBillNo") for _ in range(12)))
    assert env.sandbox.login_calls == 1
    env.sandbox.expire_sessions()
    await asyncio.gather(*(env.client.query(FORM, "FBillNo") for _ in range(12)))
    assert env.sandbox.login_calls == 2


async def test_rate_limited_carries_retry_after(env: Env) -> None:
    env.sandbox.faults.script("save", Fault(FaultKind.RATE_LIMIT, retry_after=7))
    with pytest.raises(RateLimited) as info:
        await env.client.save(FORM, voucher_model(voucher(), "HL-3", env.settings))
    assert info.value.retry_after == 7.0
    assert info.value.retryable
    assert env.sandbox.count() == 0


async def test_server_error_is_transient(env: Env) -> None:
    env.sandbox.faults.script("query", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError) as info:
        await env.client.query(FORM, "FBillNo")
    assert info.value.vendor_code == "500"
    assert info.value.where == "kingdee.ExecuteBillQuery"


async def test_dropped_connection_is_transient_and_changes_nothing(env: Env) -> None:
    saved = await env.client.save(FORM, voucher_model(voucher(), "HL-4", env.settings))
    env.sandbox.faults.script("submit", Fault(FaultKind.DROP))
    with pytest.raises(TransientError):
        await env.client.submit(FORM, ids=[saved.id])
    assert env.sandbox.vouchers[saved.id].status == "A"


async def test_wrong_password_is_rejected_with_kingdee_message(env: Env) -> None:
    client = env.other_client(password="wrong")
    with pytest.raises(VendorRejected) as info:
        await client.login()
    assert info.value.vendor_message == "用户名或密码错误！"
    assert info.value.fix is not None
    assert "password" in info.value.fix.en
    assert "wrong" not in str(info.value)  # the secret never appears


async def test_wrong_acct_id_is_rejected_with_a_fix(env: Env) -> None:
    client = env.other_client(acct_id="NOPE")
    with pytest.raises(VendorRejected) as info:
        await client.query(FORM, "FBillNo")
    assert info.value.fix is not None
    assert "acct_id" in info.value.fix.zh
    assert env.sandbox.login_calls == 0


@pytest.mark.parametrize(
    ("tamper", "field", "message"),
    [
        (lambda m: m["FEntity"][0].update(FACCOUNTID={"FNumber": "9999.99"}), "FACCOUNTID",
         "科目“9999.99”不存在"),
        (lambda m: m["FEntity"][1].update(FDetailID={}), "FDetailID", "核算维度“员工”(FFLEX7)不能为空"),
        (lambda m: m["FEntity"][1].update(FCREDIT="1234.55"), "FEntity", "借贷不平衡"),
    ],
)
async def test_business_rejections_name_the_field(env: Env, tamper: Any, field: str, message: str) -> None:
    model = voucher_model(voucher(), "HL-5", env.settings)
    tamper(model)
    with pytest.raises(VendorRejected) as info:
        await env.client.save(FORM, model)
    assert info.value.vendor_message is not None
    assert f"{field}：" in info.value.vendor_message
    assert message in info.value.vendor_message
    assert message in str(info.value)
    assert info.value.vendor_code == "0"
    assert not info.value.retryable
    assert env.sandbox.count() == 0


async def test_bad_filter_string_is_a_clear_error(env: Env) -> None:
    with pytest.raises(VendorRejected) as info:
        await env.client.query(FORM, "FBillNo", "F_HUILIU_REF like 'HL%'")
    assert "FilterString" in str(info.value)
    assert "无法解析" in (info.value.vendor_message or "")


async def test_audit_before_submit_is_rejected(env: Env) -> None:
    saved = await env.client.save(FORM, voucher_model(voucher(), "HL-6", env.settings))
    with pytest.raises(VendorRejected, match="未提交"):
        await env.client.audit(FORM, ids=[saved.id])


async def test_view_needs_exactly_one_key(env: Env) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await env.client.view(FORM)
