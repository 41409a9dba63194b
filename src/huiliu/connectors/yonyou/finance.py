"""Yonyou payment (付款单) and project (项目档案) actions, each idempotent under retries (DESIGN.md, invariant 3).

The request and result shapes are the same for every ERP connector (``<erp>.payment.create`` …), so a flow
can switch ERPs by changing the action's prefix:

* ``yonyou.payment.create``: ``{"payment": <huiliu.model.purchasing.payment_from_json JSON>}``. The supplier
  is matched or saved once through the catalog's ``ensure_party``. The save carries the hub's reference as
  ``resubmitCheckKey`` (YonBIP refuses a repeat, "MDD 幂等", contract §5.1) or a U8 ``tradeid``, and in
  ``settings.reference_field``. An attempt ≥ 2 looks the reference up first and adopts what it finds; a save
  refused as a repeat adopts the payment found by the reference; a save that got no answer is
  :class:`AmbiguousOutcome`. The payment is then audited (开立 → 已审核) when ``settings.audit_payments``.
* ``yonyou.payment.read``: ``{"id"}`` or ``{"reference"}``, read-only.

  Both answer ``{"id", "number", "state", "reference", "amount", "currency", "paid", "adopted"}``: ``amount``
  a ``Decimal``; ``state`` ``draft`` / ``approving`` / ``approved`` / ``closed``; ``paid`` true once the
  cashier settled it (``settings.payment_paid_field`` in ``settings.payment_paid_values``, 已结算);
  ``adopted`` is true when an earlier attempt's payment was found and used (always false on a read).
* ``yonyou.project.ensure``: ``{"project": <project_from_json JSON>}`` → ``{"id", "code", "name", "created",
  "matched_by"}``; the 项目档案 is matched by its code (``matched_by`` ``code``) or saved (``None``).
* ``yonyou.project.actuals``: see :class:`ProjectActuals`.

Paths, field names and status values here are unconfirmed (contract §5 names no 付款单 or 项目 API); they are
settings or follow the purchase order's naming.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from huiliu.connectors.base import ActionContext, ActionRegistry, FindOrCreate
from huiliu.connectors.purchasing import request_part
from huiliu.connectors.yonyou.client import YonyouClient
from huiliu.connectors.yonyou.errors import SYSTEM, is_duplicate
from huiliu.connectors.yonyou.mapping import (
    PaymentRequest,
    payment_from_json,
    payment_values,
    project_from_json,
    project_values,
    to_money,
)
from huiliu.connectors.yonyou.settings import Flavour, YonyouSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t

if TYPE_CHECKING:
    from huiliu.connectors.yonyou.actions import YonyouCatalog

__all__ = [
    "PAYMENT_CREATE",
    "PAYMENT_READ",
    "PAYMENT_STATES",
    "PROJECT_ACTUALS",
    "PROJECT_ENSURE",
    "PaymentCreate",
    "PaymentRead",
    "ProjectActuals",
    "ProjectEnsure",
    "register_finance_actions",
]

PAYMENT_CREATE = "yonyou.payment.create"
PAYMENT_READ = "yonyou.payment.read"
PROJECT_ENSURE = "yonyou.project.ensure"
PROJECT_ACTUALS = "yonyou.project.actuals"

_DRAFT, _APPROVED, _CLOSED, _APPROVING = "0", "1", "2", "3"
PAYMENT_STATES: dict[str, str] = {_DRAFT: "draft", _APPROVED: "approved", _CLOSED: "closed",
                                  _APPROVING: "approving"}
"""Yonyou payment ``status`` → the hub's state word (unconfirmed values, those of the purchase order)."""


def _id_of(saved: Any) -> Any:
    return saved.get("id") if isinstance(saved, Mapping) else saved


