"""Odoo projects (项目) as analytic accounts: ``odoo.project.ensure`` and ``odoo.project.actuals``.

A project is an ``account.analytic.account`` (not a ``project.project``): the analytic account is what journal
items carry in their ``analytic_distribution`` and what Odoo's analytic lines are booked against, in every
edition, whether or not the Project app is installed. Its ``code`` (Reference) is the project code OA, ERP and
budgets share; it is created in the plan named by ``settings.analytic_plan`` (Odoo 16+ requires a plan).
A project's manager, department, budget and dates are not stored (analytic accounts have no such fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from huiliu.connectors.base import ActionContext, FindOrCreate
from huiliu.connectors.odoo.accounting import OdooBooks
from huiliu.connectors.odoo.client import Domain, OdooClient
from huiliu.connectors.odoo.errors import SYSTEM
from huiliu.connectors.odoo.mapping import many2one_id, many2one_name, text, to_money
from huiliu.connectors.odoo.settings import OdooSettings
from huiliu.connectors.purchasing import request_part
from huiliu.errors import MappingError, VendorRejected
from huiliu.i18n import t
from huiliu.model import Money
from huiliu.model.purchasing import Project, project_from_json

__all__ = ["PROJECT_ACTUALS", "PROJECT_ENSURE", "ProjectActuals", "ProjectEnsure", "request_date"]

PROJECT_ENSURE = "odoo.project.ensure"
PROJECT_ACTUALS = "odoo.project.actuals"

_ANALYTIC = "account.analytic.account"


def request_date(request: Mapping[str, Any], key: str, action: str) -> date | None:
    """``request[key]`` as a date (ISO ``YYYY-MM-DD``), or ``None`` when absent.

    Raises:
        MappingError: present but not a date.
    """
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(t(f"{key} 应为日期 YYYY-MM-DD，实际为 {value!r}", f"{key} must be a YYYY-MM-DD date, "
                             f"got {value!r}"), where=f"{action}.{key}",
                           fix=t("例如 2026-11-01", "e.g. 2026-11-01")) from None


class ProjectEnsure:
    """The ``odoo.project.ensure`` action.

    Request: ``{"project": <project_from_json JSON>}``. Result: ``{"id", "code", "name", "created",
    "matched_by"}``; ``id`` is the analytic account's id, ``matched_by`` ``"code"`` when one was found (``None``
    when created). Safe to retry: a project made by a lost attempt is matched by its code.
    """

    def __init__(self, client: OdooClient, settings: OdooSettings, books: OdooBooks) -> None:
        self.client = client
        self.settings = settings
        self.books = books
        self._once = FindOrCreate()
        self._plan: int | None = None

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Match the project by code or create its analytic account."""
        project = project_from_json(request_part(request, "project", PROJECT_ENSURE))
        row, created = await self._once.ensure(f"project:{project.code}", lambda: self.books.analytic(project.code),
                                               lambda: self._create(project))
        return {"id": row["id"], "code": text(row.get("code")), "name": text(row.get("name")), "created": created,
                "matched_by": None if created else "code"}

    async def plan(self) -> int:
        """The id of the analytic plan projects go in (``settings.analytic_plan``)."""
        if self._plan is None:
            name = self.settings.analytic_plan
            ids = await self.client.search("account.analytic.plan", [["name", "=", name]], limit=1, order="id asc")
            if not ids:
                raise MappingError(t(f"Odoo 中没有分析计划 {name}", f"Odoo has no analytic plan {name}"),
                                   where="settings.analytic_plan",
                                   fix=t("在 Odoo 会计 → 配置 → 分析计划中建立，或修改设置 analytic_plan",
                                         "create it in Odoo (Accounting → Configuration → Analytic Plans) or change "
                                         "analytic_plan"))
            self._plan = ids[0]
        return self._plan

    async def _create(self, project: Project) -> dict[str, Any]:
        account_id = await self.client.create(_ANALYTIC, {"name": project.name, "code": project.code,
                                                          "plan_id": await self.plan()})
        [row] = await self.client.read(_ANALYTIC, [account_id], ["code", "name"])
        return row


