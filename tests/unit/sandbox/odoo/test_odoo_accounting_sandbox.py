"""The Odoo sandbox's accounting on the wire: entries and payments, their states, refusals and analytic lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import aiohttp
import pytest

from huiliu.sandbox import SandboxServer
from huiliu.sandbox.odoo import OdooSandbox
from huiliu.testing import FakeClock


class Wire:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        body = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
            "service": "object", "method": "execute_kw", "args": ["hub", 2, "odoo-key", model, method, args,
                                                                  kwargs or {}]}}
        async with self.http.post(f"{self.url}/jsonrpc", json=body) as resp:
            return await resp.json()

    async def json2(self, model: str, method: str, body: dict[str, Any]) -> tuple[int, Any]:
        headers = {"Authorization": "bearer odoo-key", "X-Odoo-Database": "hub"}
        async with self.http.post(f"{self.url}/json/2/{model}/{method}", json=body, headers=headers) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def wire() -> AsyncIterator[tuple[OdooSandbox, Wire]]:
    sandbox = OdooSandbox(clock=FakeClock(), lock_date=date(2026, 3, 31))
    async with SandboxServer(sandbox.app) as server, aiohttp.ClientSession() as http:
        yield sandbox, Wire(http, server.url)


def account(sandbox: OdooSandbox, code: str) -> int:
    return next(i for i, a in sandbox.records("account.account").items() if a["code"] == code)


def entry(sandbox: OdooSandbox, debit: float, credit: float, day: str = "2026-11-20") -> dict[str, Any]:
    return {"ref": "R-1", "date": day, "line_ids": [
        [0, 0, {"account_id": account(sandbox, "6602"), "name": "差旅费", "debit": debit, "credit": 0}],
        [0, 0, {"account_id": account(sandbox, "2241"), "name": "应付", "debit": 0, "credit": credit}]]}


async def test_entry_posts_once_and_reads_in_odoos_formats(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    [move_id] = (await w.kw("account.move", "create", [[entry(sandbox, 10.05, 10.05)]]))["result"]
    draft = (await w.kw("account.move", "read", [[move_id]], {"fields": ["name", "state", "journal_id"]}))["result"]
    assert draft == [{"id": move_id, "name": "/", "state": "draft", "journal_id": [2, "杂项"]}]
    assert (await w.kw("account.move", "action_post", [[move_id]]))["result"] is True
    lines = (await w.kw("account.move.line", "search_read", [[["move_id", "=", move_id]]],
                        {"fields": ["debit", "credit", "account_id", "parent_state"]}))["result"]
    assert [(line["debit"], line["credit"], line["parent_state"]) for line in lines] == [
        (10.05, 0.0, "posted"), (0.0, 10.05, "posted")]
    again = await w.kw("account.move", "action_post", [[move_id]])
    assert again["error"]["data"]["message"] == f"The entry MISC/2026/00001 (id {move_id}) is already posted."


async def test_unbalanced_entry_and_lock_date_are_refused_at_posting(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    [unbalanced] = (await w.kw("account.move", "create", [[entry(sandbox, 10.05, 10.04)]]))["result"]
    status, body = await w.json2("account.move", "action_post", {"ids": [unbalanced]})
    assert (status, body["name"]) == (422, "odoo.exceptions.UserError")
    assert "is not balanced" in body["message"]
    assert "¥ 10.05" in body["message"]
    [early] = (await w.kw("account.move", "create", [[entry(sandbox, 1, 1, "2026-03-31")]]))["result"]
    refused = await w.kw("account.move", "action_post", [[early]])
    assert "lock date 2026-03-31" in refused["error"]["data"]["message"]
    assert sandbox.records("account.move")[early]["state"] == "draft"


async def test_unknown_account_and_bad_amounts_are_refused_at_create(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    bad = entry(sandbox, 1, 1)
    bad["line_ids"][0][2]["account_id"] = 999
    unknown = await w.kw("account.move", "create", [[bad]])
    assert unknown["error"]["data"]["name"] == "odoo.exceptions.ValidationError"
    assert "account_id" in unknown["error"]["data"]["message"]
    negative = await w.kw("account.move", "create", [[entry(sandbox, -1, -1)]])
    assert negative["error"]["data"]["message"] == "Wrong credit or debit value in accounting entry!"
    zero = await w.kw("account.payment", "create", [[{"payment_type": "outbound", "partner_type": "supplier",
                                                      "partner_id": 1, "amount": 0}]])
    assert zero["error"]["data"]["message"] == "The payment amount must be strictly positive."
    assert sandbox.records("account.move") == {} and sandbox.records("account.payment") == {}


async def test_payment_moves_draft_posted_paid_and_cancel_rules(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    values = {"payment_type": "outbound", "partner_type": "supplier", "partner_id": 1, "amount": 0.07,
              "date": "2026-11-20", "ref": "R"}
    [paid, other] = (await w.kw("account.payment", "create", [[values, values]]))["result"]
    assert (await w.kw("account.payment", "action_post", [[paid]]))["result"] is True
    sandbox.book.accounting.settle(paid)
    [row] = (await w.kw("account.payment", "read", [[paid]], {"fields": ["name", "state", "amount", "is_matched"]})
             )["result"]
    assert row == {"id": paid, "name": "PBNK1/2026/00001", "state": "posted", "amount": 0.07, "is_matched": True}
    refused = await w.kw("account.payment", "action_cancel", [[paid]])
    assert "bank statement" in refused["error"]["data"]["message"]
    assert (await w.kw("account.payment", "action_cancel", [[other]]))["result"] is True
    assert sandbox.records("account.payment")[other]["state"] == "cancel"


async def test_posting_writes_analytic_lines_and_draft_removes_them(wire: tuple[OdooSandbox, Wire]) -> None:
    sandbox, w = wire
    [analytic] = (await w.kw("account.analytic.account", "create", [[{"name": "项目", "code": "P1",
                                                                      "plan_id": 1}]]))["result"]
    values = entry(sandbox, 100.01, 100.01)
    values["line_ids"][0][2]["analytic_distribution"] = {str(analytic): 50}
    [move_id] = (await w.kw("account.move", "create", [[values]]))["result"]
    await w.kw("account.move", "action_post", [[move_id]])
    [line] = sandbox.records("account.analytic.line").values()
    assert (str(line["amount"]), line["account_id"]) == ("-50.01", analytic)  # half of 100.01, rounded half-up
    await w.kw("account.move", "button_draft", [[move_id]])
    assert sandbox.records("account.analytic.line") == {}
