"""ERPNext projects (项目): ``erpnext.project.ensure`` and ``erpnext.project.actuals``.

A project is an ERPNext ``Project`` (named by its series, ``PROJ-0001``); its code is kept in
``settings.project_code_field`` (a custom field, unconfirmed) or, without one, as its ``project_name``. Costs are
booked against it through the ``project`` of Journal Entry rows (and invoices, expense claims …), which the
General Ledger copies into its ``GL Entry`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from huiliu.connectors.base import ActionContext, FindOrCreate
from huiliu.connectors.erpnext.accounting import ErpnextBooks
from huiliu.connectors.erpnext.client import ErpnextClient, Filters
from huiliu.connectors.erpnext.errors import SYSTEM
from huiliu.connectors.erpnext.mapping import to_money
from huiliu.connectors.erpnext.settings import ErpnextSettings
from huiliu.connectors.purchasing import request_part
from huiliu.errors import MappingError, VendorRejected
from huiliu.i18n import t
from huiliu.model import Money
from huiliu.model.purchasing import Project, project_from_json

__all__ = ["PROJECT_ACTUALS", "PROJECT_ENSURE", "ProjectActuals", "ProjectEnsure"]

PROJECT_ENSURE = "erpnext.project.ensure"
PROJECT_ACTUALS = "erpnext.project.actuals"


def _date(request: Mapping[str, Any], key: str) -> date | None:
    value = request.get(key)
    if value is None:
        return None
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(t(f"{key} 应为日期 YYYY-MM-DD，实际为 {value!r}", f"{key} must be a YYYY-MM-DD date, "
                             f"got {value!r}"), where=f"{PROJECT_ACTUALS}.{key}",
                           fix=t("例如 2026-11-01", "e.g. 2026-11-01")) from None


class ProjectEnsure:
    """The ``erpnext.project.ensure`` action.

    Request: ``{"project": <project_from_json JSON>}``. Result: ``{"id", "code", "name", "created",
    "matched_by"}``; ``id`` is the Project's name (``PROJ-0001``), ``matched_by`` ``"code"`` when one was found.
    A created Project gets the name, dates (``expected_start_date`` / ``expected_end_date``) and budget
    (``estimated_costing``); the manager and department are not stored. Safe to retry: matched by code.
    """

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings, books: ErpnextBooks) -> None:
        self.client = client
        self.settings = settings
        self.books = books
        self._once = FindOrCreate()

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Match the project by code or create it."""
        project = project_from_json(request_part(request, "project", PROJECT_ENSURE))
        doc, created = await self._once.ensure(f"project:{project.code}", lambda: self.books.project(project.code),
                                               lambda: self._create(project))
        field = self.settings.project_code_field
        name = doc.get("project_name") if field else (doc.get("notes") or doc.get("project_name"))
        return {"id": doc["name"], "code": project.code, "name": name, "created": created,
                "matched_by": None if created else "code"}

    async def _create(self, project: Project) -> dict[str, Any]:
        field = self.settings.project_code_field
        values: dict[str, Any] = {"status": "Open"}
        if field:
            values.update({"project_name": project.name, field: project.code})
        else:
            values.update({"project_name": project.code, "notes": project.name})
        for key, value in (("expected_start_date", project.start and project.start.isoformat()),
                           ("expected_end_date", project.end and project.end.isoformat()),
                           ("estimated_costing", project.budget and float(project.budget.amount)),
                           ("company", self.settings.company)):
            if value:
                values[key] = value
        return await self.client.insert("Project", values)


class ProjectActuals:
    """The ``erpnext.project.actuals`` action: the actual costs booked against a project.

    Request: ``{"code", "since"?, "until"?}`` (dates ``YYYY-MM-DD``, both inclusive, on ``posting_date``).
    Result: ``{"code", "currency", "actual": Decimal, "lines": [{"document", "date", "account", "amount"}]}``.

    What counts: every ``GL Entry`` whose ``project`` is the project, not cancelled (``is_cancelled`` 0), posted
    within the range, on an Account whose ``root_type`` is ``Expense`` — i.e. what submitted Journal Entries,
    invoices and expense claims booked to the project's cost accounts. A line's ``amount`` is ``debit −
    credit`` in the company currency (a reversal counts negative); ``actual`` is their sum. Entries on balance
    sheet accounts (the payable a Payment Entry with a project settles, the bank) do not count: they are not
    costs. ``document`` is the voucher's name, ``account`` the account number (its name when it has none).

    Raises:
        VendorRejected: no project with that code.
        MappingError: a malformed request.
    """

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings, books: ErpnextBooks) -> None:
        self.client = client
        self.settings = settings
        self.books = books

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Sum the project's expense GL entries. Read-only, so safe to retry."""
        code = request.get("code")
        if not isinstance(code, str) or not code:
            raise MappingError(t("请求需要项目编码 code", "the request needs the project code"),
                               where=f"{PROJECT_ACTUALS}.code", fix=t("传入 {\"code\": \"P-2026-01\"}",
                                                                      "pass {\"code\": \"P-2026-01\"}"))
        since, until = _date(request, "since"), _date(request, "until")
        project = await self.books.project(code)
        if project is None:
            raise VendorRejected(t(f"ERPNext 中找不到项目 {code}", f"no project {code} in ERPNext"),
                                 system=SYSTEM, operation="Project.list", vendor_code="not_found",
                                 fix=t("检查项目编码，或先用 erpnext.project.ensure 建立项目",
                                       "check the code, or ensure the project first (erpnext.project.ensure)"))
        filters: Filters = [["project", "=", project["name"]], ["is_cancelled", "=", 0]]
        if since is not None:
            filters.append(["posting_date", ">=", since.isoformat()])
        if until is not None:
            filters.append(["posting_date", "<=", until.isoformat()])
        entries = await self._all("GL Entry", filters, ["voucher_no", "posting_date", "account", "debit", "credit"],
                                  "posting_date asc, creation asc")
        expense_filters: Filters = [["root_type", "=", "Expense"]]
        if self.settings.company:
            expense_filters.append(["company", "=", self.settings.company])
        expense = {str(a["name"]): a.get("account_number") or str(a["name"])
                   for a in await self._all("Account", expense_filters, ["name", "account_number"], "creation asc")}
        currency = self.settings.company_currency
        total = Money.zero(currency)
        lines = []
        for entry in entries:
            if entry["account"] not in expense:
                continue
            amount = Money(to_money(entry["debit"], currency, "GL Entry.debit").amount
                           - to_money(entry["credit"], currency, "GL Entry.credit").amount, currency)
            total = total + amount
            lines.append({"document": entry["voucher_no"], "date": date.fromisoformat(str(entry["posting_date"])),
                          "account": expense[entry["account"]], "amount": amount.amount})
        return {"code": code, "currency": currency, "actual": total.amount, "lines": lines}

    async def _all(self, doctype: str, filters: Filters, fields: list[str], order: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            page = await self.client.get_list(doctype, fields=fields, filters=filters, order_by=order,
                                              start=len(rows), limit=self.settings.page_size)
            rows.extend(page)
            if len(page) < self.settings.page_size:
                return rows