class _Payments:
    """Finding and reading payments, shared by the payment actions."""

    def __init__(self, client: YonyouClient, settings: YonyouSettings, catalog: YonyouCatalog) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def find(self, reference: str) -> dict[str, Any] | None:
        """The payment carrying ``reference`` (the oldest if an earlier failure let two exist), or ``None``."""
        return await self.catalog.first("payment.list", self.settings.reference_field, reference)

    async def detail(self, payment_id: Any) -> dict[str, Any]:
        """The payment with its lines (``payment.detail``)."""
        data = await self.client.call("payment.detail", None, params={"id": str(payment_id)})
        if isinstance(data, Mapping) and self.settings.flavour is Flavour.U8:
            data = data.get("paybill", data)
        if not isinstance(data, Mapping) or not data:
            raise VendorRejected(t(f"用友中找不到付款单 {payment_id}", f"no payment {payment_id} in Yonyou"),
                                 system=SYSTEM, operation="payment.detail", vendor_code="not_found",
                                 fix=t("检查流程传入的付款单 id 或引用",
                                       "check the payment id or reference the flow passes"))
        return dict(data)

    def result(self, row: Mapping[str, Any], adopted: bool) -> dict[str, Any]:
        """The shared result shape of a payment row."""
        currency = str(row.get("currency_code") or self.settings.local_currency)
        status = str(row.get("status", ""))
        paid = str(row.get(self.settings.payment_paid_field, "")) in self.settings.payment_paid_values
        return {"id": row.get("id"), "number": row.get("code"), "state": PAYMENT_STATES.get(status, status),
                "reference": row.get(self.settings.reference_field),
                "amount": to_money(row.get("oriSum"), currency, "payment.oriSum").amount, "currency": currency,
                "paid": paid, "adopted": adopted}


class PaymentCreate(_Payments):
    """The ``yonyou.payment.create`` action (see the module docstring for shapes)."""

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Save (or adopt) the payment, then audit it."""
        # Map before touching Yonyou: a malformed payment or a foreign currency fails without any call.
        payment = payment_from_json(request_part(request, "payment", PAYMENT_CREATE))
        payment_values(payment, ctx.reference, vendor="", settings=self.settings)
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        payment_id = found["id"] if found is not None else None
        if payment_id is None:
            payment_id, adopted = await self._save(payment, ctx)
        row = await self.detail(payment_id)
        if self.settings.audit_payments and str(row.get("status", "")) == _DRAFT:
            await self.client.call("payment.audit", {"data": [{"id": payment_id}]})
            row["status"] = _APPROVED
        result = self.result(row, adopted)
        result["reference"] = ctx.reference
        return result

    async def _save(self, payment: PaymentRequest, ctx: ActionContext) -> tuple[Any, bool]:
        vendor = await self.catalog.ensure_party(payment.supplier)
        body = payment_values(payment, ctx.reference, vendor=str(vendor["code"]), settings=self.settings)
        try:
            saved = await self.client.call("payment.save", body, idempotency_key=ctx.reference)
        except NoReply as exc:
            raise AmbiguousOutcome(
                t("保存付款单未得到应答，可能已生成", "saving the payment got no answer; it may exist"),
                system=SYSTEM, operation="payment.save", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复付款", "it is looked up by reference later, never paid twice"),
            ) from exc
        except VendorRejected as exc:
            if not is_duplicate(exc, self.settings):
                raise
            found = await self.find(ctx.reference)
            if found is None:
                raise
            return found["id"], True
        return _id_of(saved), False


class PaymentRead(_Payments):
    """The ``yonyou.payment.read`` action: ``{"id"}`` or ``{"reference"}`` → the payment result shape."""

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the payment. Read-only, so safe to retry."""
        raw_id, reference = request.get("id"), request.get("reference")
        if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) and str(raw_id):
            payment_id = raw_id
        elif isinstance(reference, str) and reference:
            found = await self.find(reference)
            if found is None:
                raise VendorRejected(t(f"用友中找不到引用为 {reference} 的付款单",
                                       f"no payment in Yonyou has reference {reference}"),
                                     system=SYSTEM, operation="payment.list", vendor_code="not_found",
                                     fix=t("确认付款单是否已生成", "check whether the payment was made"))
            payment_id = found["id"]
        else:
            raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                               where=f"{PAYMENT_READ}.id",
                               fix=t("传入 {\"id\": 付款单 id} 或 {\"reference\": 引用}",
                                     "pass {\"id\": payment id} or {\"reference\": reference}"))
        return self.result(await self.detail(payment_id), False)


