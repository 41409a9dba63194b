"""Yonyou actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

Requests and results have the shapes of the Tryton connector's actions, so a flow can switch ERPs:

* ``yonyou.party.ensure`` / ``yonyou.product.ensure``: the vendor (供应商档案) or material (物料档案) is matched
  (by code, tax number or name, as configured) and only saved when nothing matches. A new one without an OA
  code gets a code derived from its name, so a retry after a lost reply matches what the first attempt made.
* ``yonyou.purchase.create``: the save carries the hub's reference twice: as ``resubmitCheckKey`` (YonBIP
  refuses a repeat of it, "MDD 幂等", contract §5.1) or a U8 ``tradeid`` kept for the retry, and in
  ``settings.reference_field``. A retry looks the reference up first; a save refused as a repeat adopts the
  order found by the reference. A save that got no answer is :class:`AmbiguousOutcome`. The order is then
  brought forward: 开立 → ``batchsubmit`` → 审核中 → ``batchaudit`` → 已审核.
* ``yonyou.purchase.read``: state, number, totals and lines, amounts as ``Decimal``.
* ``yonyou.purchase.reverse``: an order still 开立 is deleted; one 审核中 or 已审核 is un-audited (弃审)
  first. Yonyou refuses that once downstream documents exist (入库单, 发票); the refusal names them.
* ``yonyou.voucher.create``: ``addVoucher`` of a balanced voucher, looked up by its reference before a
  retry; a duplicate refusal (310504 / 310074) adopts the voucher found.
* ``yonyou.changes.since``: purchase orders whose ``settings.modified_field`` (``pubts``) is at or after a
  tz-aware time, a page at a time.

Status values of purchase orders (0 开立, 1 已审核, 2 已关闭, 3 审核中) are unconfirmed; they are those of
Yonyou's UI as integrators report them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from huiliu.connectors.base import ActionContext, ActionRegistry, FindOrCreate
from huiliu.connectors.purchasing import PartyEnsure, ProductEnsure, request_part
from huiliu.connectors.yonyou.client import YonyouClient
from huiliu.connectors.yonyou.errors import SYSTEM, is_duplicate
from huiliu.connectors.yonyou.finance import register_finance_actions
from huiliu.connectors.yonyou.mapping import (
    Item,
    PurchaseRequisition,
    Supplier,
    format_time,
    parse_time,
    product_values,
    purchase_order_values,
    requisition_from_json,
    to_money,
    vendor_values,
    voucher_from_json,
    voucher_values,
)
from huiliu.connectors.yonyou.settings import Flavour, PartyMatch, ProductMatch, YonyouSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t

__all__ = [
    "CHANGES_SINCE",
    "PARTY_ENSURE",
    "PRODUCT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "STATES",
    "VOUCHER_CREATE",
    "ChangesSince",
    "PartyEnsure",
    "ProductEnsure",
    "PurchaseCreate",
    "PurchaseRead",
    "PurchaseReverse",
    "VoucherCreate",
    "YonyouCatalog",
    "register_actions",
]

PARTY_ENSURE = "yonyou.party.ensure"
PRODUCT_ENSURE = "yonyou.product.ensure"
PURCHASE_CREATE = "yonyou.purchase.create"
PURCHASE_READ = "yonyou.purchase.read"
PURCHASE_REVERSE = "yonyou.purchase.reverse"
VOUCHER_CREATE = "yonyou.voucher.create"
CHANGES_SINCE = "yonyou.changes.since"

_DRAFT, _APPROVED, _CLOSED, _APPROVING = "0", "1", "2", "3"
STATES: dict[str, str] = {_DRAFT: "draft", _APPROVED: "approved", _CLOSED: "closed", _APPROVING: "approving"}
"""Yonyou purchase order ``status`` → the hub's state word (unconfirmed values)."""


def derived_code(prefix: str, name: str) -> str:
    """A stable code for master data the OA sent without one: ``prefix`` + 10 hex digits of the name's hash."""
    return prefix + hashlib.sha256(name.encode()).hexdigest()[:10].upper()


