"""The WeCom sandbox over raw HTTP: the contract's routes, errcodes, list limits and state machine."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.wecom import EXPENSE_TEMPLATE_ID, INVALID_PARAMETER_ERRCODE, MAX_SPAN_SECONDS, WeComSandbox
from huiliu.testing import FakeClock

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
REASON = {"control": "Textarea", "id": "Textarea-1569573760001", "value": {"text": "出差"}}


@dataclass
class Box:
    sandbox: WeComSandbox
    http: aiohttp.ClientSession
    url: str
    clock: FakeClock
    faults: FaultPlan

    async def token(self) -> str:
        async with self.http.get(f"{self.url}/cgi-bin/gettoken",
                                 params={"corpid": "wwcorp", "corpsecret": "sec"}) as r:
            return str(json.loads(await r.read())["access_token"])

    async def post(self, operation: str, body: Any, token: str | None = None) -> dict[str, Any]:
        token = token if token is not None else await self.token()
        async with self.http.post(f"{self.url}/cgi-bin/oa/{operation}", params={"access_token": token},
                                  json=body) as r:
            assert r.status == 200
            reply: dict[str, Any] = json.loads(await r.read())
            return reply


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    clock, faults = FakeClock(), FaultPlan()
    sandbox = WeComSandbox(corp_id="wwcorp", corp_secret="sec", callback_token="tok", encoding_aes_key=AES,
                           company=make_company(), clock=clock, faults=faults)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as http:
        yield Box(sandbox, http, srv.url, clock, faults)


async def test_gettoken_shape_and_refusals(box: Box) -> None:
    async with box.http.get(f"{box.url}/cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "sec"}) as r:
        body = json.loads(await r.read())
    assert body["errcode"] == 0
    assert body["errmsg"] == "ok"
    assert body["expires_in"] == 7200
    async with box.http.get(f"{box.url}/cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "bad"}) as r:
        assert json.loads(await r.read())["errcode"] == 40001


async def test_tokens_expire_and_can_be_invalidated(box: Box) -> None:
    token = await box.token()
    assert (await box.post("getapprovaldetail", {"sp_no": "x"}, token))["errcode"] == INVALID_PARAMETER_ERRCODE
    box.clock.advance(7200)
    assert (await box.post("getapprovaldetail", {"sp_no": "x"}, token))["errcode"] == 42001
    fresh = await box.token()
    box.sandbox.invalidate_tokens()
    assert (await box.post("getapprovaldetail", {"sp_no": "x"}, fresh))["errcode"] == 40014
    assert (await box.post("getapprovaldetail", {"sp_no": "x"}, ""))["errcode"] == 40014


async def test_faults_answer_with_wecom_errcodes(box: Box) -> None:
    token = await box.token()
    box.faults.script("getapprovalinfo", Fault(FaultKind.RATE_LIMIT), Fault(FaultKind.SERVER_ERROR),
                      Fault(FaultKind.EXPIRED_TOKEN))
    body = {"starttime": 0, "endtime": 1}
    assert (await box.post("getapprovalinfo", body, token))["errcode"] == 45009
    assert (await box.post("getapprovalinfo", body, token))["errcode"] == -1
    assert (await box.post("getapprovalinfo", body, token))["errcode"] == 42001
    assert (await box.post("getapprovalinfo", body, token))["errcode"] == 40014  # that token is gone now
    assert box.sandbox.faults.injected["getapprovalinfo:rate_limit"] == 1


async def test_getapprovalinfo_enforces_31_days_and_100_a_page(box: Box) -> None:
    now = int(box.clock.now().timestamp())
    too_long = await box.post("getapprovalinfo", {"starttime": now - MAX_SPAN_SECONDS - 1, "endtime": now})
    assert too_long["errcode"] == INVALID_PARAMETER_ERRCODE
    assert "31 days" in too_long["errmsg"]
    exactly = await box.post("getapprovalinfo", {"starttime": now - MAX_SPAN_SECONDS, "endtime": now})
    assert exactly == {"errcode": 0, "errmsg": "ok", "sp_no_list": []}
    assert (await box.post("getapprovalinfo", {"starttime": now, "endtime": now, "size": 101}))["errcode"] != 0
    sp_nos = [box.sandbox.submit("zhangsan", [REASON]) for _ in range(150)]
    first = await box.post("getapprovalinfo", {"starttime": now - 10, "endtime": now, "cursor": 0})
    assert first["sp_no_list"] == sp_nos[:100]
    assert first["next_cursor"] == 100
    last = await box.post("getapprovalinfo", {"starttime": now - 10, "endtime": now, "cursor": 100})
    assert last["sp_no_list"] == sp_nos[100:]
    assert "next_cursor" not in last
    filtered = await box.post("getapprovalinfo", {"starttime": now - 10, "endtime": now,
                                                  "filters": [{"key": "creator", "value": "nobody"}]})
    assert filtered["sp_no_list"] == []
    bad_filter = await box.post("getapprovalinfo", {"starttime": now, "endtime": now,
                                                    "filters": [{"key": "colour", "value": "red"}]})
    assert bad_filter["errcode"] == INVALID_PARAMETER_ERRCODE


async def test_applyevent_validates_against_the_template(box: Box) -> None:
    token = await box.token()
    base = {"creator_userid": "zhangsan", "template_id": EXPENSE_TEMPLATE_ID, "use_template_approver": 1}
    ok = await box.post("applyevent", {**base, "apply_data": {"contents": [REASON]}}, token)
    assert ok["errcode"] == 0
    assert ok["sp_no"] == "202611250001"
    bad = [
        {**base, "template_id": "nope", "apply_data": {"contents": []}},
        {**base, "apply_data": {"contents": [{**REASON, "control": "Text"}]}},
        {**base, "apply_data": {"contents": [{"control": "Money", "id": "Money-1569573760002",
                                              "value": {"new_money": "1.001"}}]}},
        {**base, "apply_data": {"contents": [REASON]}, "summary_list": [{"summary_info": [{"text": "x",
                                                                                            "lang": "zh-CN"}]}]},
        {**base, "use_template_approver": 0, "apply_data": {"contents": [REASON]}},
        {k: v for k, v in base.items() if k != "creator_userid"},
    ]
    for body in bad:
        assert (await box.post("applyevent", body, token))["errcode"] == INVALID_PARAMETER_ERRCODE
    assert list(box.sandbox.instances) == ["202611250001"]


async def test_gettemplatedetail_and_getapprovaldetail_shapes(box: Box) -> None:
    token = await box.token()
    template = await box.post("gettemplatedetail", {"template_id": EXPENSE_TEMPLATE_ID}, token)
    assert template["template_names"] == [{"text": "费用报销", "lang": "zh_CN"}]
    table = template["template_content"]["controls"][2]
    assert table["property"]["control"] == "Table"
    assert [c["property"]["title"][0]["text"] for c in table["config"]["table"]["children"]] == [
        "费用类型", "金额", "费用说明"]
    assert box.sandbox.company is not None
    sp_no = box.sandbox.start_claim(box.sandbox.company.claim())
    info = (await box.post("getapprovaldetail", {"sp_no": sp_no}, token))["info"]
    assert set(info) >= {"sp_no", "sp_name", "sp_status", "template_id", "apply_time", "applyer", "sp_record",
                         "notifyer", "apply_data", "comments"}
    assert info["apply_data"]["contents"][0]["title"] == [{"text": "报销事由", "lang": "zh_CN"}]
    assert info["sp_status"] == 1


async def test_state_machine_and_events(box: Box) -> None:
    sb = box.sandbox
    countersign = sb.submit("zhangsan", [REASON], approvers=["a", "b"], attr=2)
    sb.approve(countersign, "a")
    assert sb.instances[countersign].sp_status == 1  # 会签: b still pending
    sb.approve(countersign, "b")
    assert sb.instances[countersign].sp_status == 2
    sb.revoke_approved(countersign)
    assert sb.instances[countersign].sp_status == 6
    refused = sb.submit("zhangsan", [REASON])
    sb.reject(refused)
    assert sb.instances[refused].sp_status == 3
    revoked = sb.submit("zhangsan", [REASON])
    sb.comment(revoked, "lisi", "请补充发票")
    sb.revoke(revoked)
    assert sb.instances[revoked].sp_status == 4
    assert sb.instances[revoked].as_info()["comments"][0]["commentcontent"] == "请补充发票"
    with pytest.raises(ValueError, match="not"):
        sb.approve(revoked)
    changes = [int(e.split("<StatuChangeEvent>")[1].split("<")[0]) for e in sb.events]
    assert changes == [1, 2, 2, 8, 1, 3, 1, 10, 6]
    assert all("<Event><![CDATA[sys_approval_change]]></Event>" in e for e in sb.events)


async def test_batch_approval_shares_one_createtime(box: Box) -> None:
    sp_nos = [box.sandbox.submit("zhangsan", [REASON]) for _ in range(5)]
    box.clock.advance(60)
    create_time = box.sandbox.batch_approve(sp_nos)
    batch = box.sandbox.events[-5:]
    assert {e.split("<CreateTime>")[1].split("<")[0] for e in batch} == {str(create_time)}
    assert [e.split("<SpNo>")[1].split("<")[0] for e in batch] == sp_nos


async def test_applied_reply_lost_applies_then_drops(box: Box) -> None:
    token = await box.token()
    box.faults.script("applyevent", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(aiohttp.ClientError):
        await box.post("applyevent", {"creator_userid": "zhangsan", "template_id": EXPENSE_TEMPLATE_ID,
                                      "use_template_approver": 1, "apply_data": {"contents": [REASON]}}, token)
    assert len(box.sandbox.instances) == 1


async def test_fault_control_route_and_state(box: Box) -> None:
    async with box.http.post(f"{box.url}/_sandbox/faults",
                             json={"script": {"gettoken": [{"kind": "rate_limit"}]}}) as r:
        assert json.loads(await r.read())["errcode"] == 0
    async with box.http.get(f"{box.url}/cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "sec"}) as r:
        assert json.loads(await r.read())["errcode"] == 45009
    box.sandbox.submit("zhangsan", [REASON])
    async with box.http.get(f"{box.url}/_sandbox/state") as r:
        state = json.loads(await r.read())
    assert state["instances"] == {"1": 1}
    assert state["calls"]["gettoken"] == 1
