"""wecom.approval.create: hub-side dedupe by reference, and an unanswered create resolved by listing."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.wecom import APPROVAL_CREATE, WeComClient, WeComSettings, register_actions, to_instance
from huiliu.errors import AmbiguousOutcome, MappingError, RateLimited
from huiliu.model import ApprovalStatus
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.wecom import EXPENSE_TEMPLATE_ID, REFERENCE_CONTROL_ID, WeComSandbox
from huiliu.testing import FakeClock

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP: dict[str, Any] = {"corp_id": "ww0123456789abcdef", "corp_secret": "sec", "callback_token": "tok",
                        "encoding_aes_key": AES}


@dataclass
class Env:
    sandbox: WeComSandbox
    client: WeComClient
    registry: ActionRegistry
    faults: FaultPlan
    clock: FakeClock

    async def create(self, attempt: int, reference: str = "HL-REF-1", **over: Any) -> Any:
        return await self.registry.get(APPROVAL_CREATE)(request(**over), ActionContext("key-1", attempt, reference))


def request(**over: Any) -> dict[str, Any]:
    return {"template_id": EXPENSE_TEMPLATE_ID, "creator_userid": "zhangsan",
            "document": {"报销事由": "上海出差报销", "报销总额": "880.50",
                         "费用明细": [{"费用类型": "住宿", "金额": Decimal("800.50"), "费用说明": "两晚"},
                                      {"费用类型": "交通", "金额": Decimal("80"), "费用说明": "地铁"}]},
            "summary": ["报销 880.50 元"], **over}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock, faults = FakeClock(), FaultPlan()
    sandbox = WeComSandbox(corp_id=CORP["corp_id"], corp_secret="sec", callback_token="tok", encoding_aes_key=AES,
                           clock=clock, faults=faults)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        settings = WeComSettings.model_validate({"base_url": srv.url, **CORP, "ambiguous_wait": 7})
        client = WeComClient(settings, HttpClient("wecom", session, timeout=2.0), clock)
        registry = ActionRegistry()
        register_actions(registry, client, settings)
        yield Env(sandbox, client, registry, faults, clock)


async def test_first_attempt_creates_with_the_reference_and_the_form(env: Env) -> None:
    result = await env.create(1)
    assert result == {"sp_no": "202611250001", "adopted": False}
    instance = to_instance(await env.client.get_detail(result["sp_no"]), reference_control_id=REFERENCE_CONTROL_ID)
    assert instance.business_id == "HL-REF-1"
    assert instance.status is ApprovalStatus.RUNNING
    assert instance.form["报销总额"] == Decimal("880.50")
    assert instance.form["费用明细"] == [{"费用类型": "住宿", "金额": Decimal("800.50"), "费用说明": "两晚"},
                                         {"费用类型": "交通", "金额": Decimal("80.00"), "费用说明": "地铁"}]
    assert env.sandbox.calls["getapprovalinfo"] == 0  # the first attempt does not look up


async def test_a_second_create_for_the_same_reference_makes_no_second_instance(env: Env) -> None:
    first = await env.create(1)
    env.clock.advance(3600)
    second = await env.create(2)
    assert second == {"sp_no": first["sp_no"], "adopted": True}
    assert len(env.sandbox.instances) == 1
    assert env.sandbox.calls["applyevent"] == 1


async def test_a_retry_whose_reference_is_nowhere_creates(env: Env) -> None:
    other = env.sandbox.submit("zhangsan", [{"control": "Text", "id": REFERENCE_CONTROL_ID,
                                             "value": {"text": "HL-REF-OTHER"}}])
    result = await env.create(2)
    assert result["adopted"] is False
    assert result["sp_no"] != other
    assert len(env.sandbox.instances) == 2


async def test_applied_then_dropped_is_resolved_by_listing(env: Env) -> None:
    env.sandbox.submit("lisi", [])  # another creator's approval in the same window is not adopted
    env.faults.script("applyevent", Fault(FaultKind.APPLIED_REPLY_LOST))
    result = await env.create(1)
    assert result["adopted"] is True
    assert len(env.sandbox.instances) == 2
    assert env.sandbox.calls["applyevent"] == 1
    assert env.sandbox.calls["getapprovaldetail"] == 1  # filtered by creator and template


async def test_dropped_before_applying_stays_ambiguous_then_the_retry_creates_once(env: Env) -> None:
    env.faults.script("applyevent", Fault(FaultKind.DROP))
    with pytest.raises(AmbiguousOutcome) as info:
        await env.create(1)
    assert info.value.retry_after == 7
    assert info.value.retryable
    assert env.sandbox.instances == {}
    result = await env.create(2)
    assert result["adopted"] is False
    assert len(env.sandbox.instances) == 1
    assert (await env.create(3)) == {"sp_no": result["sp_no"], "adopted": True}
    assert len(env.sandbox.instances) == 1


async def test_a_rate_limited_create_is_an_answer_not_an_ambiguity(env: Env) -> None:
    env.faults.script("applyevent", Fault(FaultKind.RATE_LIMIT))
    with pytest.raises(RateLimited):
        await env.create(1)
    assert env.sandbox.instances == {}


@pytest.mark.parametrize(("over", "where"), [
    ({"template_id": ""}, "template_id"), ({"document": "x"}, "document"),
    ({"summary": ["1", "2", "3", "4"]}, "summary"),
    ({"surprise": 1}, "surprise"), ({"use_template_approver": 0, "approver": [{"attr": 3, "userid": ["a"]}]}, "attr"),
])
async def test_a_bad_request_fails_before_any_call(env: Env, over: dict[str, Any], where: str) -> None:
    with pytest.raises(MappingError) as info:
        await env.create(1, **over)
    assert info.value.where is not None
    assert where in info.value.where
    assert sum(env.sandbox.calls.values()) == 0


async def test_a_bad_document_fails_before_the_create(env: Env) -> None:
    with pytest.raises(MappingError) as info:
        await env.create(1, document={"报销总额": 880.5})
    assert info.value.where == "document.报销总额"
    assert env.sandbox.calls["applyevent"] == 0
