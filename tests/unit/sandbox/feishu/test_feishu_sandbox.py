"""The Feishu sandbox over raw HTTP: the contract's routes, envelopes, error codes, limits and state machine."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import Company, make_company
from huiliu.sandbox.feishu import (
    BAD_PARAMS_CODE,
    CLAIM_APPROVAL_CODE,
    DUPLICATE_UUID_CODE,
    INVALID_TOKEN_CODE,
    MISSING_TOKEN_CODE,
    RATE_LIMIT_CODE,
    FeishuSandbox,
)
from huiliu.testing import FakeClock

BASE = "/open-apis/approval/v4"


@dataclass
class Box:
    sandbox: FeishuSandbox
    http: aiohttp.ClientSession
    url: str
    clock: FakeClock
    company: Company
    faults: FaultPlan

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                   params: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.url + path, json=body, params=params, headers=headers) as r:
            return r.status, json.loads(await r.read()), dict(r.headers)

    async def token(self) -> str:
        _, body, _ = await self.call("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                                     {"app_id": "cli_1", "app_secret": "s"})
        return str(body["tenant_access_token"])

    async def create(self, token: str, uuid: str, form: str = "[]") -> tuple[int, Any, dict[str, str]]:
        return await self.call("POST", f"{BASE}/instances", {"approval_code": CLAIM_APPROVAL_CODE,
                                                             "open_id": "ou_a", "form": form, "uuid": uuid},
                               token=token)


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    clock, company, faults = FakeClock(), make_company(), FaultPlan()
    sandbox = FeishuSandbox(app_id="cli_1", app_secret="s", verification_token="vt", company=company, clock=clock,
                            faults=faults)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as http:
        yield Box(sandbox, http, srv.url, clock, company, faults)


async def test_token_endpoint_expiry_and_missing_token(box: Box) -> None:
    status, body, _ = await box.call("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                                     {"app_id": "cli_1", "app_secret": "s"})
    assert status == 200
    assert (body["code"], body["expire"]) == (0, 7200)
    token = body["tenant_access_token"]
    code = box.sandbox.start_claim(box.company.claim())
    assert (await box.call("GET", f"{BASE}/instances/{code}", token=token))[0] == 200
    box.clock.advance(7200)
    status, body, _ = await box.call("GET", f"{BASE}/instances/{code}", token=token)
    assert (status, body["code"]) == (400, INVALID_TOKEN_CODE)
    status, body, _ = await box.call("GET", f"{BASE}/instances/{code}")
    assert (status, body["code"]) == (400, MISSING_TOKEN_CODE)


async def test_wrong_secret_gets_no_token(box: Box) -> None:
    status, body, _ = await box.call("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                                     {"app_id": "cli_1", "app_secret": "x"})
    assert status == 400
    assert body["code"] != 0
    assert "tenant_access_token" not in body


async def test_get_returns_the_contract_fields_and_a_form_string(box: Box) -> None:
    spec = box.company.claim()
    code = box.sandbox.start_claim(spec)
    status, body, _ = await box.call("GET", f"{BASE}/instances/{code}", token=await box.token())
    assert (status, body["code"], body["msg"]) == (200, 0, "success")
    data = body["data"]
    assert set(data) >= {"approval_name", "approval_code", "instance_code", "start_time", "end_time", "user_id",
                         "open_id", "serial_number", "department_id", "status", "uuid", "form", "task_list",
                         "comment_list", "timeline"}
    assert data["status"] == "PENDING"
    assert data["start_time"] == str(int(box.clock.now().timestamp() * 1000))
    form = json.loads(data["form"])
    assert [w["name"] for w in form] == ["报销事由", "报销总额", "费用明细"]
    assert f'"value":{spec.total:.2f}' in data["form"]  # amounts written with their fen, as numbers
    assert [c["name"] for c in form[2]["value"][0]] == ["费用类型", "金额", "费用说明"]


async def test_uuid_conflict_is_60012_case_insensitively_and_creates_nothing(box: Box) -> None:
    token = await box.token()
    status, body, _ = await box.create(token, "ABC-123")
    assert (status, body["code"]) == (200, 0)
    first = body["data"]["instance_code"]
    status, body, _ = await box.create(token, "abc-123")
    assert body["code"] == DUPLICATE_UUID_CODE
    assert not body.get("data")  # the contract names no instance_code in the refusal
    assert list(box.sandbox.instances) == [first]


async def test_create_validates_form_and_uuid(box: Box) -> None:
    token = await box.token()
    for form in ("not json", '[{"id": "unknown_widget", "type": "input", "value": "x"}]'):
        _, body, _ = await box.create(token, f"U-{len(form)}", form)
        assert body["code"] == BAD_PARAMS_CODE
    _, body, _ = await box.create(token, "U" * 65)
    assert body["code"] == BAD_PARAMS_CODE
    assert box.sandbox.instances == {}


async def test_list_pages_by_time_range(box: Box) -> None:
    token = await box.token()
    start = int(box.clock.now().timestamp() * 1000)
    codes = []
    for _ in range(5):
        codes.append(box.sandbox.start_claim(box.company.claim()))
        box.clock.advance(60)
    params = {"approval_code": CLAIM_APPROVAL_CODE, "start_time": str(start),
              "end_time": str(start + 120_000), "page_size": "2"}
    _, body, _ = await box.call("GET", f"{BASE}/instances", params=params, token=token)
    assert body["data"]["instance_code_list"] == codes[:2]
    assert body["data"]["has_more"] is True
    _, body, _ = await box.call("GET", f"{BASE}/instances", token=token,
                                params={**params, "page_token": body["data"]["page_token"]})
    assert body["data"] == {"instance_code_list": codes[2:3], "has_more": False}
    _, body, _ = await box.call("GET", f"{BASE}/instances", token=token, params={**params, "page_size": "101"})
    assert body["code"] == BAD_PARAMS_CODE


async def test_rate_limit_fault_has_the_reset_headers(box: Box) -> None:
    token = await box.token()
    box.faults.script("list_instances", Fault(FaultKind.RATE_LIMIT, retry_after=12))
    status, body, headers = await box.call("GET", f"{BASE}/instances", token=token, params={})
    assert (status, body["code"]) == (429, RATE_LIMIT_CODE)
    assert headers["x-ogw-ratelimit-reset"] == "12"
    assert "x-ogw-ratelimit-limit" in headers


async def test_applied_reply_lost_applies_then_drops(box: Box) -> None:
    token = await box.token()
    box.faults.script("create_instance", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(aiohttp.ClientError):
        await box.create(token, "LOST-1")
    assert len(box.sandbox.instances) == 1
    _, body, _ = await box.create(token, "LOST-1")
    assert body["code"] == DUPLICATE_UUID_CODE


async def test_state_machine_and_events_need_a_subscription(box: Box) -> None:
    code = box.sandbox.start_claim(box.company.claim())
    assert box.sandbox.events == []
    _, body, _ = await box.call("POST", f"{BASE}/approvals/{CLAIM_APPROVAL_CODE}/subscribe", token=await box.token())
    assert body["code"] == 0
    box.sandbox.approve(code)
    with pytest.raises(ValueError, match="not PENDING"):
        box.sandbox.reject(code)
    box.sandbox.revert(code)
    assert [e["event"]["status"] for e in box.sandbox.events] == ["APPROVED", "REVERTED"]
    event = box.sandbox.events[0]
    assert event["type"] == "event_callback"
    assert event["token"] == "vt"
    assert event["event"]["type"] == "approval_instance"
    assert event["event"]["instance_operate_time"] == str(event["event"]["operate_time"])
    instance = box.sandbox.instances[code]
    assert (instance.status, instance.reverted) == ("APPROVED", True)
    assert box.sandbox.state()["instances"] == {"APPROVED": 1}