class YonyouCatalog:
    """Finds or saves the master data orders need: vendors and materials.

    Args:
        client: the Yonyou client.
        settings: the connector settings (match order, units, classes).
    """

    def __init__(self, client: YonyouClient, settings: YonyouSettings) -> None:
        self._once = FindOrCreate()
        self.client = client
        self.settings = settings

    def conditions(self, field: str, value: str, op: str = "eq") -> dict[str, Any]:
        """List conditions for one field: YonBIP ``simpleVOs`` (unconfirmed shape), U8 query parameters."""
        if self.settings.flavour is Flavour.U8:
            return {field: value}
        return {"simpleVOs": [{"field": field, "op": op, "value1": value}]}

    async def first(self, operation: str, field: str, value: str) -> dict[str, Any] | None:
        """The first row of list ``operation`` whose ``field`` equals ``value``, oldest (lowest id) first."""
        rows, _ = await self.client.page(operation, self.conditions(field, value), 1)
        rows = [r for r in rows if str(r.get(field)) == value]  # a server that ignores the filter stays safe
        rows.sort(key=lambda r: (len(str(r.get("id"))), str(r.get("id"))))
        return rows[0] if rows else None

    async def _find_vendor(self, supplier: Supplier) -> dict[str, Any] | None:
        for way in self.settings.party_match:
            field, value = {PartyMatch.CODE: ("code", supplier.code),
                            PartyMatch.TAX_IDENTIFIER: (self.settings.tax_id_field, supplier.tax_id),
                            PartyMatch.NAME: ("name", supplier.name)}[way]
            if value:
                row = await self.first("vendor.list", field, value)
                if row is not None:
                    return {**row, "matched_by": way.value}
        return None

    async def ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """:meth:`_ensure_party` one at a time per supplier; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        key = f"party:{supplier.code or supplier.tax_id or supplier.name}"
        return await self._once.once(key, lambda: self._ensure_party(supplier))

    async def _ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """Match the supplier to a vendor or save it; ``{"id", "code", "name", "address", "created", "matched_by"}``."""
        found = await self._find_vendor(supplier)
        created = found is None
        if found is None:
            code = supplier.code or derived_code("HLV", supplier.name)
            if supplier.code is None:  # a lost first attempt saved it under the derived code
                found = await self.first("vendor.list", "code", code)
            if found is None:
                saved = await self.client.call("vendor.save", vendor_values(supplier, code, self.settings))
                found = {"id": _id_of(saved), "code": code, "name": supplier.name}
        return {"id": found.get("id"), "code": found.get("code"), "name": found.get("name"),
                "address": found.get("address"), "created": created, "matched_by": found.get("matched_by")}

    def unit(self, name: str | None) -> str:
        """The Yonyou unit code for an OA unit name (``settings.units``; unknown names are sent as they are)."""
        return self.settings.default_unit if name is None else self.settings.units.get(name, name)

    async def _find_product(self, item: Item) -> dict[str, Any] | None:
        for way in self.settings.product_match:
            field, value = {ProductMatch.CODE: ("code", item.code), ProductMatch.NAME: ("name", item.name)}[way]
            if value:
                row = await self.first("product.list", field, value)
                if row is not None:
                    return {**row, "matched_by": way.value}
        return None

    async def ensure_product(self, item: Item) -> dict[str, Any]:
        """:meth:`_ensure_product` one at a time per item; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        return await self._once.once(f"product:{item.code or item.name}", lambda: self._ensure_product(item))

    async def _ensure_product(self, item: Item) -> dict[str, Any]:
        """Match the item to a material or save it.

        Returns:
            ``{"id", "template", "code", "name", "unit", "created", "matched_by"}``; ``template`` is the id
            (Yonyou has no template/variant split).
        """
        found = await self._find_product(item)
        created = found is None
        if found is None:
            code = item.code or derived_code("HLM", item.name)
            if item.code is None:
                found = await self.first("product.list", "code", code)
            if found is None:
                unit = self.unit(item.unit)
                saved = await self.client.call("product.save", product_values(item, code, unit, self.settings))
                found = {"id": _id_of(saved), "code": code, "name": item.name, "unit_code": unit}
        unit_code = self.unit(item.unit) if item.unit is not None else str(found.get("unit_code")
                                                                           or self.settings.default_unit)
        return {"id": found.get("id"), "template": found.get("id"), "code": found.get("code"),
                "name": found.get("name"), "unit": unit_code, "created": created,
                "matched_by": found.get("matched_by")}


