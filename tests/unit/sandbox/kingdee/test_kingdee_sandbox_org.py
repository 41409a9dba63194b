"""The Kingdee sandbox's base data and contracts over real HTTP: what Save, 禁用 / 反禁用 and the query refuse.

Departments (``BD_Department``) and employees (``BD_Empinfo``) of :mod:`huiliu.sandbox.kingdee.org`, and
purchase contracts (``PUR_Contract``) of :mod:`huiliu.sandbox.kingdee.contracts`: every refusal in Kingdee's
words, on the field it names, and nothing kept when refused.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import SandboxServer
from huiliu.sandbox.kingdee import KingdeeSandbox

STUB = "Kingdee.BOS.WebApi.ServicesStub."
DEPT, EMP, CONTRACT = "BD_Department", "BD_Empinfo", "PUR_Contract"


@dataclass
class Env:
    sandbox: KingdeeSandbox
    url: str
    http: aiohttp.ClientSession
    session: str = ""

    async def call(self, op: str, formid: str, data: Any, **extra: Any) -> Any:
        async with self.http.post(f"{self.url}/k3cloud/{STUB}DynamicFormService.{op}.common.kdsvc",
                                  json={"formid": formid, "data": data, **extra},
                                  headers={"Cookie": f"kdservice-sessionid={self.session}"}) as resp:
            assert resp.status == 200
            return json.loads(await resp.text())

    async def save(self, formid: str, model: dict[str, Any]) -> dict[str, Any]:
        reply = await self.call("Save", formid, {"Model": model})
        status: dict[str, Any] = reply["Result"]["ResponseStatus"]
        return status


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sandbox = KingdeeSandbox(acct_id="AC1", username="api", password="pw")
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/k3cloud/{STUB}AuthService.ValidateUser.common.kdsvc",
                             json={"parameters": ["AC1", "api", "pw", 2052]}) as resp:
            session = (await resp.json(content_type=None))["KDSVCSessionId"]
        yield Env(sandbox, server.url, http, session)


def refused(status: dict[str, Any]) -> list[tuple[str | None, str]]:
    """The (field, message) pairs of a refused operation."""
    assert status["IsSuccess"] is False, status
    return [(e["FieldName"], e["Message"]) for e in status["Errors"]]


def department(number: str, name: str = "华东销售部", *, parent: str | None = None,
               org: str = "100") -> dict[str, Any]:
    model: dict[str, Any] = {"FNumber": number, "FName": name, "FCreateOrgId": {"FNumber": org},
                             "FUseOrgId": {"FNumber": org}}
    if parent is not None:
        model["FParentID"] = {"FNumber": parent}
    return model


def employee(number: str, posts: Any) -> dict[str, Any]:
    return {"FNumber": number, "FName": "张伟", "FCreateOrgId": {"FNumber": "100"}, "FUseOrgId": {"FNumber": "100"},
            "FPostEntity": posts}


@pytest.mark.parametrize(("model", "field", "message"), [
    (department("BM10", ""), "FName", "字段“名称”是必填项"),
    (department(""), "FNumber", "字段“编码”是必填项"),
    (department("BM10", org="999"), "FUseOrgId", "使用组织“999”不存在"),
    ({"FNumber": "BM10", "FName": "x", "FUseOrgId": {"FNumber": "100"}}, "FCreateOrgId", "字段“创建组织”是必填项"),
    (department("BM01"), "FNumber", "编码“BM01”已经存在，不允许重复"),
    (department("BM10", parent="BM99"), "FParentID", "上级部门“BM99”不存在或未审核"),
    (department("BM10", parent="BM10"), "FParentID", "上级部门不能是本部门或其下级部门"),
    (department("BM10", parent="BM02"), "FParentID", "上级部门“BM02”不存在或未审核"),  # saved, not audited
])
async def test_department_save_refuses_what_the_erp_refuses(env: Env, model: dict[str, Any], field: str,
                                                            message: str) -> None:
    env.sandbox.add_department("BM01", "销售中心")
    assert (await env.save(DEPT, department("BM02", "待审核部门")))["IsSuccess"] is True
    assert (field, message) in refused(await env.save(DEPT, model))
    assert env.sandbox.bill_count(DEPT) == 2


async def test_a_number_is_unique_per_use_organisation_only(env: Env) -> None:
    env.sandbox.books["002"] = "200"
    env.sandbox.add_department("BM01", "销售中心")
    status = await env.save(DEPT, department("BM01", org="200"))
    assert status["IsSuccess"] is True and env.sandbox.org_record(DEPT, "BM01", "200") is not None


async def test_an_audited_submitted_or_forbidden_record_is_not_modified(env: Env) -> None:
    audited = env.sandbox.add_department("BM01", "销售中心")
    update = {**department("BM01", "新名称"), "FDEPTID": audited.id}
    assert refused(await env.save(DEPT, update)) == [(None, "部门“BM01”已审核，不允许修改，请先反审核")]
    await env.call("UnAudit", DEPT, {"Ids": str(audited.id)})
    await env.call("Submit", DEPT, {"Ids": [audited.id]})
    assert refused(await env.save(DEPT, update)) == [(None, "部门“BM01”正在审核，不允许修改，请先反审核")]
    assert refused(await env.save(DEPT, {**update, "FDEPTID": 999})) == [("FDEPTID", "部门内码“999”对应的数据不存在")]
    assert audited.model["FName"] == "销售中心"

    draft = env.sandbox.add_department("BM02", "行政部")
    await env.call("ExcuteOperation", DEPT, {"Ids": [draft.id]}, opNumber="Forbid")
    draft.status = "A"  # 禁用 alone refuses a change, whatever the status
    assert refused(await env.save(DEPT, {**department("BM02", "x"), "FDEPTID": draft.id})) == [
        (None, "部门“BM02”已禁用，不允许修改")]


@pytest.mark.parametrize(("posts", "field", "message"), [
    ({"FPostDept": {"FNumber": "BM01"}}, "FPOSTENTITY", "任岗信息格式不正确"),
    ([{"FWorkOrgId": {"FNumber": "100"}}], "FPostDept", "第1行任岗信息：字段“任职部门”是必填项"),
    ([{"FPostDept": {"FNumber": "BM01"}}, {"FPostDept": {"FNumber": "BM99"}}], "FPostDept",
     "第2行任岗信息：部门“BM99”不存在或未审核"),
    ([{"FPostDept": {"FNumber": "BM09"}}], "FPostDept", "第1行任岗信息：部门“BM09”已禁用"),
])
async def test_employee_posts_need_a_usable_department(env: Env, posts: Any, field: str, message: str) -> None:
    env.sandbox.add_department("BM01", "销售中心")
    closed = env.sandbox.add_department("BM09", "已撤销部门")
    await env.call("ExcuteOperation", DEPT, {"Ids": [closed.id]}, opNumber="Forbid")
    assert (field, message) in refused(await env.save(EMP, employee("E1001", posts)))
    assert env.sandbox.bill_count(EMP) == 0


async def test_batch_save_refuses_per_item_and_counts_every_model(env: Env) -> None:
    env.sandbox.add_department("BM01", "销售中心")
    reply = await env.call("BatchSave", EMP, {"Model": [employee("E1001", [{"FPostDept": {"FNumber": "BM01"}}]),
                                                        "not a model", employee("", [])]})
    status = reply["Result"]["ResponseStatus"]
    assert [(e["DIndex"], e["Message"]) for e in status["Errors"]] == [(1, "数据包格式不正确"),
                                                                      (2, "字段“员工编号”是必填项")]
    assert [s["Number"] for s in status["SuccessEntitys"]] == ["E1001"]
    assert env.sandbox.org_saved[EMP.upper()] == 3 and env.sandbox.saved_models == 3
    for op, data in (("Save", {"Model": [employee("E1002", [])]}), ("BatchSave", {"Model": []}),
                     ("BatchSave", {})):
        assert refused((await env.call(op, EMP, data))["Result"]["ResponseStatus"]) == [
            ("Model", "参数Model不能为空")]


async def test_forbid_and_enable_refuse_what_changes_nothing_and_a_department_with_people(env: Env) -> None:
    sales = env.sandbox.add_department("BM01", "销售中心")
    assert (await env.save(EMP, employee("E1001", [{"FPostDept": {"FNumber": "BM01"}}])))["IsSuccess"] is True
    person = env.sandbox.org_record(EMP, "E1001")
    assert person is not None

    async def execute(form: str, op_number: str, ids: Any) -> dict[str, Any]:
        status: dict[str, Any] = (await env.call("ExcuteOperation", form, {"Ids": ids},
                                                 opNumber=op_number))["Result"]["ResponseStatus"]
        return status

    assert refused(await execute(DEPT, "Forbid", [sales.id])) == [
        (None, "部门“BM01”下还有未禁用的员工（E1001），不能禁用")]
    assert refused(await execute(EMP, "Enable", [person.id])) == [("FForbidStatus", "员工“E1001”未禁用，无需反禁用")]
    assert (await execute(EMP, "Forbid", f"{person.id}, "))["IsSuccess"] is True  # Ids as a string
    assert refused(await execute(EMP, "Forbid", [person.id])) == [("FForbidStatus", "员工“E1001”已经是禁用状态")]
    assert (await execute(DEPT, "Forbid", [sales.id]))["IsSuccess"] is True  # nobody in use any more
    assert sales.model["FForbidStatus"] == "B"
    status = await execute(DEPT, "Enable", [sales.id, 999, "x"])
    assert [(e["DIndex"], e["Message"]) for e in status["Errors"]] == [(1, "数据不存在"), (2, "数据不存在")]
    assert sales.model["FForbidStatus"] == "A"

    reply = await env.call("ExcuteOperation", DEPT, {"Ids": [sales.id]}, opNumber="Cancel")
    assert reply["Result"]["ResponseStatus"]["MsgCode"] == 4
    reply = await env.call("ExcuteOperation", "GL_VOUCHER", {"Ids": [1]}, opNumber="Forbid")
    assert refused(reply["Result"]["ResponseStatus"]) == [("formid", "本模拟器不支持对“GL_VOUCHER”执行Forbid")]


async def test_query_reads_posts_and_refuses_unknown_field_keys(env: Env) -> None:
    env.sandbox.add_department("BM01", "销售中心")
    env.sandbox.add_department("BM02", "行政部", parent="BM01")
    posts = [{"FPostDept": {"FNumber": "BM01"}}, {"FPostDept": {"FNumber": "BM02"}}]
    assert (await env.save(EMP, employee("E1001", posts)))["IsSuccess"] is True

    async def query(form: str, keys: str, filter_: str = "") -> Any:
        return await env.call("ExecuteBillQuery", form, {"FormId": form, "FieldKeys": keys, "FilterString": filter_})

    assert await query(DEPT, "FNumber,FParentID.FNumber", "FNumber = 'BM02'") == [["BM02", "BM01"]]
    assert await query(EMP, "FNumber,FPostDept.FNumber") == [["E1001", "BM01"], ["E1001", "BM02"]]
    for keys, message in (("", "参数FieldKeys不能为空"),
                          ("FNumber,FSalary", "字段“FSalary”在业务对象BD_DEPARTMENT中不存在")):
        [[reply]] = await query(DEPT, keys)
        assert refused(reply["Result"]["ResponseStatus"]) == [("FieldKeys", message)]


def contract(**change: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "FBillTypeID": {"FNumber": "CGHT01_SYS"}, "FCONTRACTNAME": "2026年度办公用品采购合同",
        "FDate": "2026-11-20", "FBeginDate": "2026-12-01", "FEndDate": "2027-11-30",
        "FSupplierId": {"FNumber": "GYS001"}, "FPurchaseOrgId": {"FNumber": "100"},
        "FContractFin": {"FSettleCurrId": {"FNumber": "PRE001"}}, "FTotalAmount": "120000.50"}
    return {**model, **change}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"FBillTypeID": None}, "FBillTypeID", "字段“单据类型”是必填项"),
    ({"FCONTRACTNAME": "  "}, "FCONTRACTNAME", "字段“合同名称”是必填项"),
    ({"FDate": ""}, "FDate", "字段“签订日期”是必填项"),
    ({"FBeginDate": "2026-13-01"}, "FBeginDate", "生效日期“2026-13-01”格式不正确"),
    ({"FEndDate": "2026-11-30"}, "FEndDate", "失效日期“2026-11-30”不能早于生效日期“2026-12-01”"),
    ({"FSupplierId": None}, "FSupplierId", "字段“供应商”是必填项"),
    ({"FSupplierId": {"FNumber": "GYS002"}}, "FSupplierId", "供应商“GYS002”不存在或未审核"),
    ({"FSupplierId": {"FNumber": "GYS999"}}, "FSupplierId", "供应商“GYS999”不存在或未审核"),
    ({"FPurchaseOrgId": {"FNumber": "999"}}, "FPurchaseOrgId", "采购组织“999”不存在"),
    ({"FContractFin": {}}, "FSettleCurrId", "字段“结算币别”是必填项"),
    ({"FTotalAmount": "abc"}, "FTotalAmount", "价税合计格式不正确"),
    ({"FTotalAmount": "0"}, "FTotalAmount", "价税合计必须大于0"),
    ({"FTotalAmount": "100.005"}, "FTotalAmount", "价税合计精度不能超过2位小数"),
])
async def test_contract_save_refuses_what_the_erp_refuses(env: Env, change: dict[str, Any], field: str,
                                                          message: str) -> None:
    env.sandbox.add_supplier("GYS001", "上海晨光文具有限公司")
    unaudited = await env.call("Save", "BD_Supplier", {"Model": {"FNumber": "GYS002", "FName": "未审核供应商"}})
    assert unaudited["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert (field, message) in refused(await env.save(CONTRACT, contract(**change)))
    assert env.sandbox.bill_count(CONTRACT) == 0
    saved = await env.save(CONTRACT, contract())
    assert saved["IsSuccess"] is True and [s["Number"] for s in saved["SuccessEntitys"]] == ["CGHT000001"]
