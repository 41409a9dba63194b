"""kingdee.voucher.create: look the reference up before any retried Save, then bring the voucher to 已审核."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.kingdee import VOUCHER_CREATE, KingdeeClient, KingdeeSettings, register_actions
from huiliu.errors import MappingError, TransientError, UnbalancedVoucher
from huiliu.model import Direction, Money, Voucher, VoucherLine
from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.store.codec import to_jsonable


@dataclass
class Env:
    sandbox: KingdeeSandbox
    client: KingdeeClient
    settings: KingdeeSettings
    registry: ActionRegistry
    http: aiohttp.ClientSession

    async def create(self, request: dict[str, Any], attempt: int, ref: str = "HL-REF-1") -> Any:
        return await self.registry.get(VOUCHER_CREATE)(request, ActionContext("key-1", attempt, ref))


async def make_env(http: aiohttp.ClientSession, url: str, sandbox: KingdeeSandbox, **extra: Any) -> Env:
    settings = KingdeeSettings.model_validate({"base_url": url, "acct_id": "AC1", "username": "api",
                                               "password": "pw", **extra})
    client = KingdeeClient(settings, HttpClient("kingdee", http, timeout=5))
    registry = ActionRegistry()
    register_actions(registry, client, settings)
    return Env(sandbox, client, settings, registry, http)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw")
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield await make_env(http, server.url, sandbox)


def request(amount: str = "880.00") -> dict[str, Any]:
    lines = (VoucherLine("业务招待费 客户晚宴", "6602.05", Direction.DEBIT, Money(Decimal(amount)),
                         (("department", "BM03"), ("employee", "E1003"))),
             VoucherLine("应付员工报销款", "2241.01", Direction.CREDIT, Money(Decimal(amount)),
                         (("employee", "E1003"),)))
    return {"voucher": to_jsonable(Voucher("claim-9", "001", date(2026, 11, 25), "记", "CNY", lines))}


async def test_first_attempt_saves_submits_and_audits(env: Env) -> None:
    result = await env.create(request(), attempt=1)
    assert result == {"id": 100001, "number": "记-0001", "status": "C", "adopted": False}
    [stored] = env.sandbox.find_by_reference("HL-REF-1")
    assert stored.status == "C"
    assert stored.model["FEntity"][0]["FDEBIT"] == "880.00"


async def test_reply_lost_after_save_then_retry_makes_exactly_one_voucher(env: Env) -> None:
    env.sandbox.faults.script("save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await env.create(request(), attempt=1)
    assert env.sandbox.count() == 1  # Kingdee made it; the hub does not know
    result = await env.create(request(), attempt=2)
    assert result["adopted"] is True
    assert result["status"] == "C"
    assert env.sandbox.count() == 1
    assert env.sandbox.save_calls == 1
    [stored] = env.sandbox.vouchers.values()
    assert (stored.id, stored.status, stored.reference) == (result["id"], "C", "HL-REF-1")


async def test_retry_after_a_lost_submit_reply_only_audits(env: Env) -> None:
    env.sandbox.faults.script("submit", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await env.create(request(), attempt=1)
    [stored] = env.sandbox.vouchers.values()
    assert stored.status == "B"
    result = await env.create(request(), attempt=2)
    assert result == {"id": stored.id, "number": stored.number, "status": "C", "adopted": True}
    assert env.sandbox.save_calls == 1


async def test_retry_when_the_first_save_never_arrived_saves_once(env: Env) -> None:
    env.sandbox.faults.script("save", Fault(FaultKind.DROP))
    with pytest.raises(TransientError):
        await env.create(request(), attempt=1)
    assert env.sandbox.count() == 0
    result = await env.create(request(), attempt=2)
    assert result["adopted"] is False
    assert env.sandbox.count() == 1
    assert env.sandbox.vouchers[result["id"]].status == "C"


async def test_audit_can_be_turned_off(env: Env) -> None:
    quiet = await make_env(env.http, env.client.settings.base_url, env.sandbox, audit_vouchers=False)
    result = await quiet.create(request(), attempt=1)
    assert result["status"] == "A"
    assert env.sandbox.vouchers[result["id"]].status == "A"


async def test_custom_reference_field_is_used_for_store_and_lookup() -> None:
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw", reference_field="F_ABC_HUB")
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        env = await make_env(http, server.url, sandbox, reference_field="F_ABC_HUB")
        sandbox.faults.script("save", Fault(FaultKind.APPLIED_REPLY_LOST))
        with pytest.raises(TransientError):
            await env.create(request(), attempt=1)
        result = await env.create(request(), attempt=2)
    assert result["adopted"] is True
    assert sandbox.count() == 1
    assert sandbox.vouchers[result["id"]].model["F_ABC_HUB"] == "HL-REF-1"


async def test_bad_requests_fail_before_any_call(env: Env) -> None:
    with pytest.raises(MappingError, match="voucher"):
        await env.create({}, attempt=1)
    unbalanced = request()
    unbalanced["voucher"]["lines"][1]["amount"]["amount"] = "879.99"
    with pytest.raises(UnbalancedVoucher):
        await env.create(unbalanced, attempt=2)
    assert env.sandbox.login_calls == 0
    assert env.sandbox.count() == 0


def test_registered_under_its_name(env: Env) -> None:
    assert VOUCHER_CREATE in env.registry.names()