def _id_of(saved: Any) -> Any:
    if isinstance(saved, Mapping):
        return saved.get("id")
    return saved


class _Orders:
    """Reading purchase orders, shared by the purchase actions."""

    def __init__(self, client: YonyouClient, settings: YonyouSettings, catalog: YonyouCatalog) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def find(self, reference: str) -> dict[str, Any] | None:
        """The order carrying ``reference`` (the oldest if an earlier failure let two exist), or ``None``."""
        return await self.catalog.first("purchase.list", self.settings.reference_field, reference)

    async def detail(self, order_id: Any) -> dict[str, Any]:
        """The order with its lines (``purchase.detail``)."""
        data = await self.client.call("purchase.detail", None, params={"id": str(order_id)})
        if isinstance(data, Mapping) and self.settings.flavour is Flavour.U8:
            data = data.get("purchaseorder", data)
        if not isinstance(data, Mapping) or not data:
            raise _missing(f"id {order_id}", "purchase.detail")
        return dict(data)

    async def resolve(self, request: Mapping[str, Any], action: str) -> Any:
        raw_id, reference = request.get("id"), request.get("reference")
        if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) and str(raw_id):
            return raw_id
        if isinstance(reference, str) and reference:
            found = await self.find(reference)
            if found is None:
                raise _missing(f"reference {reference}", "purchase.list")
            return found["id"]
        raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                           where=f"{action}.id",
                           fix=t("传入 {\"id\": 采购订单 id} 或 {\"reference\": 引用}",
                                 "pass {\"id\": purchase id} or {\"reference\": reference}"))

    def summary(self, row: Mapping[str, Any]) -> dict[str, Any]:
        currency = str(row.get("currency_code") or self.settings.local_currency)
        lines = [line for line in row.get("purchaseOrders") or [] if isinstance(line, Mapping)]
        untaxed = sum((to_money(line.get("oriMoney", 0), currency, "purchaseOrders.oriMoney").amount
                       for line in lines), Decimal(0))
        tax = sum((to_money(line.get("oriTax", 0), currency, "purchaseOrders.oriTax").amount for line in lines),
                  Decimal(0))
        status = str(row.get("status", ""))
        return {"id": row.get("id"), "number": row.get("code"), "state": STATES.get(status, status),
                "vendor_state": status, "reference": row.get(self.settings.reference_field),
                "party": row.get("vendor_code"), "currency": currency, "untaxed_amount": untaxed,
                "tax_amount": tax, "total_amount": untaxed + tax, "lines": lines}


def _missing(what: str, operation: str) -> VendorRejected:
    return VendorRejected(t(f"用友中找不到采购订单（{what}）", f"no purchase order in Yonyou ({what})"),
                          system=SYSTEM, operation=operation, vendor_code="not_found",
                          fix=t("检查流程传入的订单 id 或引用", "check the order id or reference the flow passes"))


