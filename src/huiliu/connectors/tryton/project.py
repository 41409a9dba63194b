"""Projects (项目) in Tryton: ensured by code, and their actual costs for "budget vs actual".

Tryton 8.2 has no project model in the installed set; a project is a normal analytic account
(``analytic_account.account``) with the project's code, under the root ``settings.project_root``
(:class:`~huiliu.connectors.tryton.accounting.Accounting`). Without the ``analytic_account`` module both
actions are refused with :class:`ConfigError`.

* ``tryton.project.ensure``: ``{"project": <project JSON>}`` → ``{"id", "code", "name", "created",
  "matched_by"}``; matched by code, created once.
* ``tryton.project.actuals``: ``{"code", "since"?, "until"?}`` → ``{"code", "currency", "actual", "lines":
  [{"document", "date", "account", "amount"}]}``.

What counts as actual cost: every analytic line on the project's analytic account whose journal entry
(``account.move``) is **posted** — draft moves are not booked yet. Each line's amount is debit − credit in
the company currency, so a credit (a refund, a reversal) reduces the actual; ``actual`` is their sum, to
the cent. The analytic lines are made by ``tryton.voucher.create`` (a voucher line with the ``project``
auxiliary dimension) and ``tryton.payment.create`` (a payment naming the project), or by people in Tryton.
``since`` and ``until`` are tz-aware ISO times; a line counts when its date (Tryton's effective date, a
calendar date) lies between the calendar dates of ``since`` and ``until`` in their own offsets, both
included. ``document`` is the move's number, ``account`` the general account's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.purchasing import request_part
from huiliu.connectors.tryton.accounting import ANALYTIC_LINE, Accounting
from huiliu.connectors.tryton.actions import TrytonCatalog
from huiliu.connectors.tryton.client import Domain, TrytonClient
from huiliu.connectors.tryton.mapping import to_money
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model.purchasing import project_from_json

__all__ = ["PROJECT_ACTUALS", "PROJECT_ENSURE", "ProjectActuals", "ProjectEnsure", "window"]

PROJECT_ENSURE = "tryton.project.ensure"
PROJECT_ACTUALS = "tryton.project.actuals"


def window(request: Mapping[str, Any], action: str) -> tuple[date | None, date | None]:
    """The calendar dates of ``since`` and ``until`` (tz-aware ISO times), each ``None`` when absent.

    Raises:
        MappingError: a value is not an ISO time, or has no offset.
    """
    dates: list[date | None] = []
    for name in ("since", "until"):
        raw = request.get(name)
        if raw is None:
            dates.append(None)
            continue
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError as exc:
            raise MappingError(t(f"{name} 不是 ISO 时间：{raw}", f"{name} is not an ISO time: {raw}"),
                               where=f"{action}.{name}", fix=t("如 2026-11-01T00:00:00+08:00",
                                                               "e.g. 2026-11-01T00:00:00+08:00")) from exc
        if moment.tzinfo is None:
            raise MappingError(t(f"{name} 缺少时区：{raw}", f"{name} has no time zone: {raw}"),
                               where=f"{action}.{name}", fix=t("加上时区，如 +08:00", "add an offset, e.g. +08:00"))
        dates.append(moment.date())
    return dates[0], dates[1]


class ProjectEnsure:
    """The ``tryton.project.ensure`` action.

    Args:
        accounting: finds and creates projects as analytic accounts.
    """

    def __init__(self, accounting: Accounting) -> None:
        self.accounting = accounting

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Match the project by code or create it. Safe to retry: a lost create is matched."""
        project = project_from_json(request_part(request, "project", PROJECT_ENSURE))
        row, created = await self.accounting.ensure_project(project)
        return {"id": row["id"], "code": row["code"], "name": row["name"], "created": created,
                "matched_by": None if created else "code"}


class ProjectActuals:
    """The ``tryton.project.actuals`` action (see the module docstring for what counts).

    Args:
        client: the Tryton client.
        accounting: finds the project.
        catalog: knows currency codes.
    """

    def __init__(self, client: TrytonClient, accounting: Accounting, catalog: TrytonCatalog) -> None:
        self.client = client
        self.accounting = accounting
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Sum the posted analytic lines of the project. Read-only, so safe to retry."""
        code = request.get("code")
        if not isinstance(code, str) or not code:
            raise MappingError(t("请求缺少项目编码 code", "the request has no project code"),
                               where=f"{PROJECT_ACTUALS}.code", fix=t("传入 {\"code\": 项目编码}",
                                                                       "pass {\"code\": project code}"))
        since, until = window(request, PROJECT_ACTUALS)
        project = await self.accounting.project(code, f"{PROJECT_ACTUALS}.code")
        domain: Domain = [["account", "=", project], ["move_line.move.state", "=", "posted"]]
        if since is not None:
            domain.append(["date", ">=", since])
        if until is not None:
            domain.append(["date", "<=", until])
        rows = await self.client.search_read(ANALYTIC_LINE, domain, ["date", "debit", "credit", "move_line"],
                                             order=(("date", "ASC"), ("id", "ASC")))
        [company] = await self.client.read("company.company", [await self.accounting.company()], ["currency"])
        currency = await self.catalog.currency_code(int(company["currency"]))
        move_lines = {row["id"]: row for row in await self.client.read(
            "account.move.line", sorted({int(r["move_line"]) for r in rows}), ["move", "account"])}
        moves = {row["id"]: row["number"] for row in await self.client.read(
            "account.move", sorted({int(m["move"]) for m in move_lines.values()}), ["number"])}
        accounts = {row["id"]: row["code"] for row in await self.client.read(
            "account.account", sorted({int(m["account"]) for m in move_lines.values()}), ["code"])}
        lines = []
        total = Decimal(0)
        for row in rows:
            amount = (to_money(row["debit"], currency, "analytic_line.debit").amount
                      - to_money(row["credit"], currency, "analytic_line.credit").amount)
            total += amount
            move_line = move_lines[int(row["move_line"])]
            lines.append({"document": moves[int(move_line["move"])], "date": row["date"],
                          "account": accounts[int(move_line["account"])], "amount": amount})
        return {"code": code, "currency": currency, "actual": total, "lines": lines}
