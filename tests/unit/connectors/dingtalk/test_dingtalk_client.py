"""DingTalkClient against the DingTalk sandbox over real HTTP on 127.0.0.1."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.dingtalk import (
    COMMENT_ACTION,
    CREATE_ACTION,
    DingTalkClient,
    DingTalkSettings,
    event_type,
    register_actions,
    to_instance,
)
from huiliu.connectors.http import HttpClient
from huiliu.errors import AmbiguousOutcome, AuthExpired, MappingError, RateLimited, TransientError, VendorRejected
from huiliu.model import ApprovalStatus
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import Company, make_company
from huiliu.sandbox.dingtalk import DingTalkSandbox
from huiliu.testing import FakeClock

AES = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
APP = {"app_key": "dingappkey01", "app_secret": "s3cret-value", "corp_id": "dingcorp01",
       "callback_token": "cbtoken", "aes_key": AES}
BOT = "huiliu-bot"


@dataclass
class Env:
    sandbox: DingTalkSandbox
    client: DingTalkClient
    clock: FakeClock
    faults: FaultPlan
    company: Company
    settings: DingTalkSettings


def settings_for(url: str, **over: object) -> DingTalkSettings:
    return DingTalkSettings.model_validate({"base_url": url, **APP, "writeback_user_id": BOT, **over})


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock, faults, company = FakeClock(), FaultPlan(), make_company()
    sandbox = DingTalkSandbox(**APP, company=company, clock=clock, faults=faults)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        settings = settings_for(srv.url)
        client = DingTalkClient(settings, HttpClient("dingtalk", session, timeout=2.0), clock)
        yield Env(sandbox, client, clock, faults, company, settings)


def claim(env: Env) -> str:
    return env.sandbox.start_claim(env.company.claim())


async def test_token_is_cached_until_the_refresh_margin(env: Env) -> None:
    first = await env.client.access_token()
    assert await env.client.access_token() == first
    env.clock.advance(7200 - 300 - 1)
    assert await env.client.access_token() == first
    assert env.sandbox.calls["token"] == 1
    env.clock.advance(2)  # inside the 300 s margin: refreshed before DingTalk would expire it
    second = await env.client.access_token()
    assert second != first
    assert env.sandbox.calls["token"] == 2


async def test_ten_concurrent_calls_make_one_token_request(env: Env) -> None:
    instance_id = claim(env)
    results = await asyncio.gather(*(env.client.get_instance(instance_id) for _ in range(10)))
    assert env.sandbox.calls["token"] == 1
    assert env.sandbox.calls["get_instance"] == 10
    assert all(r["status"] == "RUNNING" for r in results)


async def test_expired_token_mid_run_is_refreshed_and_the_call_retried_once(env: Env) -> None:
    instance_id = claim(env)
    await env.client.get_instance(instance_id)
    env.faults.script("get_instance", Fault(FaultKind.EXPIRED_TOKEN))
    result = await env.client.get_instance(instance_id)
    assert result["status"] == "RUNNING"
    assert env.sandbox.calls["token"] == 2
    assert env.sandbox.calls["get_instance"] == 3


async def test_a_second_auth_failure_is_raised_not_retried_forever(env: Env) -> None:
    instance_id = claim(env)
    env.faults.script("get_instance", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired) as info:
        await env.client.get_instance(instance_id)
    assert info.value.vendor_code == "InvalidAuthentication"
    assert env.sandbox.calls["get_instance"] == 2


async def test_rate_limit_raises_rate_limited_with_retry_after(env: Env) -> None:
    env.faults.script("get_instance", Fault(FaultKind.RATE_LIMIT, retry_after=7))
    with pytest.raises(RateLimited) as info:
        await env.client.get_instance(claim(env))
    assert info.value.retry_after == 7.0
    assert info.value.vendor_code == "Throttling"
    assert info.value.retryable


async def test_server_error_is_transient(env: Env) -> None:
    env.faults.script("comment", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError) as info:
        await env.client.add_comment(claim(env), "好", BOT)
    assert info.value.where == "dingtalk.AddProcessInstanceComment"
    assert env.sandbox.comments == 0


async def test_dropped_connection_is_transient_and_a_post_is_not_resent(env: Env) -> None:
    instance_id = claim(env)
    env.faults.script("comment", Fault(FaultKind.DROP))
    with pytest.raises(TransientError) as info:
        await env.client.add_comment(instance_id, "好", BOT)
    assert "连接失败" in str(info.value)
    assert env.sandbox.calls["comment"] == 1
    assert env.sandbox.comments == 0


async def test_dropped_get_is_transient(env: Env) -> None:
    instance_id = claim(env)
    await env.client.access_token()
    # aiohttp resends an idempotent request once when a kept-alive connection closes under it.
    env.faults.script("get_instance", Fault(FaultKind.DROP), Fault(FaultKind.DROP))
    with pytest.raises(TransientError):
        await env.client.get_instance(instance_id)
    assert (await env.client.get_instance(instance_id))["status"] == "RUNNING"


async def test_wrong_secret_is_rejected_without_leaking_it(env: Env) -> None:
    bad = settings_for(env.settings.base_url, app_secret="wrong-secret-xyz")
    async with aiohttp.ClientSession() as session:
        client = DingTalkClient(bad, HttpClient("dingtalk", session), env.clock)
        with pytest.raises(VendorRejected) as info:
            await client.access_token()
    assert info.value.vendor_code == "invalidClientIdOrSecret"
    assert "wrong-secret-xyz" not in str(info.value)
    assert "app_secret" in str(info.value.fix)


@pytest.mark.parametrize(("outcome", "status"), [("approved", ApprovalStatus.APPROVED),
                                                 ("refused", ApprovalStatus.REFUSED),
                                                 ("revoked", ApprovalStatus.REVOKED)])
async def test_get_instance_maps_a_claim_with_chinese_text_and_a_table(
        env: Env, outcome: str, status: ApprovalStatus) -> None:
    spec = env.company.claim()
    instance_id = env.sandbox.start_claim(spec)
    raw = await env.client.get_instance(instance_id)
    running = to_instance(raw, instance_id, process_code="PROC-EXPENSE")
    assert running.process_code == "PROC-EXPENSE"
    assert running.status is ApprovalStatus.RUNNING
    assert event_type(running) == "dingtalk.approval.started"
    assert running.title == f"{spec.employee.name}提交的报销申请"
    assert running.originator_user_id == spec.employee.oa_user_id
    assert running.originator_dept_id == spec.employee.department_number
    assert running.form["报销事由"] == spec.reason
    assert running.form["报销总额"] == f"{spec.total:.2f}"
    assert running.form["费用明细"] == [{"费用类型": i.expense_type, "金额": f"{i.amount:.2f}",
                                       "费用说明": i.description} for i in spec.items]
    assert running.created_at == env.clock.now().replace(second=0, microsecond=0)
    assert running.created_at.tzinfo is not None
    assert running.created_at.utcoffset() == UTC.utcoffset(None)
    assert running.finished_at is None
    assert len(running.tasks) == 1
    assert running.business_id is not None
    assert running.business_id.startswith("20261125")

    env.clock.advance(3600)
    env.sandbox.finish(instance_id, outcome)
    done = to_instance(await env.client.get_instance(instance_id), instance_id)
    assert done.status is status
    assert event_type(done) == f"dingtalk.approval.{status.value}"
    assert done.finished_at == env.clock.now().replace(second=0, microsecond=0)


async def test_comment_round_trips_a_thousand_chinese_characters(env: Env) -> None:
    instance_id = claim(env)
    text = ("凭证已生成，编号记-2026-11-0001；金额与报销单一致。" * 40)[:1200]
    assert len(text) == 1200
    await env.client.add_comment(instance_id, text, BOT)
    records = (await env.client.get_instance(instance_id))["operationRecords"]
    comments = [r for r in records if r["type"] == "ADD_REMARK"]
    assert len(comments) == 1
    assert comments[0]["remark"] == text
    assert comments[0]["userId"] == BOT


async def test_comment_action_is_exactly_once_after_the_reply_was_lost(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings)
    action = registry.get(COMMENT_ACTION)
    instance_id = claim(env)
    request = {"instance_id": instance_id, "text": "已生成凭证 记-0001"}
    env.faults.script("comment", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(TransientError):
        await action(request, ActionContext("k1", attempt=1, reference="ref-0001"))
    assert env.sandbox.comments == 1  # DingTalk stored it; the hub did not hear back
    assert env.sandbox.calls["get_instance"] == 0  # the first attempt does not look anything up

    result = await action(request, ActionContext("k1", attempt=2, reference="ref-0001"))
    assert result == {"posted": False, "already": True}
    assert env.sandbox.comments == 1
    remark = next(r["remark"] for r in (await env.client.get_instance(instance_id))["operationRecords"]
                  if r["type"] == "ADD_REMARK")
    assert remark == "已生成凭证 记-0001 [huiliu:ref-0001]"


async def test_comment_action_posts_on_a_retry_when_the_first_try_never_arrived(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings)
    instance_id = claim(env)
    env.faults.script("comment", Fault(FaultKind.DROP))
    action = registry.get(COMMENT_ACTION)
    request = {"instance_id": instance_id, "text": "同步完成"}
    with pytest.raises(TransientError):
        await action(request, ActionContext("k2", attempt=1, reference="ref-0002"))
    assert env.sandbox.comments == 0
    assert await action(request, ActionContext("k2", attempt=2, reference="ref-0002")) == {
        "posted": True, "already": False}
    assert env.sandbox.comments == 1


async def test_comment_action_rejects_a_bad_request(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings)
    with pytest.raises(MappingError) as info:
        await registry.get(COMMENT_ACTION)({"instance_id": "x", "text": ""}, ActionContext("k", 1, "r"))
    assert info.value.where == "dingtalk.approval.comment request.text"
    assert env.sandbox.calls["comment"] == 0


async def test_start_and_list_instance_ids_pages_by_twenty(env: Env) -> None:
    user = env.company.employees[0].oa_user_id
    assert user is not None
    created = [await env.client.start_instance(process_code="PROC-PO", originator_user_id=user,
                                               form=[{"name": "采购单号", "value": f"PO-{i:04d}"}])
               for i in range(25)]
    start = int(env.clock.now().timestamp() * 1000) - 60_000
    first = await env.client.list_instance_ids("PROC-PO", start)
    assert len(first.ids) == 20
    assert first.next_token is not None
    second = await env.client.list_instance_ids("PROC-PO", start, next_token=first.next_token)
    assert second.next_token is None
    assert list(first.ids + second.ids) == created
    raw = await env.client.get_instance(created[3])
    assert raw["formComponentValues"][0]["value"] == "PO-0003"


async def test_unknown_instance_is_vendor_rejected_with_the_code_kept(env: Env) -> None:
    with pytest.raises(VendorRejected) as info:
        await env.client.get_instance("no-such-instance")
    assert info.value.vendor_code == "InvalidParameter"
    assert info.value.vendor_message is not None
    assert "no-such-instance" in info.value.vendor_message
    assert not info.value.retryable


PO_DOCUMENT = {"采购订单号": "PO-2026-0042", "供应商": "上海晨光文具有限公司", "金额": Decimal("12800.01"),
               "明细": [{"物品": "27 英寸显示器", "数量": 2, "单价": Decimal("1599.00")},
                        {"物品": "无线键鼠套装", "数量": 3, "单价": {"amount": "199.00", "currency": "CNY"}}]}


def create_request(env: Env) -> dict[str, object]:
    originator = env.company.employees[0].oa_user_id
    return {"process_code": "PROC-PO-APPROVAL", "originator_user_id": originator, "document": PO_DOCUMENT}


async def test_create_action_starts_an_instance_carrying_the_reference_and_the_table(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    result = await registry.get(CREATE_ACTION)(create_request(env), ActionContext("c1", 1, "HL-PO-1"))
    assert result["adopted"] is False and len(env.sandbox.instances) == 1
    form = {f["name"]: f for f in (await env.client.get_instance(str(result["instance_id"])))["formComponentValues"]}
    assert form["汇流引用"]["value"] == "HL-PO-1"
    assert form["金额"]["value"] == "12800.01"  # exact, never through a float
    rows = [{c["name"]: c["value"] for c in row["details"]} for row in form["明细"]["details"]]
    assert rows == [{"物品": "27 英寸显示器", "数量": "2", "单价": "1599.00"},
                    {"物品": "无线键鼠套装", "数量": "3", "单价": "199.00"}]
    assert env.sandbox.calls["list_instances"] == 0  # a first attempt looks nothing up


async def test_create_action_retried_adopts_instead_of_starting_a_second(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    action = registry.get(CREATE_ACTION)
    first = await action(create_request(env), ActionContext("c2", 1, "HL-PO-2"))
    again = await action(create_request(env), ActionContext("c2", 2, "HL-PO-2"))
    assert again == {"instance_id": first["instance_id"], "adopted": True}
    other = await action(create_request(env), ActionContext("c3", 2, "HL-PO-3"))  # another reference: created
    assert other["adopted"] is False
    assert len(env.sandbox.instances) == 2


async def test_create_whose_reply_was_lost_is_resolved_by_listing_at_once(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    env.faults.script("create_instance", Fault(FaultKind.APPLIED_REPLY_LOST))
    result = await registry.get(CREATE_ACTION)(create_request(env), ActionContext("c4", 1, "HL-PO-4"))
    assert result["adopted"] is True
    assert len(env.sandbox.instances) == 1


async def test_create_that_never_arrived_is_ambiguous_then_made_once(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    action = registry.get(CREATE_ACTION)
    env.faults.script("create_instance", Fault(FaultKind.DROP))
    with pytest.raises(AmbiguousOutcome) as info:
        await action(create_request(env), ActionContext("c5", 1, "HL-PO-5"))
    assert info.value.retry_after == env.settings.ambiguous_wait
    assert len(env.sandbox.instances) == 0
    result = await action(create_request(env), ActionContext("c5", 2, "HL-PO-5"))
    assert result["adopted"] is False and len(env.sandbox.instances) == 1


async def test_create_refuses_a_float_amount_before_calling(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    request = {**create_request(env), "document": {"金额": 12800.01}}
    with pytest.raises(MappingError) as info:
        await registry.get(CREATE_ACTION)(request, ActionContext("c6", 1, "HL-PO-6"))
    assert info.value.where == "dingtalk.approval.create document.金额"
    assert env.sandbox.calls["create_instance"] == 0
