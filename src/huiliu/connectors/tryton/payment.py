"""Payment requests (付款申请) → Tryton supplier invoices (应付) and their payment.

Tryton models a payable as a supplier invoice (``account.invoice`` of type ``in``) and a payment as the
``account.invoice.pay`` wizard, which books the cash move and reconciles it with the payable line; the
invoice's state is then ``paid``.

* ``tryton.payment.create``: the supplier is matched or created once (the catalog's ``ensure_party``); the
  invoice is created with the hub's reference in ``settings.payment_reference_field`` and one line on the
  expense account ``settings.payment_account`` (amount to the cent, no tax). ``create`` is not idempotent
  in Tryton: every attempt after the first looks the reference up and adopts what it finds; a create that
  got no answer is :class:`AmbiguousOutcome`. The invoice is then validated and posted; when the request
  names a project, its cost line gets an analytic line on the project (once); and when
  ``settings.payment_method`` is set, it is paid at once. Every step starts from the state Tryton reports,
  so an adopted invoice is brought forward, never done twice.
* ``tryton.payment.read``: ``{"id"}`` or ``{"reference"}`` → the same result shape, with the current state.

Result: ``{"id", "number", "state", "reference", "amount", "currency", "paid", "adopted"}``; ``amount`` is
the invoice total (``Decimal``), ``state`` Tryton's (``draft``, ``validated``, ``posted``, ``paid``,
``cancelled``), ``paid`` whether it is ``paid``.

Left out: paying against a purchase order's own invoice (``purchase_order`` is written into the
description only), bank accounts (``bank_account`` likewise), partial payments.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.purchasing import request_part
from huiliu.connectors.tryton.accounting import Accounting
from huiliu.connectors.tryton.actions import TrytonCatalog
from huiliu.connectors.tryton.client import TrytonClient
from huiliu.connectors.tryton.errors import SYSTEM
from huiliu.connectors.tryton.mapping import to_money
from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t
from huiliu.model.purchasing import PaymentRequest, payment_from_json

__all__ = ["PAYMENT_CREATE", "PAYMENT_READ", "PaymentCreate", "PaymentRead", "payment_description"]

PAYMENT_CREATE = "tryton.payment.create"
PAYMENT_READ = "tryton.payment.read"

_INVOICE = "account.invoice"
_OLDEST = (("id", "ASC"),)


def payment_description(payment: PaymentRequest) -> str:
    """The invoice's description: 付款事由 and what the OA names besides (invoice, order, account, number)."""
    notes = [f"{label}{value}" for label, value in (
        ("付款申请 ", payment.number), ("发票 ", payment.invoice_number), ("订单 ", payment.purchase_order),
        ("付款账户 ", payment.bank_account)) if value]
    text = payment.description or "付款"
    return f"{text}（{'，'.join(notes)}）"


class PaymentRead:
    """The ``tryton.payment.read`` action, and the reading the create action shares.

    Args:
        client: the Tryton client.
        settings: the connector settings.
        catalog: finds or creates suppliers and knows currency codes.
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings, catalog: TrytonCatalog) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def find(self, reference: str) -> int | None:
        """The supplier invoice carrying ``reference`` (the oldest if several), or ``None``."""
        ids = await self.client.search(_INVOICE, [[self.settings.payment_reference_field, "=", reference],
                                                  ["type", "=", "in"]], limit=1, order=_OLDEST)
        return ids[0] if ids else None

    async def result(self, invoice_id: int, *, adopted: bool) -> dict[str, Any]:
        """The action result for one invoice."""
        field = self.settings.payment_reference_field
        rows = await self.client.read(_INVOICE, [invoice_id], ["number", "state", "total_amount", "currency",
                                                                field])
        if not rows:
            raise self._missing(f"id {invoice_id}")
        row = rows[0]
        currency = await self.catalog.currency_code(int(row["currency"]))
        return {"id": invoice_id, "number": row["number"], "state": row["state"], "reference": row.get(field),
                "amount": to_money(row["total_amount"], currency, "invoice.total_amount").amount,
                "currency": currency, "paid": row["state"] == "paid", "adopted": adopted}

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the payment's current state. Read-only, so safe to retry."""
        raw_id, reference = request.get("id"), request.get("reference")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            return await self.result(raw_id, adopted=False)
        if isinstance(reference, str) and reference:
            found = await self.find(reference)
            if found is None:
                raise self._missing(f"reference {reference}")
            return await self.result(found, adopted=False)
        raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                           where=f"{PAYMENT_READ}.id",
                           fix=t("传入 {\"id\": 发票 id} 或 {\"reference\": 引用}",
                                 "pass {\"id\": invoice id} or {\"reference\": reference}"))

    @staticmethod
    def _missing(what: str) -> VendorRejected:
        return VendorRejected(t(f"Tryton 中找不到付款（供应商发票，{what}）",
                                f"no payment (supplier invoice) in Tryton ({what})"),
                              system=SYSTEM, operation=f"model.{_INVOICE}.read", vendor_code="not_found",
                              fix=t("检查流程传入的 id 或引用", "check the id or reference the flow passes"))


