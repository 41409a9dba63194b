"""ERPNext actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

The vocabulary and the request/result shapes are the Tryton connector's, so a flow can switch ERPs; ids are
Frappe document names (strings):

* ``erpnext.party.ensure``: the supplier is matched (code field, ``tax_id`` or ``supplier_name``) and only
  created when nothing matches; a 409 on create (Supplier named by its name already exists) adopts that one.
* ``erpnext.product.ensure``: the same for items (``item_code`` or ``item_name``).
* ``erpnext.purchase.create``: Frappe has no idempotency key and names orders by series (contract §7). Every
  attempt after the first looks the hub's reference up in ``settings.reference_field`` and adopts what it
  finds; a create with no answer is :class:`AmbiguousOutcome`; where the reference field is unique, the
  site's refusal of a second order adopts the first. The order is then submitted (docstatus 0 → 1).
* ``erpnext.purchase.read``: status, number, totals and items, amounts as ``Decimal``. Purchase Invoices are
  not read (``invoices`` is always empty); ``invoice_state`` / ``shipment_state`` come from ``per_billed`` /
  ``per_received``.
* ``erpnext.purchase.reverse``: cancel (docstatus 1 → 2) when an approval is revoked after approval; a draft
  is deleted instead (Frappe refuses 0 → 2). A received order is refused by the site (``LinkExistsError``),
  and the error says what ERPNext requires.
* ``erpnext.changes.since``: documents of a DocType whose ``modified`` is at or after a tz-aware time, paged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from huiliu.connectors.base import ActionContext, ActionRegistry, FindOrCreate
from huiliu.connectors.erpnext.accounting import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    VOUCHER_CREATE,
    ErpnextBooks,
    PaymentCreate,
    PaymentRead,
    VoucherCreate,
)
from huiliu.connectors.erpnext.client import ErpnextClient, Filters
from huiliu.connectors.erpnext.errors import SYSTEM
from huiliu.connectors.erpnext.mapping import (
    Item,
    PurchaseRequisition,
    Supplier,
    from_site_time,
    item_values,
    purchase_values,
    requisition_from_json,
    supplier_values,
    to_money,
    to_site_time,
)
from huiliu.connectors.erpnext.project import PROJECT_ACTUALS, PROJECT_ENSURE, ProjectActuals, ProjectEnsure
from huiliu.connectors.erpnext.settings import ErpnextSettings, PartyMatch, ProductMatch
from huiliu.connectors.purchasing import PartyEnsure, ProductEnsure, request_part
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t

__all__ = [
    "CHANGES_SINCE",
    "PARTY_ENSURE",
    "PRODUCT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "ChangesSince",
    "ErpnextCatalog",
    "PartyEnsure",
    "ProductEnsure",
    "PurchaseCreate",
    "PurchaseRead",
    "PurchaseReverse",
    "register_actions",
]

PARTY_ENSURE = "erpnext.party.ensure"
PRODUCT_ENSURE = "erpnext.product.ensure"
PURCHASE_CREATE = "erpnext.purchase.create"
PURCHASE_READ = "erpnext.purchase.read"
PURCHASE_REVERSE = "erpnext.purchase.reverse"
CHANGES_SINCE = "erpnext.changes.since"

_PO = "Purchase Order"
_OLDEST = "creation asc"
_DUPLICATES = frozenset({"DuplicateEntryError", "UniqueValidationError"})


class ErpnextCatalog:
    """Finds or creates the master data orders need: suppliers, items and units (UOM names are cached)."""

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings) -> None:
        self._once = FindOrCreate()
        self.client = client
        self.settings = settings
        self._units: set[str] = set()

    async def unit(self, name: str | None, where: str) -> str:
        """The ``UOM`` name for an OA unit name, through ``settings.units``; checked to exist once."""
        uom = self.settings.default_unit if name is None else self.settings.units.get(name, name)
        if uom not in self._units:
            if not await self.client.get_list("UOM", filters=[["name", "=", uom]], limit=1):
                raise MappingError(
                    t(f"单位 {name or uom} 在 ERPNext 中没有对应的 UOM（{uom}）",
                      f"unit {name or uom} has no ERPNext UOM ({uom})"),
                    where=where, fix=t(f"在设置 units 中把 {name or uom} 映射到 ERPNext 的 UOM 名称",
                                       f"map {name or uom} to an ERPNext UOM name in the units setting"))
            self._units.add(uom)
        return uom

    async def _first(self, doctype: str, filters: Filters, fields: list[str]) -> dict[str, Any] | None:
        rows = await self.client.get_list(doctype, fields=fields, filters=filters, order_by=_OLDEST, limit=1)
        return rows[0] if rows else None

    async def ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """:meth:`_ensure_party` one at a time per supplier; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        key = f"party:{supplier.code or supplier.tax_id or supplier.name}"
        return await self._once.once(key, lambda: self._ensure_party(supplier))

    async def _ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """Match the supplier or create it.

        Returns:
            ``{"id", "code", "name", "address", "created", "matched_by"}``; ``id`` is the Supplier's name,
            ``address`` is ``None`` (ERPNext addresses are separate documents the hub does not create).
        """
        code_field = self.settings.supplier_code_field
        fields = ["name", "supplier_name", *([code_field] if code_field else [])]
        found, matched_by = None, None
        for way in self.settings.party_match:
            filters: Filters | None = None
            if way is PartyMatch.CODE and supplier.code and code_field:
                filters = [[code_field, "=", supplier.code]]
            elif way is PartyMatch.TAX_ID and supplier.tax_id:
                filters = [["tax_id", "=", supplier.tax_id]]
            elif way is PartyMatch.NAME:
                filters = [["supplier_name", "=", supplier.name]]
            if filters is not None and (found := await self._first("Supplier", filters, fields)) is not None:
                matched_by = way.value
                break
        created = found is None
        if found is None:
            try:
                found = await self.client.insert("Supplier", supplier_values(supplier, self.settings))
            except VendorRejected as exc:
                # Suppliers are named by supplier_name: a 409 means one with this name exists but did not match
                # the configured ways (or was made by an attempt whose reply was lost). It is the same supplier.
                if exc.vendor_code != "DuplicateEntryError":
                    raise
                found = await self._first("Supplier", [["supplier_name", "=", supplier.name]], fields)
                if found is None:
                    raise
                created, matched_by = False, "name"
        return {"id": found["name"], "code": found.get(code_field) if code_field else None,
                "name": found.get("supplier_name"), "address": None, "created": created, "matched_by": matched_by}

    async def ensure_product(self, item: Item, where: str = "item") -> dict[str, Any]:
        """:meth:`_ensure_product` one at a time per item; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        return await self._once.once(f"product:{item.code or item.name}", lambda: self._ensure_product(item, where))

    async def _ensure_product(self, item: Item, where: str = "item") -> dict[str, Any]:
        """Match the item or create it.

        Returns:
            ``{"id", "template", "code", "name", "unit", "created", "matched_by"}``; ``id`` and ``code`` are the
            ``item_code``, ``template`` is ``None`` (no variants), ``unit`` the UOM name for order lines.
        """
        fields = ["name", "item_code", "item_name", "stock_uom"]
        found, matched_by = None, None
        for way in self.settings.product_match:
            filters: Filters | None = None
            if way is ProductMatch.CODE and item.code:
                filters = [["item_code", "=", item.code]]
            elif way is ProductMatch.NAME:
                filters = [["item_name", "=", item.name]]
            if filters is not None and (found := await self._first("Item", filters, fields)) is not None:
                matched_by = way.value
                break
        created = found is None
        if found is None:
            uom = await self.unit(item.unit, f"{where}.unit")
            try:
                found = await self.client.insert("Item", item_values(item, uom, self.settings))
            except VendorRejected as exc:
                if exc.vendor_code != "DuplicateEntryError":
                    raise
                found = await self._first("Item", [["item_code", "=", item.code or item.name]], fields)
                if found is None:
                    raise
                created, matched_by = False, "code"
        unit = await self.unit(item.unit, f"{where}.unit") if item.unit is not None else str(found["stock_uom"])
        return {"id": found["name"], "template": None, "code": found.get("item_code"),
                "name": found.get("item_name"), "unit": unit, "created": created, "matched_by": matched_by}


class _Orders:
    """What the purchase actions share: finding an order by name or reference."""

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings) -> None:
        self.client = client
        self.settings = settings

    async def find(self, reference: str) -> dict[str, Any] | None:
        """The order carrying ``reference`` (the oldest if an earlier failure let two exist), or ``None``."""
        rows = await self.client.get_list(_PO, fields=["name", "docstatus", "status"],
                                          filters=[[self.settings.reference_field, "=", reference]],
                                          order_by=_OLDEST, limit=1)
        return rows[0] if rows else None

    async def resolve(self, request: Mapping[str, Any], action: str) -> str:
        name, reference = request.get("id"), request.get("reference")
        if isinstance(name, str) and name:
            return name
        if isinstance(reference, str) and reference:
            found = await self.find(reference)
            if found is None:
                raise VendorRejected(
                    t(f"ERPNext 中找不到采购订单（reference {reference}）",
                      f"no purchase order in ERPNext (reference {reference})"),
                    system=SYSTEM, operation=f"{_PO}.list", vendor_code="not_found",
                    fix=t("检查流程传入的订单名或引用", "check the order name or reference the flow passes"))
            return str(found["name"])
        raise MappingError(t("请求需要 id（单据名）或 reference",
                             "the request needs an id (document name) or a reference"),
                           where=f"{action}.id",
                           fix=t("传入 {\"id\": \"PUR-ORD-…\"} 或 {\"reference\": 引用}",
                                 "pass {\"id\": \"PUR-ORD-…\"} or {\"reference\": reference}"))

    def today(self) -> date:
        """The site's date (its time zone), from the HTTP client's clock."""
        return self.client.http.clock.now().astimezone(self.settings.zone).date()


class PurchaseCreate(_Orders):
    """The ``erpnext.purchase.create`` action.

    Request: ``{"requisition": <see huiliu.connectors.erpnext.mapping>}``. Result: ``{"id", "number", "state",
    "docstatus", "reference", "party", "currency", "untaxed_amount", "total_amount", "adopted"}`` (amounts
    ``Decimal``; ``id`` and ``number`` are the order's name).
    """

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings, catalog: ErpnextCatalog) -> None:
        super().__init__(client, settings)
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the purchase order, then submit it."""
        requisition = requisition_from_json(request_part(request, "requisition", PURCHASE_CREATE))
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        if found is None:
            name, adopted = await self._create(requisition, ctx.reference)
        else:
            name = str(found["name"])
        doc = await self._advance(name, requisition)
        currency = str(doc.get("currency") or requisition.currency)
        return {"id": name, "number": name, "state": doc.get("status"), "docstatus": doc.get("docstatus"),
                "reference": ctx.reference, "party": doc.get("supplier"), "currency": currency,
                "untaxed_amount": to_money(doc.get("net_total"), currency, "net_total").amount,
                "total_amount": to_money(doc.get("grand_total"), currency, "grand_total").amount,
                "adopted": adopted}

    async def _create(self, requisition: PurchaseRequisition, reference: str) -> tuple[str, bool]:
        supplier = await self.catalog.ensure_party(requisition.supplier)
        items: dict[int, str] = {}
        units: dict[int, str] = {}
        seen: dict[tuple[str | None, str], dict[str, Any]] = {}
        for index, line in enumerate(requisition.lines):
            key = (line.item.code, line.item.name if line.item.code is None else "")
            if key not in seen:
                seen[key] = await self.catalog.ensure_product(line.item, f"requisition.lines.{index}.item")
            items[index] = seen[key]["id"]
            units[index] = (await self.catalog.unit(line.item.unit, f"requisition.lines.{index}.item.unit")
                            if line.item.unit is not None else seen[key]["unit"])
        values = purchase_values(requisition, reference, supplier=supplier["id"], items=items, units=units,
                                 today=self.today(), settings=self.settings)
        try:
            doc = await self.client.insert(_PO, values)
        except NoReply as exc:  # an HTTP error is an answer: Frappe rolled the transaction back
            raise AmbiguousOutcome(
                t("创建采购订单未得到应答，可能已生成", "creating the purchase order got no answer; it may exist"),
                system=SYSTEM, operation=f"{_PO}.insert", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        except VendorRejected as exc:
            field = self.settings.reference_field
            if exc.vendor_code not in _DUPLICATES or field not in (exc.vendor_message or ""):
                raise
            existing = await self.find(reference)
            if existing is None:
                raise
            return str(existing["name"]), True
        return str(doc["name"]), False

    async def _advance(self, name: str, requisition: PurchaseRequisition) -> dict[str, Any]:
        doc = await self.client.get_doc(_PO, name)
        if doc.get("docstatus") == 2:
            raise VendorRejected(
                t(f"采购订单 {name} 已在 ERPNext 中取消", f"purchase order {name} was cancelled in ERPNext"),
                system=SYSTEM, operation="submit", vendor_code="docstatus 2",
                fix=t("确认是否需要重新下单；如需要，请以新的申请发起",
                      "decide whether to order again; if so, start it from a new requisition"))
        if doc.get("docstatus") != 0 or not self.settings.submit_purchases:
            return doc
        if self.settings.check_amounts:
            amount = to_money(doc.get("net_total"), requisition.currency, "net_total")
            if amount != requisition.total:
                raise VendorRejected(
                    t(f"ERPNext 采购订单 {name} 金额 {amount} 与采购申请金额 {requisition.total} 不一致，未提交",
                      f"the ERPNext order {name}'s amount {amount} differs from the requisition's "
                      f"{requisition.total}; not submitted"),
                    system=SYSTEM, operation="submit", vendor_code="amount_mismatch",
                    vendor_message=f"{name}: net_total={amount.amount}",
                    fix=t("检查单价精度（Currency Precision）与数量，在 ERPNext 中修正或删除该草稿",
                          "check the rate precision and quantities; fix or delete the draft in ERPNext"))
        return await self.client.submit(_PO, name)


def _progress(percent: Any, none: str, some: str, full: str) -> str:
    value = Decimal(repr(percent)) if isinstance(percent, float) else Decimal(str(percent or 0))
    return full if value >= 100 else some if value > 0 else none


class PurchaseRead(_Orders):
    """The ``erpnext.purchase.read`` action.

    Request: ``{"id": <order name>}`` or ``{"reference": <hub reference>}``. Result: ``{"id", "number", "state",
    "docstatus", "invoice_state", "shipment_state", "reference", "description", "party", "currency",
    "purchase_date", "untaxed_amount", "tax_amount", "total_amount", "lines": [{"id", "product", "description",
    "quantity", "unit_price", "amount"}], "invoices": []}``; amounts and quantities ``Decimal``, the date a
    ``date``.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the order and its items. Read-only, so safe to retry."""
        name = await self.resolve(request, PURCHASE_READ)
        doc = await self.client.get_doc(_PO, name)
        currency = str(doc.get("currency") or "CNY")
        return {
            "id": name, "number": name, "state": doc.get("status"), "docstatus": doc.get("docstatus"),
            "invoice_state": _progress(doc.get("per_billed"), "Not Billed", "Partly Billed", "Fully Billed"),
            "shipment_state": _progress(doc.get("per_received"), "Not Received", "Partly Received",
                                        "Fully Received"),
            "reference": doc.get(self.settings.reference_field), "description": doc.get("remarks"),
            "party": doc.get("supplier"), "currency": currency,
            "purchase_date": date.fromisoformat(doc["transaction_date"]) if doc.get("transaction_date") else None,
            "untaxed_amount": to_money(doc.get("net_total"), currency, "net_total").amount,
            "tax_amount": to_money(doc.get("total_taxes_and_charges"), currency, "total_taxes_and_charges").amount,
            "total_amount": to_money(doc.get("grand_total"), currency, "grand_total").amount,
            "lines": [{"id": row.get("name"), "product": row.get("item_code"),
                       "description": row.get("description"), "quantity": Decimal(repr(row.get("qty", 0.0))),
                       "unit_price": Decimal(repr(row.get("rate", 0.0))),
                       "amount": to_money(row.get("amount"), currency, "items.amount").amount}
                      for row in doc.get("items") or []],
            "invoices": [],
        }


class PurchaseReverse(_Orders):
    """The ``erpnext.purchase.reverse`` action: undo an order whose approval was revoked after approval.

    Request: ``{"id"}`` or ``{"reference"}``. Result: ``{"id", "number", "state", "docstatus", "reference",
    "already_cancelled"}``: a submitted order is cancelled (docstatus 2, state ``Cancelled``), a draft deleted
    (state ``Deleted``, docstatus ``None``), a cancelled one left alone (``already_cancelled`` true).

    Raises:
        VendorRejected: ERPNext refused the cancel (a submitted Purchase Receipt or Invoice links to the order);
            the message says what ERPNext requires, with its own text in ``vendor_message``.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Cancel (or delete the draft of) the order. Safe to retry."""
        name = await self.resolve(request, PURCHASE_REVERSE)
        doc = await self.client.get_doc(_PO, name)
        reference = doc.get(self.settings.reference_field)
        docstatus = doc.get("docstatus")
        if docstatus == 0:
            await self.client.delete(_PO, name)
            return {"id": name, "number": name, "state": "Deleted", "docstatus": None, "reference": reference,
                    "already_cancelled": False}
        if docstatus == 1:
            try:
                await self.client.cancel(_PO, name)
            except VendorRejected as exc:
                raise VendorRejected(
                    t(f"ERPNext 不允许取消采购订单 {name}：{exc.vendor_message}",
                      f"ERPNext does not allow cancelling purchase order {name}: {exc.vendor_message}"),
                    system=SYSTEM, operation="cancel", vendor_code=exc.vendor_code, vendor_message=exc.vendor_message,
                    fix=t("按 ERPNext 的要求先取消关联的采购收货单或采购发票（或做退货），然后重新发起撤销；"
                          "或由采购人员在 ERPNext 中人工处理",
                          "cancel the linked Purchase Receipts or Invoices (or return the goods) as ERPNext requires, "
                          "then revoke again; or have a buyer handle it in ERPNext"),
                ) from exc
            doc = await self.client.get_doc(_PO, name)
        return {"id": name, "number": name, "state": doc.get("status"), "docstatus": doc.get("docstatus"),
                "reference": reference, "already_cancelled": docstatus == 2}


class ChangesSince:
    """The ``erpnext.changes.since`` action: what changed in ERPNext, for ERP → OA flows and reconciliation (对账).

    Request: ``{"since": <ISO 8601 with zone>, "model"?: "Purchase Order" (a DocType), "fields"?, "limit"?,
    "offset"?}``. Result: ``{"model", "records": [{"id", "modified", …fields}], "next" | None, "high_water"}``.
    Selected with ``modified >= since`` (converted to the site's time zone), ordered by ``modified, name``;
    consumers dedupe on ``(id, modified)``. Pass ``next`` back to read the following page.
    """

    _DEFAULT_FIELDS: ClassVar[dict[str, list[str]]] = {
        _PO: ["status", "docstatus", "supplier", "grand_total", "currency"]}

    def __init__(self, client: ErpnextClient, settings: ErpnextSettings) -> None:
        self.client = client
        self.settings = settings

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read one page of changed documents. Read-only, so safe to retry."""
        doctype = request.get("model") or request.get("doctype") or _PO
        since = _since(request.get("since"))
        limit, offset = request.get("limit", self.settings.page_size), request.get("offset", 0)
        fields = request.get("fields") or self._DEFAULT_FIELDS.get(str(doctype), [])
        if (not isinstance(doctype, str) or not isinstance(fields, list) or not isinstance(limit, int)
                or not isinstance(offset, int) or limit < 1 or offset < 0):
            raise MappingError(t("model、fields、limit 或 offset 不正确", "bad model, fields, limit or offset"),
                               where=f"{CHANGES_SINCE}.model",
                               fix=t("例如 {\"model\": \"Purchase Order\", \"limit\": 100, \"offset\": 0}",
                                     "e.g. {\"model\": \"Purchase Order\", \"limit\": 100, \"offset\": 0}"))
        zone = self.settings.zone
        rows = await self.client.get_list(doctype, fields=["name", *fields, "modified"],
                                          filters=[["modified", ">=", to_site_time(since, zone)]],
                                          order_by="modified asc, name asc", start=offset, limit=limit)
        records = [{"id": row.pop("name"), **row, "modified": from_site_time(row.get("modified"), zone)}
                   for row in rows]
        stamps = [r["modified"] for r in records if r["modified"] is not None]
        return {"model": doctype, "records": records,
                "next": {"model": doctype, "since": since.isoformat(), "offset": offset + len(rows), "limit": limit,
                         "fields": fields} if len(rows) == limit else None,
                "high_water": max(stamps) if stamps else None}


def _since(value: Any) -> datetime:
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MappingError(t(f"since 必须是带时区的时间，实际为 {value!r}",
                             f"since must be a time with its zone, got {value!r}"),
                           where=f"{CHANGES_SINCE}.since",
                           fix=t("例如 2026-11-25T09:00:00+08:00", "e.g. 2026-11-25T09:00:00+08:00"))
    return parsed


def register_actions(registry: ActionRegistry, client: ErpnextClient, settings: ErpnextSettings) -> None:
    """Register the ERPNext actions: party and product ensure, purchase create / read / reverse, changes since,
    payment create / read, voucher create, project ensure / actuals.
    """  # noqa: D205
    catalog = ErpnextCatalog(client, settings)
    books = ErpnextBooks(client, settings)
    registry.register(PAYMENT_CREATE, PaymentCreate(client, settings, books, catalog))
    registry.register(PAYMENT_READ, PaymentRead(client, settings, books))
    registry.register(VOUCHER_CREATE, VoucherCreate(client, settings, books))
    registry.register(PROJECT_ENSURE, ProjectEnsure(client, settings, books))
    registry.register(PROJECT_ACTUALS, ProjectActuals(client, settings, books))
    registry.register(PARTY_ENSURE, PartyEnsure(catalog, PARTY_ENSURE))
    registry.register(PRODUCT_ENSURE, ProductEnsure(catalog, PRODUCT_ENSURE))
    registry.register(PURCHASE_CREATE, PurchaseCreate(client, settings, catalog))
    registry.register(PURCHASE_READ, PurchaseRead(client, settings))
    registry.register(PURCHASE_REVERSE, PurchaseReverse(client, settings))
    registry.register(CHANGES_SINCE, ChangesSince(client, settings))
