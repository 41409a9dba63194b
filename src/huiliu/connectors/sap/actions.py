"""SAP actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

Shapes are those of the Tryton connector's actions (and Kingdee's voucher action), so a flow can switch ERPs.
SAP has no client idempotency key (contract §8, §10.3), so every create stores the hub's reference and every
attempt after the first looks it up before creating; a create that got no answer is :class:`AmbiguousOutcome`.

* ``sap.party.ensure`` / ``sap.product.ensure``: match, else create (items without a code get one derived
  from their name, so a lost create is matched on retry).
* ``sap.purchase.create``: deep insert of the order with its items, then ``settings.release_function``.
* ``sap.purchase.read``: header, items and the untaxed amount as ``Decimal``.
* ``sap.purchase.reverse``: ``DELETE`` of the order (SAP sets the deletion indicator); refused once goods
  were received, SAP's message kept.
* ``sap.voucher.create``: a balanced journal entry, looked up by its reference before a retry.
* ``sap.changes.since``: orders whose ``LastChangeDateTime`` is at or after a tz-aware time, paged.

``PurchasingProcessingStatus`` values (02 active, 03 in release, 05 released, 08 rejected) are unconfirmed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.connectors.base import ActionContext, ActionRegistry, FindOrCreate
from huiliu.connectors.purchasing import PartyEnsure, ProductEnsure, request_part
from huiliu.connectors.sap.client import SapClient, key_path, literal, parse_date
from huiliu.connectors.sap.errors import SYSTEM
from huiliu.connectors.sap.finance import register_finance_actions
from huiliu.connectors.sap.mapping import (
    Item,
    Supplier,
    journal_entry_values,
    partner_values,
    product_values,
    purchase_order_values,
    requisition_from_json,
    short_reference,
    voucher_from_json,
)
from huiliu.connectors.sap.settings import PartyMatch, SapSettings
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
    "SapActions",
    "register_actions",
]

PARTY_ENSURE = "sap.party.ensure"
PRODUCT_ENSURE = "sap.product.ensure"
PURCHASE_CREATE = "sap.purchase.create"
PURCHASE_READ = "sap.purchase.read"
PURCHASE_REVERSE = "sap.purchase.reverse"
VOUCHER_CREATE = "sap.voucher.create"
CHANGES_SINCE = "sap.changes.since"

STATES: dict[str, str] = {"01": "draft", "02": "approved", "03": "approving", "05": "approved", "08": "rejected"}
"""``PurchasingProcessingStatus`` → the hub's state word (unconfirmed values)."""
_FEN = Decimal("0.01")