class ProjectEnsure:
    """The ``yonyou.project.ensure`` action: match the 项目档案 by code, else save it. Safe to retry: a project
    saved by a lost attempt is matched; a save refused because another process made it meanwhile adopts it.
    """  # noqa: D205

    def __init__(self, client: YonyouClient, settings: YonyouSettings, catalog: YonyouCatalog) -> None:
        self._once = FindOrCreate()
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Match or save the project."""
        project = project_from_json(request_part(request, "project", PROJECT_ENSURE))

        async def find() -> dict[str, Any] | None:
            return await self.catalog.first("project.list", "code", project.code)

        async def create() -> dict[str, Any]:
            saved = await self.client.call("project.save", project_values(project, self.settings))
            return {"id": _id_of(saved), "code": project.code, "name": project.name}

        row, created = await self._once.ensure(f"project:{project.code}", find, create)
        return {"id": row.get("id"), "code": row.get("code"), "name": row.get("name"), "created": created,
                "matched_by": None if created else "code"}


class ProjectActuals:
    """The ``yonyou.project.actuals`` action: the actual costs booked against a project.

    Request: ``{"code": <project code>, "since"?: <ISO date>, "until"?: <ISO date>}``; ``until`` defaults to
    today in the tenant's zone, ``since`` to 1 January of ``until``'s year. Result: ``{"code", "currency",
    "actual": Decimal, "lines": [{"document", "date", "account", "amount"}]}``.

    What counts: every voucher entry (凭证分录) of the book ``settings.accbook_code`` that ``queryVouchers``
    returns for the periods from ``since`` to ``until``, whose voucher date (``makeTime``) lies in
    ``[since, until]``, whose account code starts with one of ``settings.cost_account_prefixes``, and whose
    auxiliary ``settings.project_aux_key`` equals the code. Each counts debit − credit in the book's currency
    (``debitOrg`` − ``creditOrg``), so a reversal (红字 or a credit) reduces the actual. Payments, orders and
    budgets do not count: a cost is actual once it is booked in the general ledger. Read-only.
    """

    def __init__(self, client: YonyouClient, settings: YonyouSettings) -> None:
        self.client = client
        self.settings = settings

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Sum the project's cost entries."""
        s = self.settings
        code = request.get("code")
        if not isinstance(code, str) or not code.strip():
            raise MappingError(t("请求缺少项目编码 code", "the request has no project code"),
                               where=f"{PROJECT_ACTUALS}.code", fix=t("传入 {\"code\": 项目编码}",
                                                                       "pass {\"code\": project code}"))
        code = code.strip()
        today = self.client.http.clock.now().astimezone(ZoneInfo(s.timezone)).date()
        until = _day(request, "until") or today
        since = _day(request, "since") or date(until.year, 1, 1)
        if since > until:
            raise MappingError(t("since 晚于 until", "since is after until"), where=f"{PROJECT_ACTUALS}.since",
                               fix=t("检查起止日期", "check the dates"))
        lines: list[dict[str, Any]] = []
        page = 1
        while True:
            data = await self.client.call("voucher.query", {
                "accbookCode": s.accbook_code, "periodStart": since.strftime("%Y-%m"),
                "periodEnd": until.strftime("%Y-%m"), "pager": {"pageIndex": page, "pageSize": s.page_size}})
            data = data if isinstance(data, Mapping) else {}
            rows = [r for r in data.get("recordList") or [] if isinstance(r, Mapping)]
            for row in rows:
                lines.extend(self._lines(row, code, since, until))
            if not rows or page * s.page_size >= int(data.get("recordCount") or 0):
                break
            page += 1
        lines.sort(key=lambda line: (line["date"], str(line["document"])))
        return {"code": code, "currency": s.local_currency,
                "actual": sum((line["amount"] for line in lines), Decimal(0)), "lines": lines}

    def _lines(self, row: Mapping[str, Any], code: str, since: date, until: date) -> list[dict[str, Any]]:
        s = self.settings
        try:
            day = date.fromisoformat(str(row.get("makeTime") or "")[:10])
        except ValueError:
            return []
        if not since <= day <= until:
            return []
        found = []
        for body in row.get("bodies") or []:
            if not isinstance(body, Mapping):
                continue
            aux = body.get("auxiliary")
            account = str(body.get("accsubjectCode") or "")
            if not isinstance(aux, Mapping) or str(aux.get(s.project_aux_key, "")) != code:
                continue
            if not account.startswith(s.cost_account_prefixes):
                continue
            debit = to_money(body.get("debitOrg") or 0, s.local_currency, "bodies.debitOrg").amount
            credit = to_money(body.get("creditOrg") or 0, s.local_currency, "bodies.creditOrg").amount
            found.append({"document": row.get("billCode"), "date": day, "account": account,
                          "amount": debit - credit})
        return found


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


def register_finance_actions(registry: ActionRegistry, client: YonyouClient, settings: YonyouSettings,
                             catalog: YonyouCatalog) -> None:
    """Register the payment and project actions, sharing the catalog of the purchase actions."""
    registry.register(PAYMENT_CREATE, PaymentCreate(client, settings, catalog))
    registry.register(PAYMENT_READ, PaymentRead(client, settings, catalog))
    registry.register(PROJECT_ENSURE, ProjectEnsure(client, settings, catalog))
    registry.register(PROJECT_ACTUALS, ProjectActuals(client, settings))
