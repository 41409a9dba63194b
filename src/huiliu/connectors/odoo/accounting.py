"""Odoo payments (付款) and vouchers (凭证): ``odoo.payment.create`` / ``.read`` and ``odoo.voucher.create``.

The request and result shapes are the same for every ERP connector, so a flow can switch ERPs:

* ``odoo.payment.create``: an approved payment request becomes an outbound vendor ``account.payment``. The
  supplier is matched or created once through the catalog's ``ensure_party``. Odoo has no idempotency key
  (contract §6.3): the hub's reference goes in ``settings.payment_reference_field`` (``ref`` up to 17,
  ``memo`` from 18) and every attempt after the first looks it up and adopts what it finds; a create that got
  no answer is :class:`AmbiguousOutcome`. A draft payment is then posted (``action_post``).
* ``odoo.payment.read``: by ``id`` or ``reference``; ``paid`` is true once the payment is matched with the
  bank statement (``settings.payment_paid_field``) or in a paid state (``settings.payment_paid_states``).
* ``odoo.voucher.create``: a balanced voucher becomes a miscellaneous ``account.move`` (``move_type`` entry)
  whose items name accounts by code (``account.account.code``); a line's project goes in its
  ``analytic_distribution`` (the project's analytic account at 100 %), its department in the item's label
  (Odoo items have no department). The entry is created with its items in one call and posted with
  ``action_post``; the reference is looked up before a retry as for payments.

Posting methods and states of ``account.move`` / ``account.payment`` are unconfirmed in the contract (§6.3):
``action_post`` and draft → posted (→ paid in 18) are Odoo 17's as remembered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.odoo.client import OdooClient
from huiliu.connectors.odoo.errors import SYSTEM
from huiliu.connectors.odoo.mapping import many2one_name, move_values, payment_values, text, to_money
from huiliu.connectors.odoo.settings import OdooSettings
from huiliu.connectors.purchasing import request_part
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t
from huiliu.model import Voucher
from huiliu.model.purchasing import payment_from_json, voucher_from_json

if TYPE_CHECKING:  # the catalog's module imports this one to register the actions
    from huiliu.connectors.odoo.actions import OdooCatalog

__all__ = ["PAYMENT_CREATE", "PAYMENT_READ", "VOUCHER_CREATE", "OdooBooks", "PaymentCreate", "PaymentRead",
           "VoucherCreate"]

PAYMENT_CREATE = "odoo.payment.create"
PAYMENT_READ = "odoo.payment.read"
VOUCHER_CREATE = "odoo.voucher.create"

_PAYMENT = "account.payment"
_MOVE = "account.move"
_OLDEST = "id asc"


class OdooBooks:
    """Finds the accounting configuration vouchers and payments name: journals, accounts, analytic accounts.

    Journal and account ids are cached for the life of the object (configuration, not business data).
    """

    def __init__(self, client: OdooClient, settings: OdooSettings) -> None:
        self.client = client
        self.settings = settings
        self._journals: dict[str, int] = {}
        self._accounts: dict[str, int] = {}

    async def journal(self, code: str, setting: str) -> int:
        """The ``account.journal`` id of a journal code.

        Raises:
            MappingError: no journal has that code (the setting named by ``setting`` is wrong).
        """
        if code not in self._journals:
            ids = await self.client.search("account.journal", [["code", "=", code]], limit=1, order=_OLDEST)
            if not ids:
                raise MappingError(t(f"Odoo 中没有代码为 {code} 的日记账", f"Odoo has no journal with code {code}"),
                                   where=f"settings.{setting}",
                                   fix=t(f"在设置 {setting} 中填写 Odoo 日记账的简码", f"set {setting} to an Odoo "
                                         "journal's short code"))
            self._journals[code] = ids[0]
        return self._journals[code]

    async def account(self, code: str, where: str) -> int:
        """The ``account.account`` id of an account code (科目编码).

        Raises:
            VendorRejected: Odoo has no (active) account with that code; not retryable.
        """
        if code not in self._accounts:
            ids = await self.client.search("account.account", [["code", "=", code], ["deprecated", "=", False]],
                                           limit=1, order=_OLDEST)
            if not ids:
                raise VendorRejected(
                    t(f"Odoo 科目表中没有科目 {code}（或已停用）", f"Odoo's chart of accounts has no account {code} "
                      "(or it is deprecated)"),
                    system=SYSTEM, operation="account.account.search", vendor_code="unknown_account",
                    vendor_message=f"account.account: no record with code = {code!r} ({where})",
                    fix=t("在 Odoo 会计 → 配置 → 科目表中建立该科目，或修正流程的科目映射",
                          "create the account in Odoo (Accounting → Configuration → Chart of Accounts) or fix "
                          "the flow's account mapping"))
            self._accounts[code] = ids[0]
        return self._accounts[code]

    async def analytic(self, code: str) -> dict[str, Any] | None:
        """The analytic account (project) whose ``code`` is ``code``, or ``None``."""
        rows = await self.client.search_read("account.analytic.account", [["code", "=", code]], ["code", "name"],
                                             limit=1, order=_OLDEST)
        return rows[0] if rows else None


async def _find(client: OdooClient, model: str, field: str, reference: str) -> int | None:
    """The oldest record of ``model`` whose ``field`` is ``reference`` (an earlier failure may have let two exist)."""
    ids = await client.search(model, [[field, "=", reference]], limit=1, order=_OLDEST)
    return ids[0] if ids else None


def _resolve_id(request: Mapping[str, Any]) -> int | None:
    raw = request.get("id")
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


class _Payments:
    """What the payment actions share: finding a payment and shaping the result."""

    def __init__(self, client: OdooClient, settings: OdooSettings) -> None:
        self.client = client
        self.settings = settings

    def fields(self) -> list[str]:
        s = self.settings
        return ["name", "state", "amount", "currency_id", "partner_id", "date", s.payment_reference_field,
                *([s.payment_paid_field] if s.payment_paid_field else [])]

    async def row(self, payment_id: int) -> dict[str, Any]:
        rows = await self.client.read(_PAYMENT, [payment_id], self.fields())
        if not rows:
            raise _missing(f"id {payment_id}")
        return rows[0]

    def result(self, row: Mapping[str, Any], adopted: bool) -> dict[str, Any]:
        s = self.settings
        currency = many2one_name(row["currency_id"]) or s.company_currency
        paid = row["state"] in s.payment_paid_states or bool(s.payment_paid_field and row.get(s.payment_paid_field))
        return {"id": row["id"], "number": text(row["name"]), "state": row["state"],
                "reference": text(row.get(s.payment_reference_field)),
                "amount": to_money(row["amount"], currency, "payment.amount").amount, "currency": currency,
                "paid": paid, "adopted": adopted}


def _missing(what: str) -> VendorRejected:
    return VendorRejected(t(f"Odoo 中找不到付款（{what}）", f"no payment in Odoo ({what})"),
                          system=SYSTEM, operation=f"{_PAYMENT}.read", vendor_code="not_found",
                          fix=t("检查流程传入的付款 id 或引用", "check the payment id or reference the flow passes"))


class PaymentCreate(_Payments):
    """The ``odoo.payment.create`` action.

    Request: ``{"payment": <huiliu.model.purchasing.payment_from_json JSON>}``. Result: ``{"id", "number",
    "state", "reference", "amount", "currency", "paid", "adopted"}`` (``amount`` ``Decimal``); ``adopted`` is
    true when a payment made by an earlier attempt was found by its reference and used.

    Raises:
        MappingError: a malformed request (before any call), an unknown journal setting.
        AmbiguousOutcome: the create got no answer; the retry looks the reference up first.
        VendorRejected: Odoo refused the payment or its posting (lock date …), with Odoo's message; a payment
            cancelled in Odoo.
    """

    def __init__(self, client: OdooClient, settings: OdooSettings, catalog: OdooCatalog, books: OdooBooks) -> None:
        super().__init__(client, settings)
        self.catalog = catalog
        self.books = books

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the payment, then post it."""
        payment = payment_from_json(request_part(request, "payment", PAYMENT_CREATE))
        field = self.settings.payment_reference_field
        found = await _find(self.client, _PAYMENT, field, ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        payment_id = found
        if payment_id is None:
            partner = await self.catalog.ensure_party(payment.supplier)
            values = payment_values(payment, ctx.reference, partner=partner["id"],
                                    currency=await self.catalog.currency(payment.amount.currency),
                                    journal=await self.books.journal(self.settings.payment_journal,
                                                                     "payment_journal"),
                                    settings=self.settings)
            try:
                payment_id = await self.client.create(_PAYMENT, values)
            except NoReply as exc:
                raise AmbiguousOutcome(
                    t("创建付款未得到应答，可能已生成", "creating the payment got no answer; it may exist"),
                    system=SYSTEM, operation=f"{_PAYMENT}.create", retry_after=self.settings.ambiguous_wait,
                    fix=t("稍后按引用查找并沿用，不会重复付款", "it is looked up by reference later, never paid twice"),
                ) from exc
        row = await self.row(payment_id)
        if row["state"] in ("cancel", "canceled"):
            raise VendorRejected(
                t(f"付款 {text(row['name']) or payment_id} 已在 Odoo 中取消",
                  f"payment {text(row['name']) or payment_id} was cancelled in Odoo"),
                system=SYSTEM, operation=f"{_PAYMENT}.action_post", vendor_code=str(row["state"]),
                fix=t("确认是否仍需付款；如需要，请以新的付款申请发起",
                      "decide whether it must still be paid; if so, start a new payment request"))
        if self.settings.post_payments and row["state"] == "draft":
            await self.client.button(_PAYMENT, "action_post", [payment_id])
            row = await self.row(payment_id)
        return self.result(row, adopted)


class PaymentRead(_Payments):
    """The ``odoo.payment.read`` action: request ``{"id"}`` or ``{"reference"}``; result as for create
    (``adopted`` false). Read-only, so safe to retry.
    """  # noqa: D205

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the payment's state, amount and whether it was paid."""
        payment_id = _resolve_id(request)
        reference = request.get("reference")
        if payment_id is None and isinstance(reference, str) and reference:
            payment_id = await _find(self.client, _PAYMENT, self.settings.payment_reference_field, reference)
            if payment_id is None:
                raise _missing(f"reference {reference}")
        if payment_id is None:
            raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                               where=f"{PAYMENT_READ}.id",
                               fix=t("传入 {\"id\": 付款 id} 或 {\"reference\": 引用}",
                                     "pass {\"id\": payment id} or {\"reference\": reference}"))
        return self.result(await self.row(payment_id), adopted=False)


