"""The ERPNext sandbox's accounting on the wire: Journal and Payment Entries, their refusals and the GL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import SandboxServer
from huiliu.sandbox.erpnext import ErpnextSandbox
from huiliu.testing import FakeClock

AUTH = {"Authorization": "token erp-key:erp-secret"}


class Wire:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def insert(self, doctype: str, doc: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(f"{self.url}/api/resource/{doctype}", json=doc, headers=AUTH) as resp:
            return resp.status, await resp.json()

    async def submit(self, doctype: str, name: str) -> tuple[int, Any]:
        async with self.http.put(f"{self.url}/api/resource/{doctype}/{name}", json={"docstatus": 1},
                                 headers=AUTH) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def wire() -> AsyncIterator[tuple[ErpnextSandbox, Wire]]:
    sandbox = ErpnextSandbox(clock=FakeClock(), closed_until=date(2026, 3, 31))
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield sandbox, Wire(http, server.url)


def journal(debit: float, credit: float, day: str = "2026-11-20", account: str = "6602 - 管理费用 - HL",
            ) -> dict[str, Any]:
    return {"posting_date": day, "accounts": [
        {"account": account, "debit_in_account_currency": debit, "cost_center": "研发部 - HL"},
        {"account": "2241 - 其他应付款 - HL", "credit_in_account_currency": credit}]}


async def test_journal_entry_posts_gl_on_submit_and_marks_it_on_cancel(wire: tuple[ErpnextSandbox, Wire]) -> None:
    sandbox, w = wire
    status, body = await w.insert("Journal Entry", journal(10.05, 10.05))
    assert (status, body["data"]["name"], body["data"]["total_debit"]) == (200, "ACC-JV-2026-00001", 10.05)
    assert sandbox.docs("GL Entry") == {}
    status, body = await w.submit("Journal Entry", "ACC-JV-2026-00001")
    assert (status, body["data"]["docstatus"]) == (200, 1)
    gl = [(e["account"], e["debit"], e["credit"], e["cost_center"]) for e in sandbox.docs("GL Entry").values()]
    assert gl == [("6602 - 管理费用 - HL", 10.05, 0.0, "研发部 - HL"), ("2241 - 其他应付款 - HL", 0.0, 10.05, None)]
    sandbox.ledger.cancel("Journal Entry", "ACC-JV-2026-00001")
    assert {e["is_cancelled"] for e in sandbox.docs("GL Entry").values()} == {1}


async def test_unbalanced_and_unknown_account_are_refused_on_save(wire: tuple[ErpnextSandbox, Wire]) -> None:
    sandbox, w = wire
    status, body = await w.insert("Journal Entry", journal(10.05, 10.04))
    assert (status, body["exc_type"]) == (417, "ValidationError")
    assert "Total Debit must be equal to Total Credit. The difference is 0.01" in body["_server_messages"]
    status, body = await w.insert("Journal Entry", journal(1, 1, account="9999 - 无 - HL"))
    assert (status, body["exc_type"]) == (417, "LinkValidationError")
    status, body = await w.insert("Journal Entry", journal(0, 0))
    assert "Both Debit and Credit values cannot be zero" in body["_server_messages"]
    assert sandbox.docs("Journal Entry") == {}


async def test_closed_period_refuses_submission(wire: tuple[ErpnextSandbox, Wire]) -> None:
    sandbox, w = wire
    await w.insert("Journal Entry", journal(1, 1, day="2026-03-31"))
    status, body = await w.submit("Journal Entry", "ACC-JV-2026-00001")
    assert (status, body["exc_type"]) == (417, "ClosedAccountingPeriod")
    assert sandbox.docs("Journal Entry")["ACC-JV-2026-00001"]["docstatus"] == 0
    assert sandbox.docs("GL Entry") == {}


async def test_payment_entry_needs_a_positive_amount_and_a_bank_reference(wire: tuple[ErpnextSandbox, Wire]) -> None:
    sandbox, w = wire
    sandbox.docs("Supplier")["某某"] = {"name": "某某", "supplier_name": "某某", "docstatus": 0}
    base = {"payment_type": "Pay", "party_type": "Supplier", "party": "某某", "posting_date": "2026-11-20",
            "paid_from": "1002 - 银行存款 - HL", "reference_no": "FK-1", "reference_date": "2026-11-20"}
    status, body = await w.insert("Payment Entry", {**base, "paid_amount": 0})
    assert (status, "Paid Amount must be greater than zero" in body["_server_messages"]) == (417, True)
    status, body = await w.insert("Payment Entry", {**base, "paid_amount": 5, "reference_no": ""})
    assert "Reference No and Reference Date is mandatory for Bank transaction" in body["_server_messages"]
    status, body = await w.insert("Payment Entry", {**base, "paid_amount": 5})
    assert (status, body["data"]["status"], body["data"]["paid_to"]) == (200, "Draft", "2202 - 应付账款 - HL")
    status, body = await w.submit("Payment Entry", body["data"]["name"])
    assert (body["data"]["status"], len(sandbox.docs("GL Entry"))) == ("Submitted", 2)
