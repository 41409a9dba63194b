"""The Yonyou sandbox's payments (付款单) and projects (项目档案) over real HTTP: checks, states, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from test_yonyou_sandbox import KEY, SECRET, Env

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.yonyou import Refusal, YonyouSandbox
from huiliu.testing import FakeClock


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sandbox = YonyouSandbox(app_key=KEY, app_secret=SECRET, clock=clock)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        e = Env(sandbox, clock, server.url, http)
        await e.get_token()
        await e.post("/digitalModel/vendor/save", {"data": {"code": "V1", "name": "供应商一"}})
        await e.post("/digitalModel/project/save", {"data": {"code": "P1", "name": "项目一"}})
        yield e


def paybill(total: str = "100.10", line: str = "100.10", vendor: str = "V1", on: str = "2026-11-25",
            key: str | None = "fk-1", project: str | None = "P1") -> dict[str, Any]:
    data: dict[str, Any] = {"org_code": "ORG01", "vouchdate": on, "supplier_code": vendor, "currency_code": "CNY",
                            "oriSum": total, "memo": "REF-FK", "_status": "Insert",
                            "bodyItem": [{"oriSum": line, "project_code": project, "memo": "货款"}]}
    if key:
        data["resubmitCheckKey"] = key
    return {"data": data}


async def test_payment_is_saved_audited_and_settled(env: Env) -> None:
    _, saved = await env.post("/fi/paybill/save", paybill())
    assert (saved["code"], saved["data"]["status"]) == ("200", "0")
    payment_id = saved["data"]["id"]
    assert saved["data"]["code"] == "FKD202611250001"
    _, listed = await env.post("/fi/paybill/list", {"simpleVOs": [{"field": "memo", "op": "eq", "value1": "REF-FK"}]})
    assert [r["id"] for r in listed["data"]["recordList"]] == [payment_id]
    with pytest.raises(Refusal, match="未审核"):
        env.sandbox.settle_payment(payment_id)
    _, audited = await env.post("/fi/paybill/batchaudit", {"data": [{"id": payment_id}]})
    assert audited["data"]["infos"][0]["status"] == "1"
    _, again = await env.post("/fi/paybill/batchaudit", {"data": [{"id": payment_id}]})
    assert "不是开立态" in again["message"]
    env.sandbox.settle_payment(payment_id)
    async with env.http.get(f"{env.url}/yonbip/fi/paybill/detail",
                            params={"access_token": env.token, "id": payment_id}) as resp:
        detail = (await resp.json())["data"]
    assert (detail["status"], detail["settleStatus"], detail["oriSum"]) == ("1", "1", "100.10")
    assert env.sandbox.state()["payments"] == 1


@pytest.mark.parametrize(("body", "message"), [
    (paybill(vendor="V9"), "供应商[V9]不存在"),
    (paybill(total="0", line="0"), "付款金额[0]必须大于0"),
    (paybill(total="-5.00", line="-5.00"), "必须大于0"),
    (paybill(on="2026-10-31"), "会计期间[2026-10]已结账"),
    (paybill(project="P9"), "项目[P9]不存在"),
    (paybill(total="100.10", line="100.00"), "与表体合计[100.00]不一致"),
])
async def test_payment_checks_name_the_problem(env: Env, body: dict[str, Any], message: str) -> None:
    env.sandbox.close_period("2026-10")
    _, reply = await env.post("/fi/paybill/save", body)
    assert reply["code"] == "999"
    assert message in reply["message"]
    assert env.sandbox.payables.payments == {}


async def test_resubmit_check_key_and_apply_then_drop(env: Env) -> None:
    env.sandbox.faults.script("payment.save", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(aiohttp.ClientError):
        await env.post("/fi/paybill/save", paybill())
    assert len(env.sandbox.payables.payments) == 1  # applied, reply lost
    _, repeat = await env.post("/fi/paybill/save", paybill())
    assert "重复提交" in repeat["message"]
    assert len(env.sandbox.payables.payments) == 1


async def test_project_codes_are_unique(env: Env) -> None:
    _, dup = await env.post("/digitalModel/project/save", {"data": {"code": "P1", "name": "项目一"}})
    assert dup["message"] == "项目编码[P1]已存在"
    _, listed = await env.post("/digitalModel/project/list", {"simpleVOs": [{"field": "code", "value1": "P1"}]})
    assert listed["data"]["recordList"][0]["name"] == "项目一"