class PurchaseCreate(_Orders):
    """The ``yonyou.purchase.create`` action.

    Request: ``{"requisition": <see huiliu.connectors.yonyou.mapping>}``. Result: ``{"id", "number", "state",
    "reference", "party", "untaxed_amount", "total_amount", "currency", "adopted"}`` (amounts ``Decimal``;
    ``state`` is ``draft``, ``approving`` or ``approved``); ``adopted`` is true when an order saved by an
    earlier attempt was found and used.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Save (or adopt) the purchase order, then submit and audit it."""
        # Map before touching Yonyou: a malformed requisition fails without any call.
        requisition = requisition_from_json(request_part(request, "requisition", PURCHASE_CREATE))
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        order_id = found["id"] if found is not None else None
        if order_id is None:
            order_id, adopted = await self._save(requisition, ctx)
        row = await self.detail(order_id)
        row["status"] = await self._advance(order_id, str(row.get("status", "")), row.get("code"))
        summary = self.summary(row)
        return {"id": summary["id"], "number": summary["number"], "state": STATES.get(row["status"], row["status"]),
                "reference": ctx.reference, "party": summary["party"], "currency": summary["currency"],
                "untaxed_amount": summary["untaxed_amount"], "total_amount": summary["total_amount"],
                "adopted": adopted}

    async def _save(self, requisition: PurchaseRequisition, ctx: ActionContext) -> tuple[Any, bool]:
        vendor = await self.catalog.ensure_party(requisition.supplier)
        products: dict[int, str] = {}
        units: dict[int, str] = {}
        seen: dict[tuple[str | None, str], dict[str, Any]] = {}
        for index, line in enumerate(requisition.lines):
            key = (line.item.code, line.item.name if line.item.code is None else "")
            if key not in seen:
                seen[key] = await self.catalog.ensure_product(line.item)
            products[index] = str(seen[key]["code"])
            units[index] = self.catalog.unit(line.item.unit) if line.item.unit else str(seen[key]["unit"])
        body = purchase_order_values(requisition, ctx.reference, vendor=str(vendor["code"]), products=products,
                                     units=units, order_date=self.client.http.clock.now().date(),
                                     settings=self.settings)
        try:
            saved = await self.client.call("purchase.save", body, idempotency_key=ctx.reference)
        except NoReply as exc:
            raise AmbiguousOutcome(
                t("保存采购订单未得到应答，可能已生成", "saving the purchase order got no answer; it may exist"),
                system=SYSTEM, operation="purchase.save", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        except VendorRejected as exc:
            if not is_duplicate(exc, self.settings):
                raise
            found = await self.find(ctx.reference)
            if found is None:
                raise
            return found["id"], True
        return _id_of(saved), False

    async def _advance(self, order_id: Any, status: str, number: Any) -> str:
        if status == _CLOSED:
            raise VendorRejected(
                t(f"采购订单 {number} 已在用友中关闭", f"purchase order {number} was closed in Yonyou"),
                system=SYSTEM, operation="purchase.submit", vendor_code=status,
                fix=t("确认是否需要重新下单；如需要，请以新的申请发起",
                      "decide whether to order again; if so, start it from a new requisition"))
        if not self.settings.audit_purchases:
            return status
        if status == _DRAFT:
            await self.client.call("purchase.submit", {"data": [{"id": order_id}]})
            status = _APPROVING
        if status == _APPROVING:
            await self.client.call("purchase.audit", {"data": [{"id": order_id}]})
            status = _APPROVED
        return status


class PurchaseRead(_Orders):
    """The ``yonyou.purchase.read`` action.

    Request: ``{"id": <order id>}`` or ``{"reference": <hub reference>}``. Result: ``{"id", "number", "state",
    "invoice_state", "shipment_state", "reference", "description", "party", "currency", "purchase_date",
    "untaxed_amount", "tax_amount", "total_amount", "lines": [{"id", "product", "description", "quantity",
    "unit_price", "amount"}], "invoices": []}``; amounts and quantities ``Decimal``. Invoice and shipment
    states are ``None``: the order API does not report them (unconfirmed).
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the order. Read-only, so safe to retry."""
        row = await self.detail(await self.resolve(request, PURCHASE_READ))
        summary = self.summary(row)
        currency = summary["currency"]
        purchase_date = row.get("vouchdate")
        return {
            "id": summary["id"], "number": summary["number"], "state": summary["state"],
            "invoice_state": None, "shipment_state": None, "reference": summary["reference"],
            "description": row.get("memo"), "party": summary["party"], "currency": currency,
            "purchase_date": date.fromisoformat(str(purchase_date)[:10]) if purchase_date else None,
            "untaxed_amount": summary["untaxed_amount"], "tax_amount": summary["tax_amount"],
            "total_amount": summary["total_amount"],
            "lines": [{"id": line.get("id"), "product": line.get("product_cCode"), "description": line.get("memo"),
                       "quantity": Decimal(str(line.get("qty"))),
                       "unit_price": Decimal(str(line.get("oriUnitPrice"))),
                       "amount": to_money(line.get("oriMoney"), currency, "purchaseOrders.oriMoney").amount}
                      for line in summary["lines"]],
            "invoices": [],
        }


class PurchaseReverse(_Orders):
    """The ``yonyou.purchase.reverse`` action.

    Request: ``{"id"}`` or ``{"reference"}``. Result: ``{"id", "number", "state": "deleted", "reversed": true,
    "how"}``; ``how`` is ``deleted`` or ``already_absent`` (a retry after a delete whose reply was lost).
    Raises :class:`VendorRejected` when Yonyou refuses (closed order, downstream documents), its message kept.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Un-audit if needed, then delete the order. Safe to retry."""
        try:
            order_id = await self.resolve(request, PURCHASE_REVERSE)
            row = await self.detail(order_id)
        except VendorRejected as exc:
            if exc.vendor_code != "not_found" and not (exc.vendor_message or "").count("不存在"):
                raise
            return {"id": request.get("id"), "number": None, "state": "deleted", "reversed": True,
                    "how": "already_absent"}
        status, number = str(row.get("status", "")), row.get("code")
        if status == _CLOSED:
            raise VendorRejected(
                t(f"采购订单 {number} 已关闭，用友要求先打开订单才能弃审删除",
                  f"purchase order {number} is closed; Yonyou requires it to be reopened before un-audit"),
                system=SYSTEM, operation="purchase.unaudit", vendor_code=status,
                fix=t("在用友中打开该订单（或做退货/红字处理）", "reopen the order in Yonyou, or reverse it by return"))
        if status in (_APPROVED, _APPROVING):
            await self.client.call("purchase.unaudit", {"data": [{"id": order_id}]})
        await self.client.call("purchase.delete", {"data": [{"id": order_id}]})
        return {"id": order_id, "number": number, "state": "deleted", "reversed": True, "how": "deleted"}


class VoucherCreate:
    """The ``yonyou.voucher.create`` action.

    Request: ``{"voucher": <JSON form of huiliu.model.Voucher>}``. Result: ``{"id", "number", "status",
    "adopted"}`` (the Kingdee action's shape).
    """

    def __init__(self, client: YonyouClient, settings: YonyouSettings) -> None:
        self.client = client
        self.settings = settings

    async def find(self, reference: str, on: date) -> tuple[Any, str, str] | None:
        """The (id, billCode, status) of the voucher of ``on``'s period whose first entry names ``reference``."""
        period = on.strftime("%Y-%m")
        marker = f"[{reference}]"
        page = 1
        while True:
            data = await self.client.call("voucher.query", {
                "accbookCode": self.settings.accbook_code, "periodStart": period, "periodEnd": period,
                "pager": {"pageIndex": page, "pageSize": self.settings.page_size}})
            data = data if isinstance(data, Mapping) else {}
            rows = [r for r in data.get("recordList") or [] if isinstance(r, Mapping)]
            for row in rows:
                bodies = row.get("bodies") or []
                first = bodies[0] if bodies and isinstance(bodies[0], Mapping) else {}
                if str(first.get("description", "")).startswith(marker):
                    return row.get("voucherId") or row.get("id"), str(row.get("billCode")), str(row.get("status", ""))
            if page * self.settings.page_size >= int(data.get("recordCount") or 0) or not rows:
                return None
            page += 1

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Add (or adopt) the voucher."""
        # Map before touching Yonyou: a malformed or unbalanced voucher fails without any call.
        voucher = voucher_from_json(request_part(request, "voucher", VOUCHER_CREATE))
        body = voucher_values(voucher, ctx.reference, self.settings)
        can_find = self.settings.voucher_description_reference
        found = await self.find(ctx.reference, voucher.date) if ctx.attempt > 1 and can_find else None
        if found is not None:
            return {"id": found[0], "number": found[1], "status": found[2], "adopted": True}
        try:
            data = await self.client.call("voucher.add", body, idempotency_key=ctx.reference)
        except NoReply as exc:
            raise AmbiguousOutcome(
                t("保存凭证未得到应答，可能已生成", "addVoucher got no answer; the voucher may exist"),
                system=SYSTEM, operation="voucher.add", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        except VendorRejected as exc:
            adopted = await self.find(ctx.reference, voucher.date) if can_find and is_duplicate(
                exc, self.settings) else None
            if adopted is None:
                raise
            return {"id": adopted[0], "number": adopted[1], "status": adopted[2], "adopted": True}
        data = data if isinstance(data, Mapping) else {}
        return {"id": data.get("voucherId"), "number": data.get("billCode"), "status": str(data.get("status", "")),
                "adopted": False}


class ChangesSince:
    """The ``yonyou.changes.since`` action.

    Request: ``{"since": <ISO time with offset>, "cursor"?: <from the last page>, "limit"?: <rows>}``. Result:
    ``{"documents": [{"kind": "purchase", "id", "number", "state", "modified"}], "next_cursor"}``;
    ``modified`` is tz-aware UTC, ``next_cursor`` ``None`` on the last page.
    """

    def __init__(self, client: YonyouClient, settings: YonyouSettings, catalog: YonyouCatalog) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """One page of changed purchase orders. Read-only, so safe to retry."""
        since = _since(request, CHANGES_SINCE)
        page = _cursor(request, CHANGES_SINCE)
        limit = request.get("limit", self.settings.page_size)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
            raise MappingError(t("limit 应为 1 到 500 的整数", "limit must be an integer from 1 to 500"),
                               where=f"{CHANGES_SINCE}.limit", fix=t("传入合适的每页条数", "pass a page size"))
        field = self.settings.modified_field
        conditions = self.catalog.conditions(field, format_time(since, self.settings.timezone), "egt")
        rows, total = await self.client.page("purchase.list", conditions, page, limit)
        documents = [{"kind": "purchase", "id": r.get("id"), "number": r.get("code"),
                      "state": STATES.get(str(r.get("status", "")), str(r.get("status", ""))),
                      "modified": parse_time(r.get(field), self.settings.timezone)} for r in rows]
        more = rows and page * limit < total
        return {"documents": documents, "next_cursor": str(page + 1) if more else None}


def _since(request: Mapping[str, Any], action: str) -> datetime:
    raw = request.get("since")
    value: datetime | None = None
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            value = None
    if value is None or value.tzinfo is None or value.utcoffset() is None:
        raise MappingError(t("since 应为带时区的时间", "since must be a time with a UTC offset"),
                           where=f"{action}.since",
                           fix=t("传入如 2026-11-25T09:00:00+08:00 的时间", "pass e.g. 2026-11-25T09:00:00+08:00"))
    return value


def _cursor(request: Mapping[str, Any], action: str) -> int:
    raw = request.get("cursor")
    if raw is None:
        return 1
    if isinstance(raw, str) and raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise MappingError(t("cursor 不正确", "bad cursor"), where=f"{action}.cursor",
                       fix=t("传入上一页返回的 next_cursor", "pass the next_cursor of the previous page"))


def register_actions(registry: ActionRegistry, client: YonyouClient, settings: YonyouSettings) -> None:
    """Register the Yonyou actions, the payment and project ones (:mod:`.finance`) included."""
    catalog = YonyouCatalog(client, settings)
    registry.register(PARTY_ENSURE, PartyEnsure(catalog, PARTY_ENSURE))
    registry.register(PRODUCT_ENSURE, ProductEnsure(catalog, PRODUCT_ENSURE))
    registry.register(PURCHASE_CREATE, PurchaseCreate(client, settings, catalog))
    registry.register(PURCHASE_READ, PurchaseRead(client, settings, catalog))
    registry.register(PURCHASE_REVERSE, PurchaseReverse(client, settings, catalog))
    registry.register(VOUCHER_CREATE, VoucherCreate(client, settings))
    registry.register(CHANGES_SINCE, ChangesSince(client, settings, catalog))
    register_finance_actions(registry, client, settings, catalog)
