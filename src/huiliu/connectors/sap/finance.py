"""SAP supplier payments and enterprise projects, each action idempotent under retries (DESIGN.md, invariant 3).

The request and result shapes are the same for every ERP connector (``<erp>.payment.create`` …), so a flow
can switch ERPs by changing the action's prefix. SAP has no client idempotency key (contract §8, §10.3): the
hub's reference is stored in the entry's ``settings.journal_reference_field`` and looked up before a retry.

* ``sap.payment.create``: ``{"payment": <huiliu.model.purchasing.payment_from_json JSON>}``. The supplier is
  matched or created once (``ensure_party``); the outgoing payment is posted as a journal entry of type
  ``settings.payment_document_type`` (``KZ``): debit the supplier, credit the bank (see
  :func:`~.mapping.payment_entry_values`). An attempt ≥ 2 looks the reference up first and adopts what it
  finds; a post that got no answer is :class:`AmbiguousOutcome`. The entry is read back from
  ``settings.journal_read_entity`` (``A_JournalEntryItemBasic``).
* ``sap.payment.read``: ``{"id": "<CompanyCode>/<AccountingDocument>/<FiscalYear>"}`` or ``{"reference"}``.

  Both answer ``{"id", "number", "state", "reference", "amount", "currency", "paid", "adopted"}``: ``amount``
  a ``Decimal`` (the supplier line); ``state`` ``posted`` or ``reversed`` (an item flagged ``IsReversed``,
  unconfirmed field); ``paid`` is true while posted, since a ``KZ`` entry records the money leaving the bank
  (no payment run or payment advice is involved); ``adopted`` as for purchase orders (false on a read).
* ``sap.project.ensure``: ``{"project"}`` → ``{"id", "code", "name", "created", "matched_by"}``: an
  **enterprise project** (``A_EnterpriseProject``, ``id`` its ``ProjectUUID``), matched by ``Project`` (its
  code) or created. Costs are booked on its top WBS element, whose ID is the project code (unconfirmed).
* ``sap.project.actuals``: see :meth:`SapFinance.project_actuals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from huiliu.connectors.base import ActionContext, ActionRegistry, FindOrCreate
from huiliu.connectors.purchasing import request_part
from huiliu.connectors.sap.client import SapClient, literal, parse_date
from huiliu.connectors.sap.errors import SYSTEM
from huiliu.connectors.sap.mapping import (
    payment_entry_values,
    payment_from_json,
    project_from_json,
    project_values,
    short_reference,
    to_money,
)
from huiliu.connectors.sap.settings import SapSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t

if TYPE_CHECKING:
    from huiliu.connectors.sap.actions import SapActions

__all__ = ["PAYMENT_CREATE", "PAYMENT_READ", "PROJECT_ACTUALS", "PROJECT_ENSURE", "SapFinance",
           "register_finance_actions"]

PAYMENT_CREATE = "sap.payment.create"
PAYMENT_READ = "sap.payment.read"
PROJECT_ENSURE = "sap.project.ensure"
PROJECT_ACTUALS = "sap.project.actuals"


class SapFinance:
    """The payment and project actions, sharing the client, the settings and the partner catalog.

    Args:
        client: the SAP client.
        settings: the connector settings.
        actions: the purchase actions, whose ``ensure_party`` matches or creates suppliers.
    """

    def __init__(self, client: SapClient, settings: SapSettings, actions: SapActions) -> None:
        self._once = FindOrCreate()
        self.client = client
        self.settings = settings
        self.actions = actions

    # ----------------------------------------------------------------- journal entry items

    async def items(self, condition: str) -> list[dict[str, Any]]:
        """Every journal entry item matching an OData ``$filter``, a page at a time."""
        s = self.settings
        found: list[dict[str, Any]] = []
        while True:
            rows = await self.client.get(s.journal_read_service, s.journal_read_entity,
                                         f"{s.journal_read_entity}.query",
                                         {"$filter": condition, "$orderby": "AccountingDocument",
                                          "$skip": str(len(found)), "$top": str(s.page_size)})
            page = [dict(r) for r in rows or [] if isinstance(r, Mapping)]
            found.extend(page)
            if len(page) < s.page_size:
                return found

    async def find_payment(self, reference: str) -> list[dict[str, Any]] | None:
        """The items of the payment entry whose reference field holds ``reference`` (the oldest), or ``None``."""
        s = self.settings
        stored = short_reference(reference, s.journal_reference_length)
        items = await self.items(f"CompanyCode eq {literal(s.company_code)} and "
                                 f"{s.journal_reference_field} eq {literal(stored)} and "
                                 f"AccountingDocumentType eq {literal(s.payment_document_type)}")
        if not items:
            return None
        first = min(items, key=lambda i: (str(i.get("FiscalYear")), str(i.get("AccountingDocument"))))
        return [i for i in items if (i.get("AccountingDocument"), i.get("FiscalYear"))
                == (first.get("AccountingDocument"), first.get("FiscalYear"))]

    async def entry(self, company: str, number: str, year: str) -> list[dict[str, Any]]:
        """The items of one journal entry, or a :class:`VendorRejected` ``not_found``."""
        items = await self.items(f"CompanyCode eq {literal(company)} and AccountingDocument eq {literal(number)}"
                                 f" and FiscalYear eq {literal(year)}")
        if not items:
            raise VendorRejected(t(f"SAP 中找不到凭证 {company}/{number}/{year}",
                                   f"no journal entry {company}/{number}/{year} in SAP"),
                                 system=SYSTEM, operation=f"{self.settings.journal_read_entity}.query",
                                 vendor_code="not_found",
                                 fix=t("检查流程传入的付款 id", "check the payment id the flow passes"))
        return items

    def _payment(self, items: list[dict[str, Any]], reference: Any, adopted: bool) -> dict[str, Any]:
        head = items[0]
        vendor = next((i for i in items if i.get("Supplier")), head)
        currency = str(vendor.get("TransactionCurrency") or self.settings.company_currency)
        amount = to_money(vendor.get("AmountInTransactionCurrency"), currency, "AmountInTransactionCurrency").amount
        reversed_ = any(i.get("IsReversed") in (True, "X") for i in items)
        number = str(head.get("AccountingDocument"))
        return {"id": f"{head.get('CompanyCode')}/{number}/{head.get('FiscalYear')}", "number": number,
                "state": "reversed" if reversed_ else "posted", "reference": reference, "amount": abs(amount),
                "currency": currency, "paid": not reversed_, "adopted": adopted}

    # ----------------------------------------------------------------- payments

    async def payment_create(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.payment.create`` (see the module docstring for shapes)."""
        s = self.settings
        payment = payment_from_json(request_part(request, "payment", PAYMENT_CREATE))
        items = await self.find_payment(ctx.reference) if ctx.attempt > 1 else None
        adopted = items is not None
        if items is None:
            partner = await self.actions.ensure_party(payment.supplier)
            body = payment_entry_values(payment, ctx.reference, supplier=str(partner["id"]), settings=s)
            try:
                posted = await self.client.write("POST", s.payment_service, s.payment_entity,
                                                 f"{s.payment_entity}.create", body)
            except NoReply as exc:
                raise AmbiguousOutcome(
                    t("过账付款凭证未得到应答，可能已生成", "posting the payment got no answer; it may exist"),
                    system=SYSTEM, operation=f"{s.payment_entity}.create", retry_after=s.ambiguous_wait,
                    fix=t("稍后按引用查找并沿用，不会重复付款", "it is looked up by reference later, never paid twice"),
                ) from exc
            posted = posted if isinstance(posted, Mapping) else {}
            items = await self.entry(str(posted.get("CompanyCode") or s.company_code),
                                     str(posted.get("AccountingDocument")), str(posted.get("FiscalYear")))
        return self._payment(items, ctx.reference, adopted)

    async def payment_read(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.payment.read``: ``{"id"}`` or ``{"reference"}`` → the payment shape. Read-only."""
        raw, reference = request.get("id"), request.get("reference")
        if isinstance(raw, str) and raw.count("/") == 2 and all(raw.split("/")):
            company, number, year = raw.split("/")
            items = await self.entry(company, number, year)
            return self._payment(items, items[0].get(self.settings.journal_reference_field), False)
        if isinstance(reference, str) and reference:
            found = await self.find_payment(reference)
            if found is None:
                raise VendorRejected(t(f"SAP 中找不到引用为 {reference} 的付款凭证",
                                       f"no payment in SAP has reference {reference}"),
                                     system=SYSTEM, operation=f"{self.settings.journal_read_entity}.query",
                                     vendor_code="not_found", fix=t("确认付款是否已过账",
                                                                    "check whether the payment was posted"))
            return self._payment(found, reference, False)
        raise MappingError(t("请求需要 id（公司代码/凭证号/会计年度）或 reference",
                             "the request needs an id (company/document/year) or a reference"),
                           where=f"{PAYMENT_READ}.id",
                           fix=t("传入 {\"id\": \"1010/100000001/2026\"} 或 {\"reference\": 引用}",
                                 "pass {\"id\": \"1010/100000001/2026\"} or {\"reference\": reference}"))

    # ----------------------------------------------------------------- projects

    async def project_ensure(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.project.ensure``: match the enterprise project by code, else create it. Safe to retry."""
        s = self.settings
        project = project_from_json(request_part(request, "project", PROJECT_ENSURE))
        code = project.code[:24]

        async def find() -> dict[str, Any] | None:
            rows = await self.client.get(s.project_service, s.project_entity, f"{s.project_entity}.query",
                                         {"$filter": f"Project eq {literal(code)}", "$top": "1"})
            return dict(rows[0]) if isinstance(rows, list) and rows else None

        async def create() -> dict[str, Any]:
            row = await self.client.write("POST", s.project_service, s.project_entity, f"{s.project_entity}.create",
                                          project_values(project, s))
            return dict(row) if isinstance(row, Mapping) else {"Project": code}

        row, created = await self._once.ensure(f"project:{code}", find, create)
        return {"id": row.get("ProjectUUID") or row.get("Project"), "code": row.get("Project"),
                "name": row.get("ProjectDescription", project.name), "created": created,
                "matched_by": None if created else "code"}

    async def project_actuals(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.project.actuals``: the actual costs booked against a project.

        Request: ``{"code", "since"?, "until"?}`` (ISO dates); ``until`` defaults to today (UTC), ``since`` to
        1 January of ``until``'s year. Result: ``{"code", "currency", "actual": Decimal, "lines": [{"document",
        "date", "account", "amount"}]}``.

        What counts: every journal entry item of ``settings.company_code`` in ``A_JournalEntryItemBasic`` whose
        ``settings.journal_project_field`` (``WBSElement``) is the project's code, whose ``PostingDate`` lies
        in ``[since, until]`` and whose ``GLAccount`` starts with one of ``settings.cost_account_prefixes``;
        each counts its ``AmountInCompanyCodeCurrency`` as SAP signs it (debit positive, credit negative), so a
        reversal reduces the actual. Project and company are filtered by SAP, dates and accounts by the hub.
        Commitments (purchase orders), payments and plan values do not count. Read-only.
        """
        s = self.settings
        code = request.get("code")
        if not isinstance(code, str) or not code.strip():
            raise MappingError(t("请求缺少项目编码 code", "the request has no project code"),
                               where=f"{PROJECT_ACTUALS}.code",
                               fix=t("传入 {\"code\": 项目编码}", "pass {\"code\": project code}"))
        code = code.strip()
        until = _day(request, "until") or self.client.http.clock.now().date()
        since = _day(request, "since") or date(until.year, 1, 1)
        if since > until:
            raise MappingError(t("since 晚于 until", "since is after until"), where=f"{PROJECT_ACTUALS}.since",
                               fix=t("检查起止日期", "check the dates"))
        items = await self.items(f"CompanyCode eq {literal(s.company_code)} and "
                                 f"{s.journal_project_field} eq {literal(code)}")
        lines: list[dict[str, Any]] = []
        currency = s.company_currency
        for item in items:
            posted = parse_date(item.get("PostingDate"))
            account = str(item.get("GLAccount") or "")
            if posted is None or not since <= posted.date() <= until or not account.startswith(
                    s.cost_account_prefixes):
                continue
            currency = str(item.get("CompanyCodeCurrency") or currency)
            raw = item.get("AmountInCompanyCodeCurrency", item.get("AmountInTransactionCurrency"))
            lines.append({"document": item.get("AccountingDocument"), "date": posted.date(), "account": account,
                          "amount": to_money(raw, currency, "AmountInCompanyCodeCurrency").amount})
        lines.sort(key=lambda line: (line["date"], str(line["document"])))
        return {"code": code, "currency": currency, "actual": sum((line["amount"] for line in lines), Decimal(0)),
                "lines": lines}


def _day(request: Mapping[str, Any], name: str) -> date | None:
    raw = request.get(name)
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            pass
    raise MappingError(t(f"{name} 应为日期", f"{name} must be a date"), where=f"{PROJECT_ACTUALS}.{name}",
                       fix=t("传入如 2026-11-01 的日期", "pass e.g. 2026-11-01"))


def register_finance_actions(registry: ActionRegistry, client: SapClient, settings: SapSettings,
                             actions: SapActions) -> None:
    """Register the payment and project actions, sharing the purchase actions' supplier catalog."""
    finance = SapFinance(client, settings, actions)
    registry.register(PAYMENT_CREATE, finance.payment_create)
    registry.register(PAYMENT_READ, finance.payment_read)
    registry.register(PROJECT_ENSURE, finance.project_ensure)
    registry.register(PROJECT_ACTUALS, finance.project_actuals)