class VoucherCreate:
    """The ``odoo.voucher.create`` action.

    Request: ``{"voucher": <huiliu.model.Voucher JSON, parsed by voucher_from_json>}``. Result: ``{"id",
    "number", "status", "adopted"}``; ``status`` is the entry's state (``posted``).

    Raises:
        UnbalancedVoucher, MappingError: the voucher does not balance or is malformed (before any call), or
            is in a currency other than ``settings.company_currency``.
        VendorRejected: an unknown account code or project; Odoo refused the entry or its posting (lock date,
            unbalanced after Odoo's rounding), with Odoo's message.
        AmbiguousOutcome: the create got no answer; the retry looks the reference up first.
    """

    def __init__(self, client: OdooClient, settings: OdooSettings, catalog: OdooCatalog, books: OdooBooks) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog
        self.books = books

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the entry, then post it."""
        voucher = voucher_from_json(request_part(request, "voucher", VOUCHER_CREATE))
        s = self.settings
        if voucher.currency != s.company_currency:
            raise MappingError(
                t(f"凭证币别 {voucher.currency} 不是公司本位币 {s.company_currency}",
                  f"the voucher's currency {voucher.currency} is not the company currency {s.company_currency}"),
                where="voucher.currency", fix=t("外币凭证请在 Odoo 中手工录入，或折算为本位币后再传入",
                                                "enter foreign-currency vouchers in Odoo by hand, or convert first"))
        found = await _find(self.client, _MOVE, s.voucher_reference_field, ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        move_id = found if found is not None else await self._create(ctx.reference, voucher)
        rows = await self.client.read(_MOVE, [move_id], ["name", "state"])
        if rows and rows[0]["state"] == "draft":
            await self.client.button(_MOVE, "action_post", [move_id])
            rows = await self.client.read(_MOVE, [move_id], ["name", "state"])
        if not rows:
            raise VendorRejected(t(f"Odoo 中找不到凭证 {move_id}", f"no journal entry {move_id} in Odoo"),
                                 system=SYSTEM, operation=f"{_MOVE}.read", vendor_code="not_found",
                                 fix=t("检查凭证是否被删除", "check whether the entry was deleted"))
        return {"id": move_id, "number": text(rows[0]["name"]), "status": rows[0]["state"], "adopted": adopted}

    async def _create(self, reference: str, voucher: Voucher) -> int:
        s = self.settings
        accounts: dict[int, int] = {}
        analytic: dict[int, int] = {}
        for index, line in enumerate(voucher.lines):
            accounts[index] = await self.books.account(line.account, f"voucher.lines.{index}.account")
            project = dict(line.aux).get(s.project_dimension)
            if project:
                found = await self.books.analytic(project)
                if found is None:
                    raise VendorRejected(
                        t(f"Odoo 中没有项目 {project}（分析账户）",
                          f"Odoo has no project {project} (analytic account)"),
                        system=SYSTEM, operation="account.analytic.account.search", vendor_code="unknown_project",
                        fix=t("先用 odoo.project.ensure 建立项目", "ensure the project first (odoo.project.ensure)"))
                analytic[index] = int(found["id"])
        values = move_values(voucher, reference, accounts=accounts, analytic=analytic,
                             journal=await self.books.journal(s.voucher_journal, "voucher_journal"),
                             currency=await self.catalog.currency(voucher.currency), settings=s)
        try:
            return await self.client.create(_MOVE, values)
        except NoReply as exc:
            raise AmbiguousOutcome(
                t("创建凭证未得到应答，可能已生成", "creating the journal entry got no answer; it may exist"),
                system=SYSTEM, operation=f"{_MOVE}.create", retry_after=s.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复记账", "it is looked up by reference later, never booked twice"),
            ) from exc
