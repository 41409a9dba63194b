"""FeishuClient and the create action against the Feishu sandbox over real HTTP on 127.0.0.1."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.feishu import (
    CREATE_ACTION,
    DuplicateUuid,
    FeishuClient,
    FeishuSettings,
    FormFieldSpec,
    event_type,
    instance_uuid,
    register_actions,
    to_instance,
)
from huiliu.connectors.http import HttpClient
from huiliu.errors import AmbiguousOutcome, AuthExpired, MappingError, RateLimited, TransientError, VendorRejected
from huiliu.model import ApprovalStatus, Money
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import Company, make_company
from huiliu.sandbox.feishu import CLAIM_APPROVAL_CODE, FeishuSandbox
from huiliu.testing import FakeClock

APP: dict[str, Any] = {"app_id": "cli_a1b2", "app_secret": "s3cret-value", "verification_token": "vt"}
PO = "PO-APPROVAL"
PO_WIDGETS: list[dict[str, Any]] = [{"id": "w_no", "name": "采购单号", "type": "input"},
              {"id": "w_amount", "name": "金额", "type": "amount"},
              {"id": "w_note", "name": "说明", "type": "textarea"},
              {"id": "w_lines", "name": "明细", "type": "fieldList",
               "children": [{"id": "w_item", "name": "物料", "type": "input"},
                            {"id": "w_qty", "name": "数量", "type": "number"}]}]
LAYOUT = {"采购单号": FormFieldSpec(id="w_no", type="input"), "金额": FormFieldSpec(id="w_amount", type="amount"),
          "说明": FormFieldSpec(id="w_note", type="textarea"),
          "明细": FormFieldSpec(id="w_lines", type="fieldList",
                              columns={"物料": FormFieldSpec(id="w_item", type="input"),
                                       "数量": FormFieldSpec(id="w_qty", type="number")})}


@dataclass
class Env:
    sandbox: FeishuSandbox
    client: FeishuClient
    clock: FakeClock
    faults: FaultPlan
    company: Company
    settings: FeishuSettings
    session: aiohttp.ClientSession


def settings_for(url: str, **over: Any) -> FeishuSettings:
    return FeishuSettings.model_validate({"base_url": url, **APP, "form_layouts": {PO: LAYOUT},
                                          "ambiguous_wait": 0.5, **over})


async def make_env(**sandbox_args: Any) -> AsyncIterator[Env]:
    clock, faults, company = FakeClock(), FaultPlan(), make_company()
    sandbox = FeishuSandbox(**APP, company=company, clock=clock, faults=faults, **sandbox_args)
    sandbox.define_approval(PO, "采购申请", PO_WIDGETS)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        settings = settings_for(srv.url)
        client = FeishuClient(settings, HttpClient("feishu", session, timeout=2.0), clock)
        yield Env(sandbox, client, clock, faults, company, settings, session)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for e in make_env():
        yield e


def claim(env: Env) -> str:
    return env.sandbox.start_claim(env.company.claim())


async def create(env: Env, reference: str, amount: str = "12800.10", attempt: int = 1) -> Any:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    request = {"approval_code": PO, "open_id": "ou_buyer", "department_id": "BM05",
               "form": {"采购单号": reference, "金额": Decimal(amount), "说明": "办公用品采购",
                        "明细": [{"物料": "打印纸", "数量": Decimal(10)}]}}
    return await registry.get(CREATE_ACTION)(request, ActionContext(f"k-{reference}", attempt, reference))


async def test_token_is_cached_until_the_refresh_margin(env: Env) -> None:
    first = await env.client.tenant_access_token()
    assert first.startswith("t-")
    env.clock.advance(7200 - 600 - 1)
    assert await env.client.tenant_access_token() == first
    assert env.sandbox.calls["token"] == 1
    env.clock.advance(2)  # inside the 600 s margin: refreshed before Feishu would expire it
    second = await env.client.tenant_access_token()
    assert second != first
    assert env.sandbox.calls["token"] == 2


async def test_twenty_concurrent_calls_make_one_token_request(env: Env) -> None:
    code = claim(env)
    results = await asyncio.gather(*(env.client.get_instance(code) for _ in range(20)))
    assert env.sandbox.calls["token"] == 1
    assert env.sandbox.calls["get_instance"] == 20
    assert all(r["status"] == "PENDING" for r in results)


@pytest.mark.parametrize("status", [400, 401])
async def test_invalid_token_is_refreshed_and_the_call_retried_once(status: int) -> None:
    async for env in make_env(auth_error_status=status):
        code = claim(env)
        await env.client.get_instance(code)
        env.faults.script("get_instance", Fault(FaultKind.EXPIRED_TOKEN))
        assert (await env.client.get_instance(code))["instance_code"] == code
        assert env.sandbox.calls["token"] == 2
        assert env.sandbox.calls["get_instance"] == 3


async def test_a_second_auth_failure_is_raised_not_retried_forever(env: Env) -> None:
    code = claim(env)
    env.faults.script("get_instance", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired) as info:
        await env.client.get_instance(code)
    assert info.value.vendor_code == "99991663"
    assert env.sandbox.calls["get_instance"] == 2
    assert env.sandbox.calls["token"] == 2


async def test_a_token_that_expired_in_the_sandbox_is_replaced(env: Env) -> None:
    code = claim(env)
    await env.client.get_instance(code)
    env.sandbox._tokens.clear()  # Feishu invalidated every token (e.g. the secret was reset and restored)
    assert (await env.client.get_instance(code))["instance_code"] == code
    assert env.sandbox.calls["token"] == 2


async def test_rate_limit_raises_rate_limited_with_the_reset_header(env: Env) -> None:
    env.faults.script("get_instance", Fault(FaultKind.RATE_LIMIT, retry_after=7))
    with pytest.raises(RateLimited) as info:
        await env.client.get_instance(claim(env))
    assert info.value.retry_after == 7.0
    assert info.value.vendor_code == "99991400"
    assert info.value.retryable


async def test_the_create_limit_of_100_a_minute_is_enforced_and_resets(env: Env) -> None:
    env.clock.advance(60 - env.clock.now().timestamp() % 60)  # the start of a minute
    for i in range(100):
        await env.client.create_instance(approval_code=PO, form="[]", uuid=f"U-{i}", open_id="ou_a")
    env.clock.advance(20)
    with pytest.raises(RateLimited) as info:
        await env.client.create_instance(approval_code=PO, form="[]", uuid="U-100", open_id="ou_a")
    assert info.value.retry_after == 40.0
    env.clock.advance(40)
    assert await env.client.create_instance(approval_code=PO, form="[]", uuid="U-100", open_id="ou_a")


async def test_server_error_and_dropped_connection_are_transient(env: Env) -> None:
    code = claim(env)
    env.faults.script("get_instance", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError) as info:
        await env.client.get_instance(code)
    assert info.value.where == "feishu.get_instance"
    await env.client.tenant_access_token()
    # aiohttp resends an idempotent request once when a kept-alive connection closes under it.
    env.faults.script("get_instance", Fault(FaultKind.DROP), Fault(FaultKind.DROP))
    with pytest.raises(TransientError, match="连接失败"):
        await env.client.get_instance(code)


async def test_wrong_secret_is_rejected_without_leaking_it(env: Env) -> None:
    bad = settings_for(env.settings.base_url, app_secret="wrong-secret-xyz")
    client = FeishuClient(bad, HttpClient("feishu", env.session), env.clock)
    with pytest.raises(VendorRejected) as info:
        await client.tenant_access_token()
    assert info.value.vendor_code == "10014"
    assert "wrong-secret-xyz" not in str(info.value)
    assert "app_secret" in str(info.value.fix)


async def test_unknown_instance_is_vendor_rejected(env: Env) -> None:
    with pytest.raises(VendorRejected) as info:
        await env.client.get_instance("NO-SUCH")
    assert info.value.vendor_code == "60001"
    assert not info.value.retryable


@pytest.mark.parametrize(("finish", "status"), [("approve", ApprovalStatus.APPROVED),
                                                ("reject", ApprovalStatus.REFUSED),
                                                ("cancel", ApprovalStatus.REVOKED)])
async def test_get_instance_maps_a_claim_with_amounts_and_rows(env: Env, finish: str,
                                                                 status: ApprovalStatus) -> None:
    spec = env.company.claim()
    code = env.sandbox.start_claim(spec)
    running = to_instance(await env.client.get_instance(code))
    assert running.status is ApprovalStatus.RUNNING
    assert event_type(running) == "feishu.approval.started"
    assert running.process_code == CLAIM_APPROVAL_CODE
    assert running.title == "费用报销"
    assert running.originator_user_id == spec.employee.oa_user_id
    assert running.originator_dept_id == spec.employee.department_number
    assert running.form["报销事由"] == spec.reason
    assert running.form["报销总额"] == Money(spec.total)
    assert running.form["费用明细"] == [{"费用类型": i.expense_type, "金额": Money(i.amount), "费用说明": i.description}
                                    for i in spec.items]
    assert running.created_at == env.clock.now()
    assert running.finished_at is None
    env.clock.advance(3600)
    getattr(env.sandbox, finish)(code)
    done = to_instance(await env.client.get_instance(code))
    assert done.status is status
    assert done.finished_at == env.clock.now()
    assert all(t.status != "PENDING" for t in done.tasks)


async def test_a_reverted_instance_reads_as_reverted(env: Env) -> None:
    code = claim(env)
    env.sandbox.approve(code)
    env.sandbox.revert(code)
    data = await env.client.get_instance(code)
    assert (data["status"], data["reverted"]) == ("APPROVED", True)
    reverted = to_instance(data)
    assert reverted.status is ApprovalStatus.REVERTED  # not merely revoked: the posted document is reversed
    assert event_type(reverted) == "feishu.approval.reverted"


async def test_listing_pages_through_a_range(env: Env) -> None:
    start = env.clock.now()
    created = []
    for i in range(7):
        created.append(claim(env))
        env.clock.advance(3600 * (i + 1))
    end = env.clock.now()
    page = await env.client.list_instance_codes(CLAIM_APPROVAL_CODE, start, end, page_size=3)
    assert len(page.codes) == 3
    assert page.page_token is not None
    small = env.settings.model_copy(update={"list_page_size": 3})
    client = FeishuClient(small, HttpClient("feishu", env.session), env.clock)
    assert [c async for c in client.iter_instance_codes(CLAIM_APPROVAL_CODE, start, end)] == created
    assert env.sandbox.calls["list_instances"] == 1 + 3
    later = [c async for c in client.iter_instance_codes(CLAIM_APPROVAL_CODE, start + timedelta(hours=2), end)]
    assert later == created[2:]


async def test_listing_splits_a_range_by_the_configured_span(env: Env) -> None:
    start = env.clock.now()
    created = []
    for _ in range(5):
        created.append(claim(env))
        env.clock.advance(86400)
    split = env.settings.model_copy(update={"list_max_span": timedelta(days=2)})
    client = FeishuClient(split, HttpClient("feishu", env.session), env.clock)
    before = env.sandbox.calls["list_instances"]
    codes = [c async for c in client.iter_instance_codes(CLAIM_APPROVAL_CODE, start, env.clock.now())]
    assert codes == created  # the instance on a window boundary comes once
    assert env.sandbox.calls["list_instances"] - before == 3


async def test_create_twice_with_one_reference_makes_one_instance(env: Env) -> None:
    first = await create(env, "PO-2026-0001")
    assert first["adopted"] is False
    assert first["uuid"] == instance_uuid("PO-2026-0001")
    second = await create(env, "PO-2026-0001", attempt=2)
    assert second == {**first, "adopted": True}
    assert len(env.sandbox.instances) == 1
    instance = to_instance(await env.client.get_instance(first["instance_code"]))
    assert instance.form["金额"] == Money(Decimal("12800.10"))
    assert instance.form["明细"] == [{"物料": "打印纸", "数量": Decimal(10)}]
    other = await create(env, "PO-2026-0002")
    assert other["instance_code"] != first["instance_code"]
    assert len(env.sandbox.instances) == 2


async def test_duplicate_uuid_is_its_own_refusal(env: Env) -> None:
    await env.client.create_instance(approval_code=PO, form="[]", uuid="abc-UUID", open_id="ou_a")
    with pytest.raises(DuplicateUuid) as info:  # uuids compare case-insensitively
        await env.client.create_instance(approval_code=PO, form="[]", uuid="ABC-uuid", open_id="ou_a")
    assert info.value.vendor_code == "60012"
    assert info.value.instance_code is None
    assert isinstance(info.value, VendorRejected)


async def test_create_whose_reply_is_lost_adopts_the_same_instance_on_retry(env: Env) -> None:
    env.faults.script("create_instance", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(AmbiguousOutcome) as info:
        await create(env, "PO-LOST-1")
    assert info.value.retry_after == 0.5
    assert len(env.sandbox.instances) == 1  # Feishu created it; the hub did not hear back
    env.clock.advance(3600)
    result = await create(env, "PO-LOST-1", attempt=2)
    assert result["adopted"] is True
    assert result["instance_code"] == next(iter(env.sandbox.instances))
    assert len(env.sandbox.instances) == 1
    assert env.sandbox.calls["create_instance"] == 2


async def test_create_that_never_arrived_is_created_on_retry(env: Env) -> None:
    env.faults.script("create_instance", Fault(FaultKind.DROP))
    with pytest.raises(AmbiguousOutcome):
        await create(env, "PO-DROP-1")
    assert env.sandbox.instances == {}
    result = await create(env, "PO-DROP-1", attempt=2)
    assert result["adopted"] is False
    assert len(env.sandbox.instances) == 1


async def test_adoption_outside_the_lookback_is_refused_with_a_fix(env: Env) -> None:
    await create(env, "PO-OLD-1")
    env.clock.advance(8 * 86400)
    with pytest.raises(VendorRejected) as info:
        await create(env, "PO-OLD-1", attempt=2)
    assert "adopt_lookback" in str(info.value.fix)
    assert len(env.sandbox.instances) == 1


async def test_create_rejects_a_bad_request_before_any_call(env: Env) -> None:
    registry = ActionRegistry()
    register_actions(registry, env.client, env.settings, env.clock)
    action = registry.get(CREATE_ACTION)
    with pytest.raises(MappingError) as info:
        await action({"approval_code": PO, "form": {}}, ActionContext("k", 1, "r"))
    assert "open_id" in str(info.value)
    with pytest.raises(MappingError) as info:
        await action({"approval_code": PO, "open_id": "ou", "form": {"金额": 1.5}}, ActionContext("k", 1, "r"))
    assert info.value.where == "form.金额"
    with pytest.raises(MappingError) as info:
        await action({"approval_code": PO, "open_id": "ou", "form": {"未知": "x"}}, ActionContext("k", 1, "r"))
    assert info.value.where == "form.未知"
    assert env.sandbox.calls["create_instance"] == 0


async def test_subscribe_opens_the_event_gate(env: Env) -> None:
    code = claim(env)
    assert env.sandbox.definitions[CLAIM_APPROVAL_CODE].subscribed is False
    assert env.sandbox.events == []  # nothing is pushed for an unsubscribed definition
    await env.client.subscribe(CLAIM_APPROVAL_CODE)
    assert env.sandbox.definitions[CLAIM_APPROVAL_CODE].subscribed is True
    env.sandbox.approve(code)
    assert env.sandbox.events[-1]["event"]["status"] == "APPROVED"