class ProjectActuals:
    """The ``odoo.project.actuals`` action: the actual costs booked against a project.

    Request: ``{"code", "since"?, "until"?}`` (dates ``YYYY-MM-DD``, both inclusive). Result: ``{"code",
    "currency", "actual": Decimal, "lines": [{"document", "date", "account", "amount"}]}``.

    What counts: every analytic line (``account.analytic.line``) of the project's analytic account dated within
    the range. Odoo writes analytic lines only for *posted* journal items (draft and cancelled entries have
    none), one per item carrying the project in its ``analytic_distribution``, with ``amount = -(debit −
    credit) × share``. A line's ``amount`` here is its cost, ``-amount``: a debit to the project (an expense)
    counts positive, a credit (a refund, a reversal) negative; ``actual`` is their sum in the company currency.
    Lines made by hand in Odoo (timesheets, manual analytic lines) count too. ``document`` is the journal entry's
    number (the analytic line's label when it has no journal item), ``account`` the general account's code.

    Raises:
        VendorRejected: no project with that code.
        MappingError: a malformed request.
    """

    def __init__(self, client: OdooClient, settings: OdooSettings, books: OdooBooks) -> None:
        self.client = client
        self.settings = settings
        self.books = books

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Sum the project's analytic lines. Read-only, so safe to retry."""
        code = request.get("code")
        if not isinstance(code, str) or not code:
            raise MappingError(t("请求需要项目编码 code", "the request needs the project code"),
                               where=f"{PROJECT_ACTUALS}.code", fix=t("传入 {\"code\": \"P-2026-01\"}",
                                                                      "pass {\"code\": \"P-2026-01\"}"))
        since = request_date(request, "since", PROJECT_ACTUALS)
        until = request_date(request, "until", PROJECT_ACTUALS)
        project = await self.books.analytic(code)
        if project is None:
            raise VendorRejected(t(f"Odoo 中找不到项目 {code}", f"no project {code} in Odoo"),
                                 system=SYSTEM, operation=f"{_ANALYTIC}.search", vendor_code="not_found",
                                 fix=t("检查项目编码，或先用 odoo.project.ensure 建立项目",
                                       "check the code, or ensure the project first (odoo.project.ensure)"))
        domain: Domain = [["account_id", "=", project["id"]]]
        if since is not None:
            domain.append(["date", ">=", since.isoformat()])
        if until is not None:
            domain.append(["date", "<=", until.isoformat()])
        rows = await self._all(domain)
        documents = await self._documents([m for r in rows if (m := many2one_id(r["move_line_id"])) is not None])
        codes = await self._codes([a for r in rows if (a := many2one_id(r["general_account_id"])) is not None])
        currency = self.settings.company_currency
        total = Money.zero(currency)
        lines = []
        for row in rows:
            cost = Money(-to_money(row["amount"], currency, "analytic.amount").amount, currency)
            total = total + cost
            move_line = many2one_id(row["move_line_id"])
            account = many2one_id(row["general_account_id"])
            lines.append({"document": documents.get(move_line, text(row["name"])) if move_line else text(row["name"]),
                          "date": date.fromisoformat(str(row["date"])) if row["date"] else None,
                          "account": codes.get(account) if account else None, "amount": cost.amount})
        return {"code": code, "currency": currency, "actual": total.amount, "lines": lines}

    async def _all(self, domain: Domain) -> list[dict[str, Any]]:
        fields = ["name", "date", "amount", "general_account_id", "move_line_id"]
        rows: list[dict[str, Any]] = []
        while True:
            page = await self.client.search_read("account.analytic.line", domain, fields, offset=len(rows),
                                                 limit=self.settings.page_size, order="date asc, id asc")
            rows.extend(page)
            if len(page) < self.settings.page_size:
                return rows

    async def _documents(self, move_lines: list[int]) -> dict[int, str | None]:
        rows = await self.client.read("account.move.line", sorted(set(move_lines)), ["move_id"])
        return {row["id"]: many2one_name(row["move_id"]) for row in rows}

    async def _codes(self, accounts: list[int]) -> dict[int, str | None]:
        rows = await self.client.read("account.account", sorted(set(accounts)), ["code"])
        return {row["id"]: text(row["code"]) for row in rows}
