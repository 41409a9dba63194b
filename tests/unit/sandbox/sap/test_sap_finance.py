"""The SAP sandbox's payment entries (KZ), enterprise projects and journal entry item view over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from test_sap_sandbox import AUTH, Env

from huiliu.sandbox import Fault, FaultKind, SandboxServer
from huiliu.sandbox.sap import SapSandbox
from huiliu.testing import FakeClock

READ = "/sap/opu/odata/sap/API_JOURNALENTRYITEMBASIC_SRV/A_JournalEntryItemBasic"


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sandbox = SapSandbox(username="U", password="P", clock=FakeClock(), closed_periods={"2026-10"})
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        e = Env(sandbox, server.url, http)
        await e.fetch()
        status, _, _ = await e.post("A_BusinessPartner", {"BusinessPartnerCategory": "2",
                                                          "OrganizationBPName1": "供应商甲"})
        assert status == 201
        status, _, _ = await e.post("A_EnterpriseProject", {"Project": "P1", "ProjectDescription": "项目一",
                                                            "ProjectProfileCode": "YP02"})
        assert status == 201
        yield e


def kz(amount: str = "100.10", supplier: str = "10300001", on: str = "2026-11-25",
       wbs: str | None = None) -> dict[str, Any]:
    vendor: dict[str, Any] = {"GLAccount": "2202.01", "Supplier": supplier, "AmountInTransactionCurrency": amount,
                              "DebitCreditCode": "S" if not amount.startswith("-") and amount != "0" else "H"}
    if wbs:
        vendor["WBSElement"] = wbs
    negated = amount[1:] if amount.startswith("-") else "-" + amount
    return {"CompanyCode": "1010", "AccountingDocumentType": "KZ", "PostingDate": on, "DocumentDate": on,
            "DocumentReferenceID": "REF-FK", "to_Item": {"results": [
                vendor, {"GLAccount": "1002.01", "AmountInTransactionCurrency": negated,
                         "DebitCreditCode": "H" if vendor["DebitCreditCode"] == "S" else "S"}]}}


async def test_payment_entry_is_posted_and_served_item_by_item(env: Env) -> None:
    status, _, text = await env.post("A_JournalEntry", kz())
    assert status == 201
    assert json.loads(text)["d"]["AccountingDocument"] == "100000001"
    params = {"$filter": "CompanyCode eq '1010' and AccountingDocumentType eq 'KZ'", "$format": "json"}
    async with env.http.get(f"{env.url}{READ}", headers=AUTH, params=params) as resp:
        rows = (await resp.json())["d"]["results"]
    assert [(r["LedgerGLLineItem"], r["AmountInCompanyCodeCurrency"], r["DocumentReferenceID"]) for r in rows] == [
        ("000001", "100.10", "REF-FK"), ("000002", "-100.10", "REF-FK")]
    assert rows[0]["PostingDate"] == "/Date(1795564800000)/"
    assert rows[0]["Supplier"] == "10300001"


@pytest.mark.parametrize(("body", "message"), [
    (kz(supplier="404"), "供应商 404 不存在"),
    (kz(amount="-5.00"), "付款金额必须大于零"),
    (kz(amount="0"), "付款金额必须大于零"),
    (kz(on="2026-10-31"), "过账期间 2026-10 未打开"),
    (kz(wbs="P9"), "WBS 元素 P9 不存在"),
    ({**kz(), "to_Item": {"results": [{"GLAccount": "1002.01", "AmountInTransactionCurrency": "1",
                                       "DebitCreditCode": "S"},
                                      {"GLAccount": "1002.01", "AmountInTransactionCurrency": "-1",
                                       "DebitCreditCode": "H"}]}}, "需要一个供应商行项目"),
])
async def test_payment_checks_name_the_problem(env: Env, body: dict[str, Any], message: str) -> None:
    status, _, text = await env.post("A_JournalEntry", body)
    assert status == 400
    assert message in json.loads(text)["error"]["message"]["value"]
    assert env.sandbox.payments() == []


async def test_project_rules_and_apply_then_drop(env: Env) -> None:
    status, _, text = await env.post("A_EnterpriseProject", {"Project": "P1", "ProjectDescription": "项目一",
                                                             "ProjectProfileCode": "YP02"})
    assert (status, "项目 P1 已存在" in text) == (400, True)
    status, _, text = await env.post("A_EnterpriseProject", {"Project": "P2", "ProjectDescription": "项目二"})
    assert (status, "ProjectProfileCode" in text) == (400, True)
    env.sandbox.faults.script("A_JournalEntry.create", Fault(FaultKind.APPLIED_REPLY_LOST))
    with pytest.raises(aiohttp.ClientError):
        await env.post("A_JournalEntry", kz(wbs="P1"))
    assert len(env.sandbox.payments()) == 1  # applied, reply lost