class PaymentCreate(PaymentRead):
    """The ``tryton.payment.create`` action (see the module docstring for the steps).

    Args:
        client: the Tryton client.
        settings: the connector settings.
        catalog: finds or creates the supplier.
        accounting: accounts by code and projects.
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings, catalog: TrytonCatalog,
                 accounting: Accounting) -> None:
        super().__init__(client, settings, catalog)
        self.accounting = accounting

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the payable, post it, book it to the project and pay it."""
        # Parse before touching Tryton: a malformed request fails without any call.
        payment = payment_from_json(request_part(request, "payment", PAYMENT_CREATE))
        project = (await self.accounting.project(payment.project, "payment.project")
                   if payment.project is not None else None)
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        invoice_id = found if found is not None else await self._create(payment, ctx.reference)
        await self._post(invoice_id)
        if project is not None:
            await self._book_project(invoice_id, project)
        if self.settings.payment_method is not None:
            await self._pay(invoice_id, payment)
        return await self.result(invoice_id, adopted=found is not None)

    async def _create(self, payment: PaymentRequest, reference: str) -> int:
        party = await self.catalog.ensure_party(payment.supplier)
        currency = await self.catalog.currency(payment.amount.currency)
        account = await self.accounting.account(self.settings.payment_account, "tryton.payment_account")
        description = payment_description(payment)
        payable = await self._payable_account(int(party["id"]))
        values: dict[str, Any] = {
            "type": "in", "party": party["id"], "invoice_address": party["address"], "currency": currency,
            "account": payable, "journal": await self.accounting.journal(self.settings.payment_journal,
                                                                         "payment_journal"),
            "company": await self.accounting.company(), "invoice_date": payment.date,
            "description": description, self.settings.payment_reference_field: reference,
            "lines": [["create", [{"type": "line", "account": account, "quantity": Decimal(1),
                                   "unit_price": payment.amount.amount, "description": description,
                                   "currency": currency, "company": await self.accounting.company()}]]],
        }
        if self.settings.payment_term is not None:
            values["payment_term"] = self.settings.payment_term
        try:
            [invoice_id] = await self.client.create(_INVOICE, [values])
        except NoReply as exc:  # an HTTP error is an answer: Tryton rolled the transaction back
            raise AmbiguousOutcome(
                t("创建供应商发票未得到应答，可能已生成", "creating the supplier invoice got no answer; it may exist"),
                system=SYSTEM, operation=f"model.{_INVOICE}.create", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        return invoice_id

    async def _payable_account(self, party: int) -> int:
        """The party's payable account, else the company's default (what the client's on_change fills in:
        ``create`` runs no on_change).
        """  # noqa: D205
        [row] = await self.client.read("party.party", [party], ["account_payable"])
        if row.get("account_payable"):
            return int(row["account_payable"])
        configs = await self.client.search_read("account.configuration", [], ["default_account_payable"], limit=1)
        if not configs or not configs[0].get("default_account_payable"):
            raise VendorRejected(
                t("Tryton 未设置默认应付科目", "Tryton has no default payable account"),
                system=SYSTEM, operation="model.account.configuration.read", vendor_code="no_payable_account",
                fix=t("在 Tryton 的会计配置中设置默认应付科目", "set the default payable account in Tryton's "
                      "accounting configuration"))
        return int(configs[0]["default_account_payable"])

    async def _post(self, invoice_id: int) -> None:
        [row] = await self.client.read(_INVOICE, [invoice_id], ["state", "number"])
        state = str(row["state"])
        if state == "cancelled":
            raise VendorRejected(
                t(f"供应商发票 {row['number'] or invoice_id} 已在 Tryton 中取消",
                  f"supplier invoice {row['number'] or invoice_id} was cancelled in Tryton"),
                system=SYSTEM, operation=f"model.{_INVOICE}.post", vendor_code=state,
                fix=t("确认是否仍需付款；如需要，请以新的付款申请发起",
                      "decide whether it is still to be paid; if so, start a new payment request"))
        if state == "draft":
            await self.client.button(_INVOICE, "validate_invoice", [invoice_id])
            state = "validated"
        if state == "validated":
            await self.client.button(_INVOICE, "post", [invoice_id])

    async def _book_project(self, invoice_id: int, project: int) -> None:
        """Give the invoice's cost line(s) an analytic line on the project, unless they have one."""
        account = await self.accounting.account(self.settings.payment_account, "tryton.payment_account")
        [row] = await self.client.read(_INVOICE, [invoice_id], ["move"])
        lines = await self.client.search_read("account.move.line", [["move", "=", row["move"]],
                                                                   ["account", "=", account]],
                                              ["debit", "credit", "date", "analytic_lines"])
        for line in lines:
            if line["analytic_lines"]:
                continue
            await self.client.write("account.move.line", [line["id"]], {"analytic_lines": [["create", [{
                "account": project, "debit": line["debit"], "credit": line["credit"], "date": line["date"]}]]]})

    async def _pay(self, invoice_id: int, payment: PaymentRequest) -> None:
        [row] = await self.client.read(_INVOICE, [invoice_id], ["state", "amount_to_pay"])
        if row["state"] != "posted" or not row["amount_to_pay"]:
            return
        answers = await self.client.wizard("account.invoice.pay", _INVOICE, invoice_id, [("start", {})])
        defaults = answers[0].get("view", {}).get("defaults", {}) if isinstance(answers[0], Mapping) else {}
        start = {key: value for key, value in defaults.items() if "." not in key}
        start.update({"payment_method": self.settings.payment_method, "date": payment.date,
                      "description": payment.number, "amount": row["amount_to_pay"]})
        await self.client.wizard("account.invoice.pay", _INVOICE, invoice_id, [("choice", {"start": start})])
        [after] = await self.client.read(_INVOICE, [invoice_id], ["state", "number"])
        if after["state"] != "paid":
            raise VendorRejected(
                t(f"Tryton 未能付清供应商发票 {after['number']}（状态 {after['state']}）",
                  f"Tryton did not pay supplier invoice {after['number']} (state {after['state']})"),
                system=SYSTEM, operation="wizard.account.invoice.pay", vendor_code=str(after["state"]),
                fix=t("在 Tryton 中检查该发票与付款方式", "check the invoice and the payment method in Tryton"))
