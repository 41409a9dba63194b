"""The Kingdee sandbox over real HTTP: BatchSave per item, account books, closed periods, posting, 红字 vouchers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import SandboxServer
from huiliu.sandbox.kingdee import KingdeeSandbox

FORM = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."


@dataclass
class Env:
    sandbox: KingdeeSandbox
    url: str
    http: aiohttp.ClientSession
    session: str = ""

    async def call(self, op: str, body: Any) -> Any:
        async with self.http.post(f"{self.url}/k3cloud/{FORM}{op}.common.kdsvc", json=body,
                                  headers={"Cookie": f"kdservice-sessionid={self.session}"}) as resp:
            assert resp.status == 200
            return json.loads(await resp.text())

    async def form(self, op: str, data: Any) -> Any:
        return await self.call(op, {"formid": "GL_VOUCHER", "data": data})


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw", books={"001": "100", "002": "200"})
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/k3cloud/Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser"
                             ".common.kdsvc", json={"parameters": ["AC1", "api", "pw", 2052]}) as resp:
            session = (await resp.json())["KDSVCSessionId"]
        yield Env(sandbox, server.url, http, session)


def model(ref: str = "R-1", *, amount: str = "100.00", account: str = "6602.03", date: str = "2026-11-25",
          book: str = "001", org: str | None = None, red: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {
        "FAccountBookID": {"FNumber": book}, "FDate": date, "FVOUCHERGROUPID": {"FNumber": "记"},
        "FCURRENCYID": {"FNumber": "PRE001"}, "F_HUILIU_REF": ref,
        "FEntity": [
            {"FEXPLANATION": "差旅费", "FACCOUNTID": {"FNumber": account}, "FDEBIT": amount, "FCREDIT": "0",
             "FDetailID": {"FFLEX5": {"FNumber": "BM03"}, "FFLEX7": {"FNumber": "E1001"}}},
            {"FEXPLANATION": "差旅费", "FACCOUNTID": {"FNumber": "2241.01"}, "FDEBIT": "0", "FCREDIT": amount,
             "FDetailID": {"FFLEX7": {"FNumber": "E1001"}}},
        ],
    }
    if org is not None:
        result["FACCBOOKORGID"] = {"FNumber": org}
    if red:
        result["FISREDWRITEOFF"] = True
    return result


def status_of(reply: Any) -> Any:
    return reply["Result"]["ResponseStatus"]


async def test_batch_save_saves_each_model_on_its_own_and_reports_by_dindex(env: Env) -> None:
    reply = await env.form("BatchSave", {"Model": [model("R-0"), model("R-1", account="9999.99"), model("R-2"),
                                                   "junk"]})
    status = status_of(reply)
    assert (status["IsSuccess"], status["MsgCode"]) == (False, 0)
    assert [(e["Number"], e["DIndex"]) for e in status["SuccessEntitys"]] == [("记-0001", 0), ("记-0002", 2)]
    assert sorted({e["DIndex"] for e in status["Errors"]}) == [1, 3]
    assert any("9999.99" in e["Message"] for e in status["Errors"] if e["DIndex"] == 1)
    assert env.sandbox.count() == 2
    assert (env.sandbox.batch_save_calls, env.sandbox.saved_models) == (1, 4)


async def test_batch_save_without_models_is_a_request_level_refusal(env: Env) -> None:
    status = status_of(await env.form("BatchSave", {"Model": {"not": "a list"}}))
    assert (status["IsSuccess"], status["MsgCode"]) == (False, 8)


async def test_books_are_numbered_apart_and_the_org_must_own_the_book(env: Env) -> None:
    first = await env.form("Save", {"Model": model("A", book="001", org="100")})
    second = await env.form("Save", {"Model": model("B", book="002", org="200")})
    assert first["Result"]["Number"] == second["Result"]["Number"] == "记-0001"
    wrong = status_of(await env.form("Save", {"Model": model("C", book="001", org="200")}))
    assert "账簿“001”不属于核算组织“200”" in wrong["Errors"][0]["Message"]
    unknown = status_of(await env.form("Save", {"Model": model("D", book="003")}))
    assert "账簿“003”不存在" in unknown["Errors"][0]["Message"]


async def test_closed_period_refuses_save_unaudit_and_delete(env: Env) -> None:
    saved = await env.form("Save", {"Model": model("R-1")})
    vid = saved["Result"]["Id"]
    for op in ("Submit", "Audit"):
        await env.form(op, {"Ids": str(vid)})
    async with env.http.post(f"{env.url}/_sandbox/periods", json={"book": "001", "period": "2026-11"}) as resp:
        assert resp.status == 200
    refused = status_of(await env.form("Save", {"Model": model("R-2", date="2026-11-30")}))
    assert refused["Errors"][0]["FieldName"] == "FDate"
    assert "会计期间2026年第11期已结账" in refused["Errors"][0]["Message"]
    assert "不能反审核" in status_of(await env.form("UnAudit", {"Ids": str(vid)}))["Errors"][0]["Message"]
    ok = await env.form("Save", {"Model": model("R-3", date="2026-12-01")})
    assert status_of(ok)["IsSuccess"] is True
    other_book = await env.form("Save", {"Model": model("R-4", book="002", date="2026-10-01")})
    assert status_of(other_book)["IsSuccess"] is True  # closing is per book
    draft = await env.form("Save", {"Model": model("R-5", book="002", date="2026-10-02")})
    env.sandbox.close_period("002", "2026-10")
    message = status_of(await env.form("Delete", {"Ids": str(draft["Result"]["Id"])}))["Errors"][0]["Message"]
    assert "已结账，不能删除" in message
    env.sandbox.close_period("002", "2026-09")  # closing never reopens a later period
    assert env.sandbox.closed_through["002"] == "2026-10"
    with pytest.raises(ValueError, match="YYYY-MM"):
        env.sandbox.close_period("001", "2026/11")


async def test_a_posted_voucher_cannot_be_unaudited(env: Env) -> None:
    vid = (await env.form("Save", {"Model": model()}))["Result"]["Id"]
    with pytest.raises(ValueError, match="only 已审核"):
        env.sandbox.post(vid)
    for op in ("Submit", "Audit"):
        await env.form(op, {"Ids": str(vid)})
    env.sandbox.post(vid)
    message = status_of(await env.form("UnAudit", {"Ids": str(vid)}))["Errors"][0]["Message"]
    assert "已过账，不能反审核" in message


async def test_negative_amounts_only_on_a_red_voucher(env: Env) -> None:
    refused = status_of(await env.form("Save", {"Model": model(amount="-100.00")}))
    assert "必须且只能录入一个正数" in refused["Errors"][0]["Message"]
    red = status_of(await env.form("Save", {"Model": model("RED", amount="-100.00", red=True)}))
    assert red["IsSuccess"] is True
    unbalanced = model("RED2", amount="-100.00", red=True)
    unbalanced["FEntity"][1]["FCREDIT"] = "-99.00"
    assert "借贷不平衡" in status_of(await env.form("Save", {"Model": unbalanced}))["Errors"][0]["Message"]


async def test_query_in_list_and_paths_into_base_data(env: Env) -> None:
    await env.form("BatchSave", {"Model": [model("A"), model("B"), model("C'D")]})
    rows = await env.call("ExecuteBillQuery", {"data": {
        "FormId": "GL_VOUCHER", "FieldKeys": "F_HUILIU_REF,FDetailID.FFLEX5.FNumber,FACCBOOKORGID.FNumber",
        "FilterString": "F_HUILIU_REF in ('A', 'C''D') and FDocumentStatus='A'"}})
    assert rows == [["A", "BM03", None], ["A", None, None], ["C'D", "BM03", None], ["C'D", None, None]]
