"""Payments (付款单), suppliers and projects in Kingdee K3Cloud: the payment and project actions.

* ``kingdee.payment.create``: request ``{"payment": <payment JSON>}``. The supplier is matched in
  ``settings.supplier_form`` by number (the OA's code, else its name) or saved, submitted and audited once
  (:class:`~huiliu.connectors.base.FindOrCreate`). The 付款单 (``settings.payment_form``) is saved with the
  hub's reference in ``settings.reference_field``; every attempt after the first looks it up first and
  adopts it; a Save with no answer is :class:`AmbiguousOutcome`. It is then brought to 已审核 (A → Submit →
  B → Audit → C). An audited 付款单 is a payment made, so ``paid`` is true at C.
* ``kingdee.payment.read``: ``{"id"}`` or ``{"reference"}`` → the same shape, current status.
  Result: ``{"id", "number", "state", "reference", "amount", "currency", "paid", "adopted"}``.
* ``kingdee.project.ensure``: ``{"project"}`` → ``{"id", "code", "name", "created", "matched_by"}``.
* ``kingdee.project.actuals``: ``{"code", "since"?, "until"?}`` → ``{"code", "currency", "actual", "lines"}``.
  What counts: every entry of an audited (C) voucher whose project dimension (``settings.project_dimension``
  in ``aux_fields``) is the project, debit − credit, whatever the account; a 付款单 counts once its voucher
  is made in the general ledger, not by itself (so nothing is counted twice). ``since`` / ``until`` compare
  the voucher date with their calendar dates, both included. ``currency`` is the book's (CNY).

Unconfirmed (contract §4 is silent on these forms): every form id and field key, see the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from huiliu.connectors.base import ActionContext, FindOrCreate
from huiliu.connectors.kingdee.client import KingdeeClient, quote
from huiliu.connectors.kingdee.errors import closed_period_error
from huiliu.connectors.kingdee.ledger import AUDITED, Bills
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.connectors.purchasing import request_part
from huiliu.errors import ConfigError, MappingError, VendorRejected
from huiliu.i18n import t
from huiliu.model import parse_amount
from huiliu.model.purchasing import PaymentRequest, Supplier, payment_from_json, project_from_json

__all__ = ["PAYMENT_CREATE", "PAYMENT_READ", "PROJECT_ACTUALS", "PROJECT_ENSURE", "KingdeePayments"]

PAYMENT_CREATE = "kingdee.payment.create"
PAYMENT_READ = "kingdee.payment.read"
PROJECT_ENSURE = "kingdee.project.ensure"
PROJECT_ACTUALS = "kingdee.project.actuals"


class KingdeePayments:
    """The four actions over one client: :meth:`create`, :meth:`read`, :meth:`ensure_project`, :meth:`actuals`.

    Args:
        client: the Kingdee client.
        settings: the connector settings (forms, reference field, dimensions).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings
        self._once = FindOrCreate()
        self.bills = Bills(client, settings, settings.payment_form, t("付款单", "payment bill"), PAYMENT_READ)

    # ------------------------------------------------------------------ base data

    async def _find_base(self, form: str, number: str) -> dict[str, Any] | None:
        rows = await self.client.query(form, "FID,FNumber,FName,FDocumentStatus", f"FNumber={quote(number)}")
        rows = [r for r in rows if len(r) >= 4 and r[0] is not None]
        return {"id": int(rows[0][0]), "code": str(rows[0][1]), "name": rows[0][2], "status": rows[0][3]} \
            if rows else None

    async def _ensure_base(self, form: str, number: str, name: str) -> tuple[dict[str, Any], bool]:
        async def create() -> dict[str, Any]:
            saved = await self.client.save(form, {"FNumber": number, "FName": name})
            await self.client.submit(form, ids=[saved.id])
            await self.client.audit(form, ids=[saved.id])
            return {"id": saved.id, "code": number, "name": name, "status": AUDITED}

        return await self._once.ensure(f"{form}:{number}", lambda: self._find_base(form, number), create)

    async def ensure_supplier(self, supplier: Supplier) -> dict[str, Any]:
        """Match the supplier by number or create and audit it once; ``{"id", "code", "name", "created"}``."""
        found, created = await self._ensure_base(self.settings.supplier_form, supplier.code or supplier.name,
                                                 supplier.name)
        return {**found, "created": created}

    # ------------------------------------------------------------------ payments

    async def result(self, bill_id: int, *, adopted: bool) -> dict[str, Any]:
        """The action result for one 付款单."""
        field = self.settings.reference_field
        rows = await self.client.query(self.settings.payment_form,
                                       f"FID,FBillNo,FDocumentStatus,{field},FPAYAMOUNTFOR,FCURRENCYID.FNumber",
                                       f"FID={bill_id}")
        if not rows:
            raise self.bills.missing(bill_id)
        _, number, status, reference, amount, currency_number = rows[0][:6]
        currencies = {v: k for k, v in self.settings.currency_number.items()}
        return {"id": bill_id, "number": number, "state": status, "reference": reference,
                "amount": parse_amount(amount, "payment.amount"),
                "currency": currencies.get(str(currency_number), str(currency_number)),
                "paid": status == AUDITED, "adopted": adopted}

    def _model(self, payment: PaymentRequest, supplier: str, reference: str) -> dict[str, Any]:
        currency = self.settings.currency_number.get(payment.amount.currency)
        if currency is None:
            raise MappingError(t(f"币别 {payment.amount.currency} 没有对应的金蝶币别编码",
                                 f"no Kingdee currency number for {payment.amount.currency}"),
                               where="payment.amount.currency",
                               fix=t("在设置 currency_number 中加入该币别", "add it to the currency_number setting"))
        notes = "，".join(f"{label}{value}" for label, value in (
            ("付款申请 ", payment.number), ("发票 ", payment.invoice_number), ("订单 ", payment.purchase_order),
            ("项目 ", payment.project), ("付款账户 ", payment.bank_account)) if value)
        return {"FBillTypeID": {"FNumber": self.settings.payment_bill_type}, "FDATE": payment.date.isoformat(),
                "FCONTACTUNITTYPE": "BD_Supplier", "FCONTACTUNIT": {"FNumber": supplier},
                "FCURRENCYID": {"FNumber": currency}, "FREMARK": f"{payment.description}（{notes}）",
                self.settings.reference_field: reference,
                "FPAYBILLENTRY": [{"FPAYTOTALAMOUNTFOR": format(payment.amount.amount, "f"),
                                   "FCOMMENT": payment.description}]}

    async def create(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.payment.create``: save (or adopt) the 付款单, then submit and audit it."""
        payment = payment_from_json(request_part(request, "payment", PAYMENT_CREATE))
        found = await self.bills.find(ctx.reference) if ctx.attempt > 1 else None
        bill_id = found
        if bill_id is None:
            supplier = await self.ensure_supplier(payment.supplier)
            model = self._model(payment, supplier["code"], ctx.reference)
            try:
                bill_id = await self.bills.save(model)
            except VendorRejected as exc:
                closed = closed_period_error(exc.vendor_message, payment.date, "Save", exc.vendor_code)
                if closed is not None:
                    raise closed from exc
                raise
        await self.bills.audit(bill_id, (await self.result(bill_id, adopted=False))["state"])
        return await self.result(bill_id, adopted=found is not None)

    async def read(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.payment.read``: the 付款单's current state. Read-only."""
        return await self.bills.read(request, lambda bill_id: self.result(bill_id, adopted=False))

    # ------------------------------------------------------------------ projects

    async def ensure_project(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.project.ensure``: match the project by number or create and audit it once."""
        project = project_from_json(request_part(request, "project", PROJECT_ENSURE))
        found, created = await self._ensure_base(self.settings.project_form, project.code, project.name)
        return {"id": found["id"], "code": found["code"], "name": found["name"], "created": created,
                "matched_by": None if created else "code"}

    async def actuals(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``kingdee.project.actuals``: the audited voucher entries of the project (see the module docstring)."""
        code = request.get("code")
        if not isinstance(code, str) or not code:
            raise MappingError(t("请求缺少项目编码 code", "the request has no project code"),
                               where=f"{PROJECT_ACTUALS}.code", fix=t("传入 code", "pass code"))
        since, until = _window(request)
        flex = self.settings.aux_fields.get(self.settings.project_dimension)
        if flex is None:
            raise ConfigError(t(f"未在 aux_fields 中配置项目维度 {self.settings.project_dimension}",
                                f"the project dimension {self.settings.project_dimension} is not in aux_fields"),
                              where="kingdee.aux_fields", fix=t("为项目维度指定弹性域字段，如 FFLEX9",
                                                                "map the project dimension to a flex field"))
        rows = await self.client.query(
            self.settings.voucher_form, f"FBillNo,FDate,FACCOUNTID.FNumber,FDEBIT,FCREDIT,FDetailID.{flex}.FNumber",
            f"FDocumentStatus={quote(AUDITED)}")
        lines, total = [], Decimal(0)
        for number, day, account, debit, credit, project in rows:
            when = str(day)[:10]
            if project != code or (since and when < since.isoformat()) or (until and when > until.isoformat()):
                continue
            amount = parse_amount(debit or 0, "FDEBIT") - parse_amount(credit or 0, "FCREDIT")
            total += amount
            lines.append({"document": number, "date": when, "account": account, "amount": amount})
        return {"code": code, "currency": "CNY", "actual": total, "lines": lines}


def _window(request: Mapping[str, Any]) -> tuple[date | None, date | None]:
    """The calendar dates of the tz-aware ISO times ``since`` and ``until``; :class:`MappingError` otherwise."""
    found: list[date | None] = []
    for name in ("since", "until"):
        raw = request.get(name)
        moment = None
        if raw is not None:
            try:
                moment = datetime.fromisoformat(str(raw))
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                raise MappingError(t(f"{name} 应为带时区的 ISO 时间：{raw}",
                                     f"{name} must be a tz-aware ISO time: {raw}"),
                                   where=f"{PROJECT_ACTUALS}.{name}", fix=t("如 2026-11-01T00:00:00+08:00",
                                                                            "e.g. 2026-11-01T00:00:00+08:00"))
        found.append(None if moment is None else moment.date())
    return found[0], found[1]
