"""Odoo actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

The vocabulary and the request/result shapes are the Tryton connector's, so a flow can switch ERPs:

* ``odoo.party.ensure``: the supplier is matched (by ``ref``, ``vat`` or name, as configured) and only created
  when nothing matches, so a retry after a lost reply finds the partner the first attempt made.
* ``odoo.product.ensure``: the same for items, matched by ``default_code`` (or name).
* ``odoo.purchase.create``: ``create`` is not idempotent in Odoo and Odoo has no idempotency key (contract
  §6.3). Every attempt after the first looks the hub's reference up in ``settings.reference_field``
  (``origin`` by default) and adopts what it finds; only when nothing is found is an order created, its
  lines in the same call. A create that got no answer is :class:`AmbiguousOutcome`: the retry waits
  ``ambiguous_wait`` first. The order is then confirmed with ``button_confirm`` (draft/sent → ``purchase``,
  or ``to approve`` where the company's double validation applies).
* ``odoo.purchase.read``: state, number, totals, lines and bills, amounts as ``Decimal``.
* ``odoo.purchase.reverse``: when an approval is revoked after the order was made, ``button_cancel``;
  Odoo refuses it for a locked, received or billed order, and the refusal says what Odoo requires.
* ``odoo.changes.since``: records of a model whose ``write_date`` is at or after a tz-aware time, paged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from huiliu.connectors.base import ActionContext, ActionRegistry, FindOrCreate
from huiliu.connectors.odoo.accounting import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    VOUCHER_CREATE,
    OdooBooks,
    PaymentCreate,
    PaymentRead,
    VoucherCreate,
)
from huiliu.connectors.odoo.client import Domain, OdooClient
from huiliu.connectors.odoo.errors import SYSTEM
from huiliu.connectors.odoo.mapping import (
    Item,
    PurchaseRequisition,
    Supplier,
    from_odoo_datetime,
    many2one_id,
    many2one_name,
    partner_values,
    product_values,
    purchase_values,
    requisition_from_json,
    text,
    to_money,
    to_odoo_datetime,
)
from huiliu.connectors.odoo.project import PROJECT_ACTUALS, PROJECT_ENSURE, ProjectActuals, ProjectEnsure
from huiliu.connectors.odoo.settings import OdooSettings, PartyMatch, ProductMatch
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
    "OdooCatalog",
    "PartyEnsure",
    "ProductEnsure",
    "PurchaseCreate",
    "PurchaseRead",
    "PurchaseReverse",
    "register_actions",
]

PARTY_ENSURE = "odoo.party.ensure"
PRODUCT_ENSURE = "odoo.product.ensure"
PURCHASE_CREATE = "odoo.purchase.create"
PURCHASE_READ = "odoo.purchase.read"
PURCHASE_REVERSE = "odoo.purchase.reverse"
CHANGES_SINCE = "odoo.changes.since"

_PURCHASE = "purchase.order"
_PURCHASE_FIELDS = ("name", "state", "invoice_status", "receipt_status", "partner_id", "currency_id", "notes",
                    "amount_untaxed", "amount_tax", "amount_total", "date_order", "invoice_ids", "order_line")
_LINE_FIELDS = ("product_id", "name", "product_qty", "price_unit", "price_subtotal")
_BILL_FIELDS = ("name", "state", "move_type", "invoice_date", "currency_id", "amount_untaxed", "amount_tax",
                "amount_total")
_OLDEST = "id asc"


class OdooCatalog:
    """Finds or creates the master data orders need: partners, products, units and currencies.

    Unit and currency ids are cached for the life of the catalog (they are configuration, not business data).
    """

    def __init__(self, client: OdooClient, settings: OdooSettings) -> None:
        self._once = FindOrCreate()
        self.client = client
        self.settings = settings
        self._units: dict[str, int] = {}
        self._currencies: dict[str, int] = {}

    async def unit(self, name: str | None, where: str) -> int:
        """The ``uom.uom`` id for an OA unit name, through ``settings.units``."""
        uom = self.settings.default_unit if name is None else self.settings.units.get(name, name)
        if uom not in self._units:
            ids = await self.client.search("uom.uom", [["name", "=", uom]], limit=1, order=_OLDEST)
            if not ids:
                raise MappingError(
                    t(f"单位 {name or uom} 在 Odoo 中没有对应的计量单位（{uom}）",
                      f"unit {name or uom} has no Odoo unit of measure ({uom})"),
                    where=where, fix=t(f"在设置 units 中把 {name or uom} 映射到 Odoo 的计量单位名称",
                                       f"map {name or uom} to an Odoo unit name in the units setting"))
            self._units[uom] = ids[0]
        return self._units[uom]

    async def currency(self, code: str) -> int:
        """The ``res.currency`` id of an ISO code (Odoo's currency ``name`` is the code)."""
        if code not in self._currencies:
            ids = await self.client.search("res.currency", [["name", "=", code]], limit=1, order=_OLDEST)
            if not ids:
                raise MappingError(t(f"Odoo 中没有币别 {code}", f"Odoo has no currency {code}"),
                                   where="requisition.currency",
                                   fix=t(f"在 Odoo 中启用币别 {code}", f"activate currency {code} in Odoo"))
            self._currencies[code] = ids[0]
        return self._currencies[code]

    async def _find_partner(self, supplier: Supplier) -> dict[str, Any] | None:
        for way in self.settings.party_match:
            domain: Domain | None = None
            if way is PartyMatch.CODE and supplier.code:
                domain = [["ref", "=", supplier.code]]
            elif way is PartyMatch.TAX_ID and supplier.tax_id:
                domain = [["vat", "=", supplier.tax_id]]
            elif way is PartyMatch.NAME:
                domain = [["name", "=", supplier.name]]
            if domain is not None:
                rows = await self.client.search_read("res.partner", domain, ["ref", "name"], limit=1,
                                                     order=_OLDEST)
                if rows:
                    return {**rows[0], "matched_by": way.value}
        return None

    async def ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """:meth:`_ensure_party` one at a time per supplier; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        key = f"party:{supplier.code or supplier.tax_id or supplier.name}"
        return await self._once.once(key, lambda: self._ensure_party(supplier))

    async def _ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """Match the supplier to a partner or create it.

        Returns:
            ``{"id", "code", "name", "address", "created", "matched_by"}``; ``address`` is the partner itself
            (in Odoo a company partner is its own invoice address).
        """
        found = await self._find_partner(supplier)
        created = found is None
        if found is None:
            partner_id = await self.client.create("res.partner", partner_values(supplier))
            [found] = await self.client.read("res.partner", [partner_id], ["ref", "name"])
        return {"id": found["id"], "code": text(found.get("ref")), "name": text(found.get("name")),
                "address": found["id"], "created": created, "matched_by": found.get("matched_by")}

    async def _find_product(self, item: Item) -> dict[str, Any] | None:
        for way in self.settings.product_match:
            domain: Domain | None = None
            if way is ProductMatch.CODE and item.code:
                domain = [["default_code", "=", item.code]]
            elif way is ProductMatch.NAME:
                domain = [["name", "=", item.name]]
            if domain is not None:
                rows = await self.client.search_read("product.product", domain, _PRODUCT_FIELDS, limit=1,
                                                     order=_OLDEST)
                if rows:
                    return {**rows[0], "matched_by": way.value}
        return None

    async def ensure_product(self, item: Item, where: str = "item") -> dict[str, Any]:
        """:meth:`_ensure_product` one at a time per item; a create refused because another process made it meanwhile
        finds it on the second run.
        """  # noqa: D205
        return await self._once.once(f"product:{item.code or item.name}", lambda: self._ensure_product(item, where))

    async def _ensure_product(self, item: Item, where: str = "item") -> dict[str, Any]:
        """Match the item to a product or create it.

        Returns:
            ``{"id", "template", "code", "name", "unit", "created", "matched_by"}``; ``unit`` is the
            ``uom.uom`` id for order lines: the OA's unit when it names one, else the product's purchase unit.
        """
        found = await self._find_product(item)
        created = found is None
        if found is None:
            uom = await self.unit(item.unit, f"{where}.unit")
            product_id = await self.client.create("product.product", product_values(item, uom, self.settings))
            [found] = await self.client.read("product.product", [product_id], _PRODUCT_FIELDS)
        unit = (await self.unit(item.unit, f"{where}.unit") if item.unit is not None
                else many2one_id(found.get("uom_po_id")) or many2one_id(found.get("uom_id")))
        return {"id": found["id"], "template": many2one_id(found.get("product_tmpl_id")),
                "code": text(found.get("default_code")), "name": text(found.get("name")), "unit": unit,
                "created": created, "matched_by": found.get("matched_by")}


_PRODUCT_FIELDS = ["default_code", "name", "product_tmpl_id", "uom_id", "uom_po_id"]


class _Orders:
    """What the purchase actions share: finding an order by id or reference, and its not-found error."""

    def __init__(self, client: OdooClient, settings: OdooSettings) -> None:
        self.client = client
        self.settings = settings

    async def find(self, reference: str) -> dict[str, Any] | None:
        """The order carrying ``reference`` (the oldest if an earlier failure let two exist), or ``None``."""
        rows = await self.client.search_read(_PURCHASE, [[self.settings.reference_field, "=", reference]],
                                             ["state", "name"], limit=1, order=_OLDEST)
        return rows[0] if rows else None

    async def resolve(self, request: Mapping[str, Any], action: str) -> int:
        raw_id, reference = request.get("id"), request.get("reference")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            return raw_id
        if isinstance(reference, str) and reference:
            found = await self.find(reference)
            if found is None:
                raise self.missing(f"reference {reference}")
            return int(found["id"])
        raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                           where=f"{action}.id",
                           fix=t("传入 {\"id\": 采购订单 id} 或 {\"reference\": 引用}",
                                 "pass {\"id\": purchase order id} or {\"reference\": reference}"))

    @staticmethod
    def missing(what: str) -> VendorRejected:
        return VendorRejected(t(f"Odoo 中找不到采购订单（{what}）", f"no purchase order in Odoo ({what})"),
                              system=SYSTEM, operation=f"{_PURCHASE}.read", vendor_code="not_found",
                              fix=t("检查流程传入的订单 id 或引用", "check the order id or reference the flow passes"))

    async def row(self, order_id: int, fields: list[str]) -> dict[str, Any]:
        rows = await self.client.read(_PURCHASE, [order_id], fields)
        if not rows:
            raise self.missing(f"id {order_id}")
        return rows[0]


class PurchaseCreate(_Orders):
    """The ``odoo.purchase.create`` action.

    Request: ``{"requisition": <see huiliu.connectors.odoo.mapping>}``. Result: ``{"id", "number", "state",
    "reference", "party", "currency", "untaxed_amount", "total_amount", "adopted"}`` (amounts ``Decimal``);
    ``adopted`` is true when an order made by an earlier attempt was found by its reference and used.
    """

    def __init__(self, client: OdooClient, settings: OdooSettings, catalog: OdooCatalog) -> None:
        super().__init__(client, settings)
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the purchase order, then confirm it."""
        # Map before touching Odoo: a malformed requisition fails without any call.
        requisition = requisition_from_json(request_part(request, "requisition", PURCHASE_CREATE))
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        order_id = int(found["id"]) if found is not None else await self._create(requisition, ctx.reference)
        await self._advance(order_id, requisition)
        row = await self.row(order_id, ["name", "state", "partner_id", "currency_id", "amount_untaxed",
                                        "amount_total"])
        currency = many2one_name(row["currency_id"]) or requisition.currency
        return {"id": order_id, "number": row["name"], "state": row["state"], "reference": ctx.reference,
                "party": many2one_id(row["partner_id"]), "currency": currency,
                "untaxed_amount": to_money(row["amount_untaxed"], currency, "amount_untaxed").amount,
                "total_amount": to_money(row["amount_total"], currency, "amount_total").amount,
                "adopted": adopted}

    async def _create(self, requisition: PurchaseRequisition, reference: str) -> int:
        party = await self.catalog.ensure_party(requisition.supplier)
        currency = await self.catalog.currency(requisition.currency)
        products: dict[int, int] = {}
        units: dict[int, int] = {}
        seen: dict[tuple[str | None, str], dict[str, Any]] = {}
        for index, line in enumerate(requisition.lines):
            key = (line.item.code, line.item.name if line.item.code is None else "")
            if key not in seen:
                seen[key] = await self.catalog.ensure_product(line.item, f"requisition.lines.{index}.item")
            products[index] = seen[key]["id"]
            units[index] = (await self.catalog.unit(line.item.unit, f"requisition.lines.{index}.item.unit")
                            if line.item.unit is not None else seen[key]["unit"])
        values = purchase_values(requisition, reference, partner=party["id"], products=products, units=units,
                                 currency=currency, settings=self.settings)
        try:
            return await self.client.create(_PURCHASE, values)
        except NoReply as exc:  # an HTTP error is an answer: Odoo rolled the transaction back
            raise AmbiguousOutcome(
                t("创建采购订单未得到应答，可能已生成", "creating the purchase order got no answer; it may exist"),
                system=SYSTEM, operation=f"{_PURCHASE}.create", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc

    async def _advance(self, order_id: int, requisition: PurchaseRequisition) -> None:
        row = await self.row(order_id, ["state", "name", "amount_untaxed"])
        state = str(row["state"])
        if state == "cancel":
            raise VendorRejected(
                t(f"采购订单 {row['name']} 已在 Odoo 中取消", f"purchase order {row['name']} was cancelled in Odoo"),
                system=SYSTEM, operation=f"{_PURCHASE}.button_confirm", vendor_code=state,
                fix=t("确认是否需要重新下单；如需要，请以新的申请发起",
                      "decide whether to order again; if so, start it from a new requisition"))
        if not self.settings.confirm_purchases or state not in ("draft", "sent"):
            return
        if self.settings.check_amounts:
            amount = to_money(row["amount_untaxed"], requisition.currency, "amount_untaxed")
            if amount != requisition.total:
                raise VendorRejected(
                    t(f"Odoo 采购订单 {row['name']} 金额 {amount} 与采购申请金额 {requisition.total} 不一致，未确认",
                      f"the Odoo order {row['name']}'s amount {amount} differs from the requisition's "
                      f"{requisition.total}; not confirmed"),
                    system=SYSTEM, operation=f"{_PURCHASE}.button_confirm", vendor_code="amount_mismatch",
                    vendor_message=f"purchase.order {order_id}: amount_untaxed={amount.amount}",
                    fix=t("检查单价小数位（Odoo 的 Product Price 精度）与数量，在 Odoo 中修正或取消该询价单",
                          "check the unit price digits (Odoo's Product Price precision) and quantities; fix or "
                          "cancel the RFQ"))
        await self.client.button(_PURCHASE, "button_confirm", [order_id])


class PurchaseRead(_Orders):
    """The ``odoo.purchase.read`` action.

    Request: ``{"id": <order id>}`` or ``{"reference": <hub reference>}``. Result: ``{"id", "number", "state",
    "invoice_state", "shipment_state", "reference", "description", "party", "currency", "purchase_date",
    "untaxed_amount", "tax_amount", "total_amount", "lines": [{"id", "product", "description", "quantity",
    "unit_price", "amount"}], "invoices": [{"id", "number", "state", "type", "invoice_date", "currency",
    "untaxed_amount", "tax_amount", "total_amount"}]}``; amounts and quantities are ``Decimal``, the purchase
    date tz-aware. ``invoice_state`` is Odoo's ``invoice_status``, ``shipment_state`` its ``receipt_status``.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the order, its lines and its bills. Read-only, so safe to retry."""
        order_id = await self.resolve(request, PURCHASE_READ)
        field = self.settings.reference_field
        row = await self.row(order_id, [*_PURCHASE_FIELDS, *([field] if field not in _PURCHASE_FIELDS else [])])
        currency = many2one_name(row["currency_id"]) or "CNY"
        lines = await self.client.read("purchase.order.line", list(row["order_line"] or []), _LINE_FIELDS)
        bills = await self.client.read("account.move", list(row["invoice_ids"] or []), _BILL_FIELDS)
        return {
            "id": order_id, "number": row["name"], "state": row["state"],
            "invoice_state": text(row["invoice_status"]), "shipment_state": text(row["receipt_status"]),
            "reference": text(row.get(field)), "description": text(row["notes"]),
            "party": many2one_id(row["partner_id"]), "currency": currency,
            "purchase_date": from_odoo_datetime(row["date_order"]),
            **_amounts(row, currency, "purchase"),
            "lines": [{"id": line["id"], "product": many2one_id(line["product_id"]), "description": text(line["name"]),
                       "quantity": Decimal(repr(line["product_qty"])),
                       "unit_price": Decimal(repr(line["price_unit"])),
                       "amount": to_money(line["price_subtotal"], currency, "purchase.line.amount").amount}
                      for line in lines],
            "invoices": [{"id": bill["id"], "number": text(bill["name"]), "state": bill["state"],
                          "type": bill["move_type"], "invoice_date": text(bill["invoice_date"]),
                          "currency": many2one_name(bill["currency_id"]) or currency,
                          **_amounts(bill, many2one_name(bill["currency_id"]) or currency, "invoice")}
                         for bill in bills],
        }


def _amounts(row: Mapping[str, Any], currency: str, where: str) -> dict[str, Decimal]:
    return {ours: to_money(row[theirs], currency, f"{where}.{theirs}").amount
            for ours, theirs in (("untaxed_amount", "amount_untaxed"), ("tax_amount", "amount_tax"),
                                 ("total_amount", "amount_total"))}


class PurchaseReverse(_Orders):
    """The ``odoo.purchase.reverse`` action: cancel an order whose approval was revoked after approval.

    Request: ``{"id"}`` or ``{"reference"}``. Result: ``{"id", "number", "state", "reference",
    "already_cancelled"}``; ``already_cancelled`` is true when the order was cancelled before (a retry, or a
    buyer), which is success too.

    Raises:
        VendorRejected: Odoo refused ``button_cancel`` (a locked, received or billed order). The message says
            what Odoo requires first, with Odoo's own text in ``vendor_message``.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Cancel the order unless it already is. Safe to retry."""
        order_id = await self.resolve(request, PURCHASE_REVERSE)
        field = self.settings.reference_field
        row = await self.row(order_id, ["name", "state", field])
        already = row["state"] == "cancel"
        if not already:
            try:
                await self.client.button(_PURCHASE, "button_cancel", [order_id])
            except VendorRejected as exc:
                raise VendorRejected(
                    t(f"Odoo 不允许取消采购订单 {row['name']}：{exc.vendor_message}",
                      f"Odoo does not allow cancelling purchase order {row['name']}: {exc.vendor_message}"),
                    system=SYSTEM, operation=f"{_PURCHASE}.button_cancel", vendor_code=exc.vendor_code,
                    vendor_message=exc.vendor_message,
                    fix=t("按 Odoo 的要求先处理：解锁订单、取消相关供应商账单或退回已收货物，然后重新发起撤销；"
                          "或由采购人员在 Odoo 中人工冲销",
                          "do what Odoo requires first (unlock the order, cancel its vendor bills or return the "
                          "received goods), then revoke again; or have a buyer reverse it in Odoo by hand"),
                ) from exc
            row = await self.row(order_id, ["name", "state", field])
        return {"id": order_id, "number": row["name"], "state": row["state"], "reference": text(row.get(field)),
                "already_cancelled": already}


class ChangesSince:
    """The ``odoo.changes.since`` action: what changed in Odoo, for ERP → OA flows and reconciliation (对账).

    Request: ``{"since": <ISO 8601 with zone>, "model"?: "purchase.order", "fields"?: [...], "limit"?,
    "offset"?}``. Result: ``{"model", "records": [{"id", "modified", …fields}], "next": {"since", "offset"} |
    None, "high_water"}``; ``modified`` and ``high_water`` are tz-aware. Records are ordered by
    ``write_date, id`` and selected with ``write_date >= since`` (Odoo keeps whole seconds, so ``>`` could skip
    a record written in the same second as the last one seen): consumers dedupe on ``(id, modified)``. Pass
    ``next`` back as the request to read the following page; keep ``high_water`` as the next ``since``.
    """

    _DEFAULT_FIELDS: ClassVar[dict[str, list[str]]] = {
        "purchase.order": ["name", "state", "partner_id", "amount_total", "currency_id", "invoice_status",
                           "receipt_status"]}

    def __init__(self, client: OdooClient, settings: OdooSettings) -> None:
        self.client = client
        self.settings = settings

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read one page of changed records. Read-only, so safe to retry."""
        model = request.get("model") or _PURCHASE
        since = _since(request.get("since"), CHANGES_SINCE)
        limit, offset = _page(request, self.settings.page_size, CHANGES_SINCE)
        fields = request.get("fields") or self._DEFAULT_FIELDS.get(str(model), ["display_name"])
        if not isinstance(model, str) or not isinstance(fields, list):
            raise MappingError(t("model 应为字符串，fields 应为列表", "model must be a string, fields a list"),
                               where=f"{CHANGES_SINCE}.model",
                               fix=t("例如 {\"model\": \"purchase.order\", \"fields\": [\"name\"]}",
                                     "e.g. {\"model\": \"purchase.order\", \"fields\": [\"name\"]}"))
        rows = await self.client.search_read(model, [["write_date", ">=", to_odoo_datetime(since)]],
                                             [*fields, "write_date"], offset=offset, limit=limit,
                                             order="write_date asc, id asc")
        records = []
        for row in rows:
            modified = from_odoo_datetime(row.pop("write_date"))
            records.append({**row, "modified": modified})
        stamps = [r["modified"] for r in records if r["modified"] is not None]
        return {"model": model, "records": records,
                "next": {"model": model, "since": since.isoformat(), "offset": offset + len(rows), "limit": limit,
                         "fields": fields} if len(rows) == limit else None,
                "high_water": max(stamps) if stamps else None}


def _since(value: Any, action: str) -> datetime:
    """A tz-aware ``since`` from an ISO 8601 string or a datetime."""
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MappingError(t(f"since 必须是带时区的时间，实际为 {value!r}",
                             f"since must be a time with its zone, got {value!r}"),
                           where=f"{action}.since",
                           fix=t("例如 2026-11-25T09:00:00+08:00", "e.g. 2026-11-25T09:00:00+08:00"))
    return parsed


def _page(request: Mapping[str, Any], default: int, action: str) -> tuple[int, int]:
    limit, offset = request.get("limit", default), request.get("offset", 0)
    if (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
            or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0):
        raise MappingError(t("limit 应为正整数，offset 应为非负整数", "limit must be positive, offset not negative"),
                           where=f"{action}.limit", fix=t("例如 {\"limit\": 100, \"offset\": 0}",
                                                          "e.g. {\"limit\": 100, \"offset\": 0}"))
    return limit, offset


def register_actions(registry: ActionRegistry, client: OdooClient, settings: OdooSettings) -> None:
    """Register the Odoo actions: party and product ensure, purchase create / read / reverse, changes since,
    payment create / read, voucher create, project ensure / actuals.
    """  # noqa: D205
    catalog = OdooCatalog(client, settings)
    books = OdooBooks(client, settings)
    registry.register(PAYMENT_CREATE, PaymentCreate(client, settings, catalog, books))
    registry.register(PAYMENT_READ, PaymentRead(client, settings))
    registry.register(VOUCHER_CREATE, VoucherCreate(client, settings, catalog, books))
    registry.register(PROJECT_ENSURE, ProjectEnsure(client, settings, books))
    registry.register(PROJECT_ACTUALS, ProjectActuals(client, settings, books))
    registry.register(PARTY_ENSURE, PartyEnsure(catalog, PARTY_ENSURE))
    registry.register(PRODUCT_ENSURE, ProductEnsure(catalog, PRODUCT_ENSURE))
    registry.register(PURCHASE_CREATE, PurchaseCreate(client, settings, catalog))
    registry.register(PURCHASE_READ, PurchaseRead(client, settings))
    registry.register(PURCHASE_REVERSE, PurchaseReverse(client, settings))
    registry.register(CHANGES_SINCE, ChangesSince(client, settings))
