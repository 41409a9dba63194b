"""ERPNext payments (付款) and vouchers (凭证): ``erpnext.payment.create`` / ``.read``, ``erpnext.voucher.create``.

The request and result shapes are the same for every ERP connector, so a flow can switch ERPs; ids are Frappe
document names:

* ``erpnext.payment.create``: an approved payment request becomes a ``Payment Entry`` (Pay, party type
  Supplier) from ``settings.payment_account``; the supplier is matched or created once through the catalog's
  ``ensure_party``. The hub's reference goes in ``settings.payment_reference_field`` (``reference_no`` by
  default) and every attempt after the first looks it up and adopts what it finds; a create with no answer is
  :class:`AmbiguousOutcome`. The entry is then submitted (docstatus 1). In ERPNext a submitted Payment Entry
  *is* the payment booked as made, so ``paid`` is ``docstatus == 1``.
* ``erpnext.payment.read``: by ``id`` (name) or ``reference``.
* ``erpnext.voucher.create``: a balanced voucher becomes a ``Journal Entry``; accounts are found by number or
  taken as names (``settings.account_lookup``), the department dimension becomes the row's ``cost_center``,
  the project dimension its ``project``. Submitted after creation; the reference is looked up before a retry.

Field names of these DocTypes are unconfirmed in the contract (§7): ERPNext v14/v15's as remembered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.erpnext.client import ErpnextClient, Filters
from huiliu.connectors.erpnext.errors import SYSTEM
from huiliu.connectors.erpnext.mapping import journal_entry_values, payment_entry_values, to_money
from huiliu.connectors.erpnext.settings import AccountLookup, ErpnextSettings
from huiliu.connectors.purchasing import request_part
from huiliu.errors import AmbiguousOutcome, ConfigError, MappingError, NoReply, VendorRejected
from huiliu.i18n import t
from huiliu.model import Voucher
from huiliu.model.purchasing import payment_from_json, voucher_from_json

if TYPE_CHECKING:  # the catalog's module imports this one to register the actions
    from huiliu.connectors.erpnext.actions import ErpnextCatalog

__all__ = ["PAYMENT_CREATE", "PAYMENT_READ", "VOUCHER_CREATE", "ErpnextBooks", "PaymentCreate", "PaymentRead",
           "VoucherCreate"]

PAYMENT_CREATE = "erpnext.payment.create"
PAYMENT_READ = "erpnext.payment.read"
VOUCHER_CREATE = "erpnext.voucher.create"

_PE = "Payment Entry"
_JE = "Journal Entry"
_OLDEST = "creation asc"
_DOCSTATUS = {0: "Draft", 1: "Submitted", 2: "Cancelled"}


class ErpnextBooks:
    """Finds what vouchers name: Accounts by number and Projects by code (cached: configuration)."""

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings) -> None:
        self.client = client
        self.settings = settings
        self._accounts: dict[str, str] = {}

    async def first(self, doctype: str, filters: Filters, fields: list[str]) -> dict[str, Any] | None:
        """The oldest document matching ``filters``, or ``None``."""
        rows = await self.client.get_list(doctype, fields=fields, filters=filters, order_by=_OLDEST, limit=1)
        return rows[0] if rows else None

    async def account(self, code: str, where: str) -> str:
        """The ``Account`` name for a voucher line's account, per ``settings.account_lookup``.

        Raises:
            VendorRejected: no Account has that number (by number); by name the site itself refuses an
                unknown Account when the entry is saved, with its own message.
        """
        if self.settings.account_lookup is AccountLookup.NAME:
            return code
        if code not in self._accounts:
            filters: Filters = [["account_number", "=", code], ["is_group", "=", 0]]
            if self.settings.company:
                filters.append(["company", "=", self.settings.company])
            found = await self.first("Account", filters, ["name"])
            if found is None:
                raise VendorRejected(
                    t(f"ERPNext 科目表中没有科目编号 {code}",
                      f"ERPNext's chart of accounts has no account number {code}"),
                    system=SYSTEM, operation="Account.list", vendor_code="unknown_account",
                    vendor_message=f"Account: no ledger account with account_number = {code!r} ({where})",
                    fix=t("在 ERPNext 科目表中建立该科目（填写科目编号），或修正流程的科目映射",
                          "create the account (with its number) in ERPNext's chart of accounts, or fix the flow's "
                          "account mapping"))
            self._accounts[code] = str(found["name"])
        return self._accounts[code]

    async def project(self, code: str) -> dict[str, Any] | None:
        """The ``Project`` carrying ``code`` (``settings.project_code_field``, else ``project_name``)."""
        field = self.settings.project_code_field or "project_name"
        return await self.first("Project", [[field, "=", code]], ["name", "project_name", field])


def _doc_id(request: Mapping[str, Any]) -> str | None:
    raw = request.get("id")
    return raw if isinstance(raw, str) and raw else None


class _Payments:
    def __init__(self, client: ErpnextClient, settings: ErpnextSettings, books: ErpnextBooks) -> None:
        self.client = client
        self.settings = settings
        self.books = books

    async def find(self, reference: str) -> str | None:
        found = await self.books.first(_PE, [[self.settings.payment_reference_field, "=", reference]], ["name"])
        return None if found is None else str(found["name"])

    def result(self, doc: Mapping[str, Any], adopted: bool) -> dict[str, Any]:
        currency = str(doc.get("paid_from_account_currency") or self.settings.company_currency)
        return {"id": doc["name"], "number": doc["name"], "state": doc.get("status") or _DOCSTATUS.get(
                    int(doc.get("docstatus") or 0)),
                "reference": doc.get(self.settings.payment_reference_field),
                "amount": to_money(doc.get("paid_amount"), currency, "paid_amount").amount, "currency": currency,
                "paid": doc.get("docstatus") == 1, "adopted": adopted}


def _missing(what: str) -> VendorRejected:
    return VendorRejected(t(f"ERPNext 中找不到付款单（{what}）", f"no Payment Entry in ERPNext ({what})"),
                          system=SYSTEM, operation=f"{_PE}.list", vendor_code="not_found",
                          fix=t("检查流程传入的付款单名或引用",
                                "check the Payment Entry name or reference the flow passes"))


class PaymentCreate(_Payments):
    """The ``erpnext.payment.create`` action.

    Request: ``{"payment": <huiliu.model.purchasing.payment_from_json JSON>}``. Result: ``{"id", "number",
    "state", "reference", "amount", "currency", "paid", "adopted"}`` (``amount`` ``Decimal``; ``state`` the
    entry's status, ``Submitted`` once made).

    Raises:
        MappingError: a malformed request or a currency other than the company's (before any call).
        ConfigError: ``payment_account`` is not set.
        AmbiguousOutcome: the insert got no answer; the retry looks the reference up first.
        VendorRejected: the site refused the entry (closed period, missing bank reference …) with its message;
            an entry cancelled in ERPNext.
    """

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings, books: ErpnextBooks,
                 catalog: ErpnextCatalog) -> None:
        super().__init__(client, settings, books)
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the Payment Entry, then submit it."""
        payment = payment_from_json(request_part(request, "payment", PAYMENT_CREATE))
        s = self.settings
        if payment.amount.currency != s.company_currency:
            raise MappingError(t(f"付款币别 {payment.amount.currency} 不是公司本位币 {s.company_currency}",
                                 f"the payment's currency {payment.amount.currency} is not the company currency "
                                 f"{s.company_currency}"), where="payment.currency",
                               fix=t("外币付款请在 ERPNext 中手工录入", "enter foreign-currency payments in ERPNext"))
        if not s.payment_account:
            raise ConfigError(t("未设置付款账户 payment_account", "payment_account is not set"),
                              where="settings.payment_account",
                              fix=t("填写 ERPNext 中付款银行科目的名称，如 1002 - 银行存款 - HL",
                                    "set it to the ERPNext bank Account's name, e.g. 1002 - 银行存款 - HL"))
        name = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = name is not None
        if name is None:
            supplier = await self.catalog.ensure_party(payment.supplier)
            try:
                doc = await self.client.insert(_PE, payment_entry_values(payment, ctx.reference,
                                                                          supplier=supplier["id"], settings=s))
            except NoReply as exc:
                raise AmbiguousOutcome(
                    t("创建付款单未得到应答，可能已生成", "creating the Payment Entry got no answer; it may exist"),
                    system=SYSTEM, operation=f"{_PE}.insert", retry_after=s.ambiguous_wait,
                    fix=t("稍后按引用查找并沿用，不会重复付款", "it is looked up by reference later, never paid twice"),
                ) from exc
            name = str(doc["name"])
        doc = await self.client.get_doc(_PE, name)
        if doc.get("docstatus") == 2:
            raise VendorRejected(
                t(f"付款单 {name} 已在 ERPNext 中取消", f"Payment Entry {name} was cancelled in ERPNext"),
                system=SYSTEM, operation=f"{_PE}.submit", vendor_code="cancelled",
                fix=t("确认是否仍需付款；如需要，请以新的付款申请发起",
                      "decide whether it must still be paid; if so, start a new payment request"))
        if s.submit_payments and doc.get("docstatus") == 0:
            doc = await self.client.submit(_PE, name)
        return self.result(doc, adopted)


class PaymentRead(_Payments):
    """The ``erpnext.payment.read`` action: ``{"id"}`` or ``{"reference"}`` → the shape of create (``adopted``
    false). Read-only, so safe to retry.
    """  # noqa: D205

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the Payment Entry."""
        name = _doc_id(request)
        reference = request.get("reference")
        if name is None and isinstance(reference, str) and reference:
            name = await self.find(reference)
            if name is None:
                raise _missing(f"reference {reference}")
        if name is None:
            raise MappingError(t("请求需要 id（单据名）或 reference", "the request needs an id (name) or a reference"),
                               where=f"{PAYMENT_READ}.id",
                               fix=t("传入 {\"id\": \"ACC-PAY-…\"} 或 {\"reference\": 引用}",
                                     "pass {\"id\": \"ACC-PAY-…\"} or {\"reference\": reference}"))
        return self.result(await self.client.get_doc(_PE, name), adopted=False)


class VoucherCreate:
    """The ``erpnext.voucher.create`` action.

    Request: ``{"voucher": <huiliu.model.Voucher JSON, parsed by voucher_from_json>}``. Result: ``{"id",
    "number", "status", "adopted"}``; ``status`` is ``Draft`` / ``Submitted`` / ``Cancelled`` (docstatus).

    Raises:
        UnbalancedVoucher, MappingError: the voucher does not balance or is malformed (before any call), or is
            in a currency other than the company's.
        VendorRejected: an unknown account number or project; the site refused the entry (unknown Account or
            Cost Center by name, closed period …) with its message.
        AmbiguousOutcome: the insert got no answer; the retry looks the reference up first.
    """

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings, books: ErpnextBooks) -> None:
        self.client = client
        self.settings = settings
        self.books = books

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the Journal Entry, then submit it."""
        voucher = voucher_from_json(request_part(request, "voucher", VOUCHER_CREATE))
        s = self.settings
        if voucher.currency != s.company_currency:
            raise MappingError(
                t(f"凭证币别 {voucher.currency} 不是公司本位币 {s.company_currency}",
                  f"the voucher's currency {voucher.currency} is not the company currency {s.company_currency}"),
                where="voucher.currency", fix=t("外币凭证请在 ERPNext 中手工录入，或折算为本位币后再传入",
                                                "enter foreign-currency vouchers in ERPNext, or convert first"))
        found = (await self.books.first(_JE, [[s.voucher_reference_field, "=", ctx.reference]], ["name"])
                 if ctx.attempt > 1 else None)
        adopted = found is not None
        name = str(found["name"]) if found is not None else await self._create(voucher, ctx.reference)
        doc = await self.client.get_doc(_JE, name)
        if doc.get("docstatus") == 0:
            doc = await self.client.submit(_JE, name)
        return {"id": name, "number": name, "status": _DOCSTATUS.get(int(doc.get("docstatus") or 0)),
                "adopted": adopted}

    async def _create(self, voucher: Voucher, reference: str) -> str:
        accounts: dict[int, str] = {}
        projects: dict[int, str] = {}
        for index, line in enumerate(voucher.lines):
            accounts[index] = await self.books.account(line.account, f"voucher.lines.{index}.account")
            code = dict(line.aux).get(self.settings.project_dimension)
            if code:
                project = await self.books.project(code)
                if project is None:
                    raise VendorRejected(
                        t(f"ERPNext 中没有项目 {code}", f"ERPNext has no project {code}"),
                        system=SYSTEM, operation="Project.list", vendor_code="unknown_project",
                        fix=t("先用 erpnext.project.ensure 建立项目",
                              "ensure the project first (erpnext.project.ensure)"))
                projects[index] = str(project["name"])
        values = journal_entry_values(voucher, reference, accounts=accounts, projects=projects,
                                      settings=self.settings)
        try:
            doc = await self.client.insert(_JE, values)
        except NoReply as exc:
            raise AmbiguousOutcome(
                t("创建日记账凭证未得到应答，可能已生成", "creating the Journal Entry got no answer; it may exist"),
                system=SYSTEM, operation=f"{_JE}.insert", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复记账", "it is looked up by reference later, never booked twice"),
            ) from exc
        return str(doc["name"])
