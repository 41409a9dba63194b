"""The Kingdee sandbox over real HTTP on 127.0.0.1: login, envelope, GL_VOUCHER rules, query, faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.kingdee import SESSION_LOST_MESSAGE, KingdeeSandbox
from huiliu.testing import FakeClock

STUB = "Kingdee.BOS.WebApi.ServicesStub."
LOGIN = STUB + "AuthService.ValidateUser"
FORM = STUB + "DynamicFormService."


@dataclass
class Env:
    sandbox: KingdeeSandbox
    clock: FakeClock
    url: str
    http: aiohttp.ClientSession
    session: str = ""

    async def post(self, service: str, body: Any, *, session: str | None = None) -> tuple[int, Any]:
        sid = self.session if session is None else session
        headers = {"Cookie": f"kdservice-sessionid={sid}"} if sid else {}
        async with self.http.post(f"{self.url}/k3cloud/{service}.common.kdsvc", json=body,
                                  headers=headers) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def login(self, acct: str = "AC1", user: str = "api", password: str = "pw") -> tuple[int, Any]:
        body = {"format": 1, "useragent": "ApiClient", "rid": {}, "parameters": [acct, user, password, 2052],
                "timestamp": "2026-11-25", "v": "1.0"}
        status, reply = await self.post(LOGIN, body, session="")
        if status == 200 and reply.get("LoginResultType") == 1:
            self.session = reply["KDSVCSessionId"]
        return status, reply

    async def form(self, op: str, data: Any, formid: str = "GL_VOUCHER") -> Any:
        status, reply = await self.post(FORM + op, {"formid": formid, "data": data})
        assert status == 200, reply
        return reply


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw", clock=clock, session_ttl=600)
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield Env(sandbox, clock, server.url, http)


def model(*, debit: Any = "100.00", credit: Any = "100.00", date: str = "2026-11-25",
          account: str = "6602.03", dept: str | None = "BM01", employee: str | None = "E1001",
          ref: str = "R-1") -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if dept:
        detail["FFLEX5"] = {"FNumber": dept}
    if employee:
        detail["FFLEX7"] = {"FNumber": employee}
    return {
        "FAccountBookID": {"FNumber": "001"}, "FDate": date, "FVOUCHERGROUPID": {"FNumber": "记"},
        "FCURRENCYID": {"FNumber": "PRE001"}, "FEXCHANGERATE": 1, "F_HUILIU_REF": ref,
        "FEntity": [
            {"FEXPLANATION": "差旅费", "FACCOUNTID": {"FNumber": account}, "FDEBIT": debit, "FCREDIT": "0",
             "FDetailID": detail},
            {"FEXPLANATION": "差旅费", "FACCOUNTID": {"FNumber": "2241.01"}, "FDEBIT": 0, "FCREDIT": credit,
             "FDetailID": {"FFLEX7": {"FNumber": "E1001"}}},
        ],
    }


def errors_of(reply: Any) -> list[tuple[str | None, str]]:
    status = reply["Result"]["ResponseStatus"]
    assert status["IsSuccess"] is False
    return [(e["FieldName"], e["Message"]) for e in status["Errors"]]


async def test_login_sets_session_cookie_and_service_names_are_case_insensitive(env: Env) -> None:
    async with env.http.post(f"{env.url}/k3cloud/{LOGIN.lower()}.common.kdsvc",
                             json={"parameters": ["AC1", "api", "pw", 2052]}) as resp:
        body = await resp.json()
        cookie = resp.cookies["kdservice-sessionid"].value
    assert body["LoginResultType"] == 1
    assert cookie == body["KDSVCSessionId"]
    env.session = cookie
    reply = await env.form("save", {"Model": model()})  # lower-case "save"
    assert reply["Result"]["ResponseStatus"]["IsSuccess"] is True


async def test_wrong_password_and_wrong_acct_id(env: Env) -> None:
    status, reply = await env.login(password="nope")
    assert status == 200
    assert reply["LoginResultType"] == 0
    assert reply["Message"] == "用户名或密码错误！"
    status, _ = await env.login(acct="NOPE")
    assert status != 200
    assert env.sandbox.login_calls == 0


async def test_no_or_expired_session_answers_msgcode_1(env: Env) -> None:
    expected = {"Result": {"ResponseStatus": {
        "ErrorCode": 500, "IsSuccess": False,
        "Errors": [{"FieldName": None, "Message": SESSION_LOST_MESSAGE, "DIndex": 0}],
        "SuccessEntitys": [], "SuccessMessages": [], "MsgCode": 1}}}
    assert await env.form("View", {"Number": "记-0001"}) == expected
    await env.login()
    env.clock.advance(599)
    ok = await env.form("Save", {"Model": model()})
    assert ok["Result"]["ResponseStatus"]["IsSuccess"] is True
    env.clock.advance(599)  # sliding expiry: the Save above renewed the session
    assert (await env.form("View", {"Number": "记-0001"}))["Result"]["ResponseStatus"]["IsSuccess"] is True
    env.clock.advance(601)
    assert await env.form("View", {"Number": "记-0001"}) == expected
    assert env.sandbox.count() == 1


async def test_save_numbers_per_period_and_view_returns_the_model_verbatim(env: Env) -> None:
    await env.login()
    long_text = "出差上海客户拜访" * 125
    first = model(ref="R-1")
    first["FEntity"][0]["FEXPLANATION"] = long_text
    replies = [await env.form("Save", {"Model": m}) for m in
               (first, model(ref="R-2"), model(ref="R-3", date="2026-12-01"))]
    numbers = [r["Result"]["Number"] for r in replies]
    assert numbers == ["记-0001", "记-0002", "记-0001"]
    entity = replies[0]["Result"]["ResponseStatus"]["SuccessEntitys"][0]
    assert entity == {"Id": replies[0]["Result"]["Id"], "Number": "记-0001", "DIndex": 0}
    view = await env.form("View", {"Id": str(entity["Id"])})
    stored = view["Result"]["Result"]
    assert stored["FDocumentStatus"] == "A"
    assert stored["FEntity"][0]["FEXPLANATION"] == long_text
    assert stored["FEntity"][0]["FDEBIT"] == "100.00"
    assert stored["F_HUILIU_REF"] == "R-1"
    assert [v.reference for v in env.sandbox.find_by_reference("R-2")] == ["R-2"]


async def test_save_accepts_data_as_json_string_and_upper_case_fnumber(env: Env) -> None:
    await env.login()
    m = model()
    m["FAccountBookID"] = {"FNUMBER": "001"}
    reply = await env.form("Save", json.dumps({"Model": m}, ensure_ascii=False))
    assert reply["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert env.sandbox.save_calls == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"account": "9999.99"}, "FACCOUNTID", "科目“9999.99”不存在"),
        ({"dept": None}, "FDetailID", "“部门”(FFLEX5)不能为空"),
        ({"employee": "E9999"}, "FDetailID", "“员工”(FFLEX7)的值“E9999”不存在"),
        ({"credit": "99.99"}, "FEntity", "借贷不平衡"),
        ({"debit": "100.001", "credit": "100.001"}, "FDEBIT", "精度不能超过2位"),
        ({"debit": "0"}, "FDEBIT", "必须且只能录入一个正数"),
        ({"date": "25/11/2026"}, "FDate", "格式不正确"),
    ],
)
async def test_save_rejects_what_the_erp_rejects(env: Env, change: dict[str, Any], field: str,
                                                 message: str) -> None:
    await env.login()
    reply = await env.form("Save", {"Model": model(**change)})
    errors = errors_of(reply)
    assert any(f == field and message in m for f, m in errors), errors
    assert env.sandbox.count() == 0


async def test_save_requires_header_fields(env: Env) -> None:
    await env.login()
    m = model()
    del m["FAccountBookID"], m["FVOUCHERGROUPID"]
    m["FCURRENCYID"] = {"FNumber": "XXX"}
    fields = {f for f, _ in errors_of(await env.form("Save", {"Model": m}))}
    assert fields == {"FAccountBookID", "FVOUCHERGROUPID", "FCURRENCYID"}


async def test_save_accepts_numbers_as_amounts(env: Env) -> None:
    await env.login()
    reply = await env.form("Save", {"Model": model(debit=12.5, credit="12.50")})
    assert reply["Result"]["ResponseStatus"]["IsSuccess"] is True


async def test_unknown_form_is_msgcode_4(env: Env) -> None:
    await env.login()
    reply = await env.form("Save", {"Model": model()}, formid="NOPE_FORM")
    assert reply["Result"]["ResponseStatus"]["MsgCode"] == 4


async def test_status_machine(env: Env) -> None:
    await env.login()
    saved = await env.form("Save", {"Model": model()})
    vid, number = saved["Result"]["Id"], saved["Result"]["Number"]
    audit_a = await env.form("Audit", {"Numbers": [number]})
    assert "未提交" in errors_of(audit_a)[0][1]
    assert (await env.form("Submit", {"Ids": str(vid)}))["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert "不能删除" in errors_of(await env.form("Delete", {"Ids": str(vid)}))[0][1]
    assert (await env.form("Audit", {"Numbers": [number]}))["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert env.sandbox.vouchers[vid].status == "C"
    assert "不能重复审核" in errors_of(await env.form("Audit", {"Ids": str(vid)}))[0][1]
    assert (await env.form("UnAudit", {"Ids": str(vid)}))["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert env.sandbox.vouchers[vid].status == "D"
    assert (await env.form("Delete", {"Ids": f"{vid}"}))["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert env.sandbox.count() == 0
    assert env.sandbox.find_by_reference("R-1") == []
    assert "不存在" in errors_of(await env.form("View", {"Id": str(vid)}))[0][1]


async def test_query_filters_pages_and_entry_rows(env: Env) -> None:
    await env.login()
    for ref in ("R-1", "O'Brien", "R-3"):
        await env.form("Save", {"Model": model(ref=ref)})

    async def query(**data: Any) -> Any:
        status, reply = await env.post(FORM + "ExecuteBillQuery", {"data": {"FormId": "GL_VOUCHER", **data}})
        assert status == 200
        return reply

    rows = await query(FieldKeys="FVOUCHERID,FBillNo,FDocumentStatus",
                       FilterString="F_HUILIU_REF = 'O''Brien'")
    assert rows == [[100002, "记-0002", "A"]]
    rows = await query(FieldKeys="FBillNo", FilterString="FVOUCHERID=100003 AND FDocumentStatus='A'")
    assert rows == [["记-0003"]]
    assert await query(FieldKeys="FBillNo", FilterString="F_HUILIU_REF='nope'") == []
    assert await query(FieldKeys="FBillNo", StartRow=1, Limit=1) == [["记-0002"]]
    assert await query(FieldKeys="FBillNo", TopRowCount=2) == [["记-0001"], ["记-0002"]]
    rows = await query(FieldKeys="FBillNo,FACCOUNTID.FNumber,FDEBIT,FEXPLANATION",
                       FilterString="F_HUILIU_REF='R-1'")
    assert rows == [["记-0001", "6602.03", "100.00", "差旅费"], ["记-0001", "2241.01", 0, "差旅费"]]


@pytest.mark.parametrize("filter_string", ["F_HUILIU_REF like 'R%'", "F_HUILIU_REF='R-1' or FBillNo='x'",
                                           "F_HUILIU_REF='R-1", "FNOPE='x'"])
async def test_query_refuses_what_it_cannot_parse(env: Env, filter_string: str) -> None:
    await env.login()
    status, reply = await env.post(FORM + "ExecuteBillQuery", {"data": {
        "FormId": "GL_VOUCHER", "FieldKeys": "FBillNo", "FilterString": filter_string}})
    assert status == 200
    inner = reply[0][0]["Result"]["ResponseStatus"]
    assert inner["IsSuccess"] is False
    assert inner["Errors"][0]["FieldName"] in {"FilterString", "FieldKeys"}


async def test_faults_rate_limit_server_error_drop_and_applied_reply_lost(env: Env) -> None:
    await env.login()
    env.sandbox.faults.script("save", Fault(FaultKind.RATE_LIMIT, retry_after=3),
                              Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.DROP),
                              Fault(FaultKind.APPLIED_REPLY_LOST))
    url = f"{env.url}/k3cloud/{FORM}Save.common.kdsvc"
    headers = {"Cookie": f"kdservice-sessionid={env.session}"}
    body = {"formid": "GL_VOUCHER", "data": {"Model": model()}}
    async with env.http.post(url, json=body, headers=headers) as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "3")
    async with env.http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 500
    assert env.sandbox.count() == 0
    with pytest.raises(aiohttp.ClientError):
        async with env.http.post(url, json=body, headers=headers) as resp:
            await resp.read()
    assert env.sandbox.count() == 0
    with pytest.raises(aiohttp.ClientError):
        async with env.http.post(url, json=body, headers=headers) as resp:
            await resp.read()
    assert env.sandbox.count() == 1  # applied, reply lost


async def test_expired_token_fault_invalidates_the_session(env: Env) -> None:
    await env.login()
    env.sandbox.faults.script("view", Fault(FaultKind.EXPIRED_TOKEN))
    assert errors_of(await env.form("View", {"Number": "x"}))[0][1] == SESSION_LOST_MESSAGE
    save = await env.form("Save", {"Model": model()})
    assert save["Result"]["ResponseStatus"]["MsgCode"] == 1


async def test_http_control_endpoints(env: Env) -> None:
    await env.login()
    async with env.http.post(f"{env.url}/_sandbox/faults",
                             json={"script": {"save": [{"kind": "server_error"}]}}) as resp:
        assert resp.status == 200
    status, _ = await env.post(FORM + "Save", {"formid": "GL_VOUCHER", "data": {"Model": model()}})
    assert status == 500
    saved = await env.form("Save", {"Model": model(ref="R-9")})
    await env.form("Submit", {"Ids": str(saved["Result"]["Id"])})
    async with env.http.get(f"{env.url}/_sandbox/state") as resp:
        state = await resp.json()
    assert state["vouchers"] == 1
    assert state["by_status"] == {"B": 1}
    assert state["list"] == [{"id": saved["Result"]["Id"], "number": "记-0001", "reference": "R-9",
                              "status": "B"}]
