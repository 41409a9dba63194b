"""The DingTalk sandbox over raw HTTP: the contract's routes, bodies, error shapes and state machine."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import FaultPlan, SandboxServer
from huiliu.sandbox.company import Company, make_company
from huiliu.sandbox.dingtalk import COMMENT_RECORD_TYPE, DingTalkSandbox
from huiliu.testing import FakeClock

AES = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
HEADER = "x-acs-dingtalk-access-token"


@dataclass
class Box:
    sandbox: DingTalkSandbox
    http: aiohttp.ClientSession
    url: str
    clock: FakeClock
    company: Company

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                   params: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        headers = {HEADER: token} if token else {}
        async with self.http.request(method, self.url + path, json=body, params=params, headers=headers) as r:
            return r.status, json.loads(await r.read()), dict(r.headers)

    async def token(self) -> str:
        _, body, _ = await self.call("POST", "/v1.0/oauth2/accessToken", {"appKey": "k", "appSecret": "s"})
        return str(body["accessToken"])


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    clock, company = FakeClock(), make_company()
    sandbox = DingTalkSandbox(app_key="k", app_secret="s", corp_id="corp", callback_token="t", aes_key=AES,
                              company=company, clock=clock, faults=FaultPlan())
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as http:
        yield Box(sandbox, http, srv.url, clock, company)


async def test_token_endpoint_and_expiry(box: Box) -> None:
    status, body, _ = await box.call("POST", "/v1.0/oauth2/accessToken", {"appKey": "k", "appSecret": "s"})
    assert status == 200
    assert body["expireIn"] == 7200
    token = body["accessToken"]
    iid = box.sandbox.start_claim(box.company.claim())
    path = "/v1.0/workflow/processInstances"
    assert (await box.call("GET", path, token=token, params={"processInstanceId": iid}))[0] == 200
    box.clock.advance(7200)
    status, body, _ = await box.call("GET", path, token=token, params={"processInstanceId": iid})
    assert status == 400
    assert body["code"] == "InvalidAuthentication"
    assert body["message"] == "不合法的access_token"
    assert body["requestid"]
    status, body, _ = await box.call("GET", path, params={"processInstanceId": iid})
    assert (status, body["code"]) == (400, "InvalidAuthentication")


async def test_wrong_secret_is_a_400_with_code_and_message(box: Box) -> None:
    status, body, _ = await box.call("POST", "/v1.0/oauth2/accessToken", {"appKey": "k", "appSecret": "x"})
    assert status == 400
    assert set(body) >= {"code", "message"}
    assert "accessToken" not in body


async def test_get_instance_has_the_contract_fields(box: Box) -> None:
    spec = box.company.claim()
    iid = box.sandbox.start_claim(spec)
    status, body, _ = await box.call("GET", "/v1.0/workflow/processInstances", token=await box.token(),
                                     params={"processInstanceId": iid})
    assert status == 200
    assert body["success"] is True
    result = body["result"]
    assert result["status"] == "RUNNING"
    assert result["createTime"] == "2026-11-25T09:00Z"
    assert result["businessId"] == "202611250001"
    assert result["originatorUserId"] == spec.employee.oa_user_id
    fields = {f["name"]: f for f in result["formComponentValues"]}
    assert fields["报销总额"]["componentType"] == "MoneyField"
    assert fields["报销总额"]["value"] == f"{spec.total:.2f}"
    table = fields["费用明细"]
    assert table["componentType"] == "TableField"
    assert len(table["details"]) == len(spec.items)
    assert [c["name"] for c in table["details"][0]["details"]] == ["费用类型", "金额", "费用说明"]
    assert len(json.loads(table["value"])) == len(spec.items)
    assert {"name", "value", "id", "componentType", "bizAlias", "extValue"} <= set(fields["报销事由"])
    assert result["tasks"][0]["status"] == "RUNNING"
    assert result["tasks"][0]["userId"] != spec.employee.oa_user_id
    assert result["operationRecords"][0]["type"] == "START_PROCESS_INSTANCE"


async def test_unknown_instance_is_a_400_body(box: Box) -> None:
    status, body, _ = await box.call("GET", "/v1.0/workflow/processInstances", token=await box.token(),
                                     params={"processInstanceId": "nope"})
    assert status == 400
    assert body["code"] == "InvalidParameter"


async def test_execute_by_the_task_owner_completes_the_instance(box: Box) -> None:
    token = await box.token()
    iid = box.sandbox.start_claim(box.company.claim())
    task = box.sandbox.instances[iid].tasks[0]
    wrong = {"processInstanceId": iid, "taskId": task.task_id, "actionerUserId": "someone-else",
             "result": "agree"}
    assert (await box.call("POST", "/v1.0/workflow/processInstances/execute", wrong, token=token))[0] == 400
    right = {**wrong, "actionerUserId": task.user_id, "result": "refuse", "remark": "票据不全"}
    status, body, _ = await box.call("POST", "/v1.0/workflow/processInstances/execute", right, token=token)
    assert (status, body["success"]) == (200, True)
    instance = box.sandbox.instances[iid]
    assert (instance.status, instance.result) == ("COMPLETED", "refuse")
    assert (await box.call("POST", "/v1.0/workflow/processInstances/execute", right, token=token))[0] == 400
    kinds = [(e["EventType"], e["type"]) for e in box.sandbox.events]
    assert kinds == [("bpms_instance_change", "start"), ("bpms_task_change", "start"),
                     ("bpms_task_change", "finish"), ("bpms_instance_change", "finish")]
    assert box.sandbox.events[-1]["result"] == "refuse"
    assert box.sandbox.events[2]["remark"] == "票据不全"


async def test_terminate_revokes_once(box: Box) -> None:
    token = await box.token()
    iid = box.sandbox.start_claim(box.company.claim())
    body = {"processInstanceId": iid, "operatingUserId": box.sandbox.instances[iid].originator_user_id,
            "isSystem": False, "remark": "填错了"}
    assert (await box.call("POST", "/v1.0/workflow/processInstances/terminate", body, token=token))[0] == 200
    assert box.sandbox.instances[iid].status == "TERMINATED"
    assert box.sandbox.instances[iid].tasks[0].status == "CANCELED"
    assert box.sandbox.events[-1]["type"] == "terminate"
    assert "result" not in box.sandbox.events[-1]
    assert (await box.call("POST", "/v1.0/workflow/processInstances/terminate", body, token=token))[0] == 400


async def test_comment_is_stored_as_an_operation_record(box: Box) -> None:
    token = await box.token()
    iid = box.sandbox.start_claim(box.company.claim())
    path = "/v1.0/workflow/processInstances/comments"
    status, body, _ = await box.call("POST", path, {"processInstanceId": iid, "text": "已入账",
                                                    "commentUserId": "bot"}, token=token)
    assert (status, body) == (200, {"result": True, "success": True})
    assert box.sandbox.instances[iid].records[-1]["type"] == COMMENT_RECORD_TYPE == "ADD_REMARK"
    missing = await box.call("POST", path, {"processInstanceId": iid, "commentUserId": "bot"}, token=token)
    assert missing[0] == 400
    assert box.sandbox.comments == 1


async def test_list_enforces_max_results_and_the_120_day_window(box: Box) -> None:
    token = await box.token()
    now = int(box.clock.now().timestamp() * 1000)
    path = "/v1.0/workflow/processes/instanceIds/query"
    ids = [box.sandbox.start_claim(box.company.claim()) for _ in range(3)]
    base = {"processCode": "PROC-EXPENSE", "startTime": now - 1000, "nextToken": 0}
    too_many = await box.call("POST", path, {**base, "maxResults": 21}, token=token)
    assert too_many[0] == 400
    too_old = await box.call("POST", path, {**base, "startTime": now - 121 * 86_400_000, "maxResults": 5},
                             token=token)
    assert too_old[0] == 400
    status, page, _ = await box.call("POST", path, {**base, "maxResults": 2}, token=token)
    assert status == 200
    assert page["result"]["list"] == ids[:2]
    _, rest, _ = await box.call("POST", path, {**base, "maxResults": 2,
                                               "nextToken": page["result"]["nextToken"]}, token=token)
    assert rest["result"]["list"] == ids[2:]
    assert "nextToken" not in rest["result"]
    box.sandbox.finish(ids[0], "approved")
    completed = {**base, "maxResults": 20, "statuses": ["COMPLETED"]}
    _, done, _ = await box.call("POST", path, completed, token=token)
    assert done["result"]["list"] == ids[:1]


async def test_faults_and_state_over_http(box: Box) -> None:
    token = await box.token()
    spec = {"script": {"get_instance": [{"kind": "rate_limit", "retry_after": 4}]}}
    assert (await box.call("POST", "/_sandbox/faults", spec))[0] == 200
    status, body, headers = await box.call("GET", "/v1.0/workflow/processInstances", token=token,
                                           params={"processInstanceId": "x"})
    assert (status, body["code"], headers["Retry-After"]) == (429, "Throttling", "4")
    assert (await box.call("POST", "/_sandbox/faults", {"script": {"x": [{"kind": "nope"}]}}))[0] == 400
    iid = box.sandbox.start_claim(box.company.claim())
    box.sandbox.start_claim(box.company.claim())
    box.sandbox.finish(iid, "revoked")
    _, state, _ = await box.call("GET", "/_sandbox/state")
    assert state["instances"] == {"RUNNING": 1, "TERMINATED": 1}
    assert state["faults_injected"] == {"get_instance:rate_limit": 1}
    assert state["callbacks"]["pending"] == 0  # nobody subscribed


def test_finish_rejects_bad_outcomes_and_double_finishes() -> None:
    company = make_company()
    sandbox = DingTalkSandbox(app_key="k", app_secret="s", corp_id="c", callback_token="t", aes_key=AES,
                              company=company, clock=FakeClock())
    iid = sandbox.start_claim(company.claim())
    with pytest.raises(ValueError, match="outcome"):
        sandbox.finish(iid, "lost")
    sandbox.finish(iid, "approved")
    with pytest.raises(ValueError, match="already ended"):
        sandbox.finish(iid, "refused")
    assert sandbox.instances[iid].status == "COMPLETED"
    second = sandbox.start_claim(company.claim())
    assert sandbox.instances[second].business_id == "202611250002"