def _ambiguous(what: str, operation: str, wait: float, exc: NoReply) -> AmbiguousOutcome:
    return AmbiguousOutcome(
        t(f"创建{what}未得到应答，可能已生成", f"creating the {operation} got no answer; it may exist"),
        system=SYSTEM, operation=operation, retry_after=wait,
        fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"))


class SapActions:
    """Every SAP action, sharing the client, the settings and the lookups.

    Args:
        client: the SAP client.
        settings: the connector settings.
    """

    def __init__(self, client: SapClient, settings: SapSettings) -> None:
        self._once = FindOrCreate()
        self.client = client
        self.settings = settings

    # ----------------------------------------------------------------- lookups

    async def _first(self, service: str, entity: str, condition: str, operation: str,
                     orderby: str) -> dict[str, Any] | None:
        rows = await self.client.get(service, entity, operation, {"$filter": condition, "$top": "1",
                                                                   "$orderby": orderby})
        return dict(rows[0]) if isinstance(rows, list) and rows else None

    async def _find_partner(self, supplier: Supplier) -> dict[str, Any] | None:
        s = self.settings
        for way in s.party_match:
            field, value = {PartyMatch.CODE: (s.supplier_code_field, supplier.code),
                            PartyMatch.TAX_IDENTIFIER: (s.supplier_tax_field, supplier.tax_id),
                            PartyMatch.NAME: (s.supplier_name_field, supplier.name)}[way]
            if value:
                row = await self._first(s.partner_service, s.partner_entity, f"{field} eq {literal(value)}",
                                        f"{s.partner_entity}.query", "BusinessPartner")
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
        """Match or create the supplier: ``{"id", "code", "name", "address", "created", "matched_by"}``."""
        s = self.settings
        found = await self._find_partner(supplier)
        created = found is None
        if found is None:
            code = supplier.code or "HL" + hashlib.sha256(supplier.name.encode()).hexdigest()[:10].upper()
            if supplier.code is None:
                found = await self._first(s.partner_service, s.partner_entity,
                                          f"{s.supplier_code_field} eq {literal(code)}",
                                          f"{s.partner_entity}.query", "BusinessPartner")
            if found is None:
                try:
                    found = await self.client.write("POST", s.partner_service, s.partner_entity,
                                                    f"{s.partner_entity}.create", partner_values(supplier, code, s))
                except NoReply as exc:
                    raise _ambiguous("供应商", f"{s.partner_entity}.create", s.ambiguous_wait, exc) from exc
        assert found is not None
        return {"id": found.get("BusinessPartner"), "code": found.get(s.supplier_code_field),
                "name": found.get(s.supplier_name_field), "address": None, "created": created,
                "matched_by": found.get("matched_by")}

    def unit(self, name: str | None) -> str:
        """The SAP unit for an OA unit name (``settings.units``; unknown names are sent as they are)."""
        return self.settings.default_unit if name is None else self.settings.units.get(name, name)

    async def ensure_product(self, item: Item) -> dict[str, Any]:
        """:meth:`_ensure_product` one at a time per item; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        return await self._once.once(f"product:{item.code or item.name}", lambda: self._ensure_product(item))

    async def _ensure_product(self, item: Item) -> dict[str, Any]:
        """Match (by code) or create the item: ``{"id", "template", "code", "name", "unit", "created",
        "matched_by"}``. Matching by name is not offered: descriptions live in a sub-entity.
        """  # noqa: D205
        s = self.settings
        code = (item.code or "HL" + hashlib.sha256(item.name.encode()).hexdigest()[:10]).upper()
        found = await self._first(s.product_service, s.product_entity, f"Product eq {literal(code)}",
                                  f"{s.product_entity}.query", "Product")
        created = found is None
        if found is None:
            try:
                found = await self.client.write("POST", s.product_service, s.product_entity,
                                                f"{s.product_entity}.create",
                                                product_values(item, code, self.unit(item.unit), s))
            except NoReply as exc:
                raise _ambiguous("物料", f"{s.product_entity}.create", s.ambiguous_wait, exc) from exc
        assert found is not None
        unit = self.unit(item.unit) if item.unit is not None else str(found.get("BaseUnit") or s.default_unit)
        return {"id": found.get("Product"), "template": found.get("Product"), "code": found.get("Product"),
                "name": item.name, "unit": unit, "created": created, "matched_by": None if created else "code"}

    # ----------------------------------------------------------------- purchase orders

    async def find_order(self, reference: str) -> dict[str, Any] | None:
        """The order whose reference field holds ``reference`` (the oldest if two exist), or ``None``."""
        s = self.settings
        stored = short_reference(reference, s.reference_length)
        return await self._first(s.purchase_service, s.purchase_entity, f"{s.reference_field} eq {literal(stored)}",
                                 f"{s.purchase_entity}.query", "PurchaseOrder")

    async def read_order(self, number: str) -> dict[str, Any]:
        """The order with its items."""
        s = self.settings
        row = await self.client.get(s.purchase_service, key_path(s.purchase_entity, number),
                                    f"{s.purchase_entity}.read", {"$expand": s.purchase_items})
        if not isinstance(row, Mapping):
            raise VendorRejected(t(f"SAP 中找不到采购订单 {number}", f"no purchase order {number} in SAP"),
                                 system=SYSTEM, operation=f"{s.purchase_entity}.read", vendor_code="not_found")
        return dict(row)

    def _items(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        items = row.get(self.settings.purchase_items)
        if isinstance(items, Mapping):
            items = items.get("results")
        return [dict(i) for i in items or [] if isinstance(i, Mapping)]

    def _untaxed(self, row: Mapping[str, Any]) -> Decimal:
        total = Decimal(0)
        for item in self._items(row):
            per = Decimal(str(item.get("NetPriceQuantity") or "1"))
            total += Decimal(str(item["OrderQuantity"])) * Decimal(str(item["NetPriceAmount"])) / per
        return total.quantize(_FEN, rounding=ROUND_HALF_UP)

    async def purchase_create(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.purchase.create``: ``{"requisition"}`` → ``{"id", "number", "state", "reference", "party",
        "untaxed_amount", "total_amount", "currency", "adopted"}``; ``total_amount`` is ``None`` (tax is
        SAP's pricing, not read here).
        """  # noqa: D205
        s = self.settings
        requisition = requisition_from_json(request_part(request, "requisition", PURCHASE_CREATE))
        found = await self.find_order(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        if found is None:
            partner = await self.ensure_party(requisition.supplier)
            materials: dict[int, str] = {}
            units: dict[int, str] = {}
            for index, line in enumerate(requisition.lines):
                product = await self.ensure_product(line.item)
                materials[index], units[index] = str(product["code"]), str(product["unit"])
            body = purchase_order_values(requisition, ctx.reference, supplier=str(partner["id"]),
                                         materials=materials, units=units, settings=s)
            try:
                found = await self.client.write("POST", s.purchase_service, s.purchase_entity,
                                                f"{s.purchase_entity}.create", body)
            except NoReply as exc:
                raise _ambiguous("采购订单", f"{s.purchase_entity}.create", s.ambiguous_wait, exc) from exc
        assert found is not None
        number = str(found["PurchaseOrder"])
        status = str(found.get("PurchasingProcessingStatus", ""))
        if s.release_function and status in ("02", "03"):
            await self.client.write("POST", s.purchase_service, s.release_function, f"{s.release_function}",
                                    params={"PurchaseOrder": literal(number)})
        row = await self.read_order(number)
        status = str(row.get("PurchasingProcessingStatus", ""))
        return {"id": number, "number": number, "state": STATES.get(status, status), "reference": ctx.reference,
                "party": row.get("Supplier"), "currency": row.get("DocumentCurrency"),
                "untaxed_amount": self._untaxed(row), "total_amount": None, "adopted": adopted}

    async def _resolve(self, request: Mapping[str, Any], action: str) -> str | None:
        raw, reference = request.get("id"), request.get("reference")
        if isinstance(raw, str) and raw:
            return raw
        if isinstance(reference, str) and reference:
            found = await self.find_order(reference)
            return None if found is None else str(found["PurchaseOrder"])
        raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                           where=f"{action}.id", fix=t("传入 {\"id\": 采购订单号} 或 {\"reference\": 引用}",
                                                       "pass {\"id\": order number} or {\"reference\": …}"))

    async def purchase_read(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.purchase.read``: ``{"id"}`` or ``{"reference"}`` → the Tryton read shape (amounts ``Decimal``)."""
        number = await self._resolve(request, PURCHASE_READ)
        if number is None:
            raise VendorRejected(t("SAP 中找不到该引用的采购订单", "no purchase order in SAP has that reference"),
                                 system=SYSTEM, operation=f"{self.settings.purchase_entity}.query",
                                 vendor_code="not_found")
        row = await self.read_order(number)
        status = str(row.get("PurchasingProcessingStatus", ""))
        lines = []
        for item in self._items(row):
            quantity, price = Decimal(str(item["OrderQuantity"])), Decimal(str(item["NetPriceAmount"]))
            lines.append({"id": item.get("PurchaseOrderItem"), "product": item.get("Material"),
                          "description": item.get("PurchaseOrderItemText"), "quantity": quantity,
                          "unit_price": price, "amount": (quantity * price).quantize(_FEN, ROUND_HALF_UP)})
        created = parse_date(row.get("CreationDate")) or parse_date(row.get("PurchaseOrderDate"))
        return {"id": number, "number": number, "state": STATES.get(status, status), "invoice_state": None,
                "shipment_state": None, "reference": row.get(self.settings.reference_field),
                "description": None, "party": row.get("Supplier"), "currency": row.get("DocumentCurrency"),
                "purchase_date": created.date() if created else None, "untaxed_amount": self._untaxed(row),
                "tax_amount": None, "total_amount": None, "lines": lines, "invoices": []}

    async def purchase_reverse(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.purchase.reverse``: ``{"id"}`` or ``{"reference"}`` → ``{"id", "number", "state": "deleted",
        "reversed": true, "how"}``; ``how`` is ``deleted`` or ``already_deleted``.
        """  # noqa: D205
        s = self.settings
        number = await self._resolve(request, PURCHASE_REVERSE)
        if number is None:
            raise VendorRejected(t("SAP 中找不到该引用的采购订单", "no purchase order in SAP has that reference"),
                                 system=SYSTEM, operation=f"{s.purchase_entity}.query", vendor_code="not_found")
        row = await self.read_order(number)
        if row.get("PurchasingDocumentDeletionCode") == "L":
            return {"id": number, "number": number, "state": "deleted", "reversed": True, "how": "already_deleted"}
        await self.client.write("DELETE", s.purchase_service, key_path(s.purchase_entity, number),
                                f"{s.purchase_entity}.delete")
        return {"id": number, "number": number, "state": "deleted", "reversed": True, "how": "deleted"}

    # ----------------------------------------------------------------- journal entries

    async def find_entry(self, reference: str) -> dict[str, Any] | None:
        """The journal entry whose reference field holds ``reference``, or ``None``."""
        s = self.settings
        stored = short_reference(reference, s.journal_reference_length)
        condition = (f"CompanyCode eq {literal(s.company_code)} and "
                     f"{s.journal_reference_field} eq {literal(stored)}")
        return await self._first(s.journal_read_service, s.journal_read_entity, condition,
                                 f"{s.journal_read_entity}.query", "AccountingDocument")

    async def voucher_create(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.voucher.create``: ``{"voucher"}`` → ``{"id", "number", "status", "adopted"}``."""
        s = self.settings
        voucher = voucher_from_json(request_part(request, "voucher", VOUCHER_CREATE))
        body = journal_entry_values(voucher, ctx.reference, s)
        found = await self.find_entry(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        if found is None:
            try:
                found = await self.client.write("POST", s.journal_service, s.journal_entity,
                                                f"{s.journal_entity}.create", body)
            except NoReply as exc:
                raise _ambiguous("凭证", f"{s.journal_entity}.create", s.ambiguous_wait, exc) from exc
        assert found is not None
        number = str(found.get("AccountingDocument"))
        return {"id": f"{found.get('CompanyCode')}/{number}/{found.get('FiscalYear')}", "number": number,
                "status": "posted", "adopted": adopted}

    # ----------------------------------------------------------------- changes

    async def changes_since(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """``sap.changes.since``: ``{"since", "cursor"?, "limit"?}`` → ``{"documents", "next_cursor"}``."""
        s = self.settings
        raw = request.get("since")
        since: datetime | None = None
        if isinstance(raw, str):
            try:
                since = datetime.fromisoformat(raw)
            except ValueError:
                since = None
        if since is None or since.tzinfo is None or since.utcoffset() is None:
            raise MappingError(t("since 应为带时区的时间", "since must be a time with a UTC offset"),
                               where=f"{CHANGES_SINCE}.since",
                               fix=t("传入如 2026-11-25T09:00:00+08:00 的时间", "pass e.g. 2026-11-25T09:00:00+08:00"))
        cursor = request.get("cursor") or "0"
        limit = request.get("limit", s.page_size)
        if not isinstance(cursor, str) or not cursor.isdigit() or not isinstance(limit, int) or limit < 1:
            raise MappingError(t("cursor 或 limit 不正确", "bad cursor or limit"), where=f"{CHANGES_SINCE}.cursor",
                               fix=t("传入上一页返回的 next_cursor", "pass the next_cursor of the previous page"))
        rows = await self.client.get(s.purchase_service, s.purchase_entity, f"{s.purchase_entity}.query", {
            "$filter": f"LastChangeDateTime ge {self.client.time_literal(since)}",
            "$orderby": "LastChangeDateTime,PurchaseOrder", "$skip": cursor, "$top": str(limit + 1)})
        rows = list(rows or [])
        more = len(rows) > limit
        documents = [{"kind": "purchase", "id": r.get("PurchaseOrder"), "number": r.get("PurchaseOrder"),
                      "state": STATES.get(str(r.get("PurchasingProcessingStatus", "")),
                                          str(r.get("PurchasingProcessingStatus", ""))),
                      "modified": parse_date(r.get("LastChangeDateTime"))} for r in rows[:limit]]
        return {"documents": documents, "next_cursor": str(int(cursor) + limit) if more else None}


def register_actions(registry: ActionRegistry, client: SapClient, settings: SapSettings) -> None:
    """Register the SAP actions, the payment and project ones (:mod:`.finance`) included."""
    actions = SapActions(client, settings)
    registry.register(PARTY_ENSURE, PartyEnsure(actions, PARTY_ENSURE))
    registry.register(PRODUCT_ENSURE, ProductEnsure(actions, PRODUCT_ENSURE))
    registry.register(PURCHASE_CREATE, actions.purchase_create)
    registry.register(PURCHASE_READ, actions.purchase_read)
    registry.register(PURCHASE_REVERSE, actions.purchase_reverse)
    registry.register(VOUCHER_CREATE, actions.voucher_create)
    registry.register(CHANGES_SINCE, actions.changes_since)
    register_finance_actions(registry, client, settings, actions)
