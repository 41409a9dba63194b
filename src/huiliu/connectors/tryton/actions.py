"""Tryton actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

* ``tryton.party.ensure``: the supplier is matched (by code, tax identifier or name, as configured) and only
  created when nothing matches, so a retry after a lost reply finds the party the first attempt made.
* ``tryton.product.ensure``: the same for items, matched by code (or name).
* ``tryton.purchase.create``: ``create`` is not idempotent in Tryton. Every attempt after the first looks the
  hub's reference up in ``settings.reference_field`` and adopts what it finds; only when nothing is found is
  a purchase order created (lines in the same call, so an order never exists without its lines). A create
  that got no answer is :class:`AmbiguousOutcome`: the retry waits ``ambiguous_wait`` first. The order is
  then brought forward from whatever state it is in: draft → ``quote`` → quotation → ``confirm`` →
  confirmed, which Tryton processes at once into processing (and drafts the supplier invoice when the
  invoice method is ``order``).
* ``tryton.purchase.read``: state, number, totals and the order's invoices, amounts as ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from huiliu.connectors.base import ActionContext, FindOrCreate
from huiliu.connectors.purchasing import PartyEnsure, ProductEnsure, request_part
from huiliu.connectors.tryton.client import Domain, TrytonClient
from huiliu.connectors.tryton.errors import SYSTEM
from huiliu.connectors.tryton.mapping import (
    Item,
    PurchaseRequisition,
    Supplier,
    party_values,
    product_values,
    purchase_values,
    requisition_from_json,
    to_money,
)
from huiliu.connectors.tryton.settings import PartyMatch, ProductMatch, TrytonSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t

__all__ = [
    "PARTY_ENSURE",
    "PRODUCT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "PartyEnsure",
    "ProductEnsure",
    "PurchaseCreate",
    "PurchaseRead",
    "PurchaseReverse",
    "TrytonCatalog",
]

PARTY_ENSURE = "tryton.party.ensure"
PRODUCT_ENSURE = "tryton.product.ensure"
PURCHASE_CREATE = "tryton.purchase.create"
PURCHASE_READ = "tryton.purchase.read"
PURCHASE_REVERSE = "tryton.purchase.reverse"

_PURCHASE = "purchase.purchase"
_PURCHASE_FIELDS = ("number", "state", "invoice_state", "shipment_state", "party", "currency", "description",
                    "untaxed_amount", "tax_amount", "total_amount", "purchase_date", "invoices", "lines")
_INVOICE_FIELDS = ("number", "state", "type", "invoice_date", "currency", "untaxed_amount", "tax_amount",
                   "total_amount", "reference")
_OLDEST = (("id", "ASC"),)


class TrytonCatalog:
    """Finds or creates the master data orders need: parties, products, units and currencies.

    Unit and currency ids are cached for the life of the catalog (they are configuration, not business data).

    Args:
        client: the Tryton client.
        settings: the connector settings (match order, units, account category).
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings) -> None:
        self.client = client
        self.settings = settings
        self._units: dict[str, int] = {}
        self._once = FindOrCreate()
        self._currencies: dict[str, int] = {}
        self._currency_codes: dict[int, str] = {}

    async def unit(self, name: str | None, where: str) -> int:
        """The ``product.uom`` id for an OA unit name, through ``settings.units``."""
        symbol = self.settings.default_unit if name is None else self.settings.units.get(name, name)
        if symbol not in self._units:
            ids = await self.client.search("product.uom", [["symbol", "=", symbol]], limit=1, order=_OLDEST)
            if not ids:
                raise MappingError(
                    t(f"单位 {name or symbol} 在 Tryton 中没有对应的计量单位（符号 {symbol}）",
                      f"unit {name or symbol} has no Tryton unit of measure (symbol {symbol})"),
                    where=where, fix=t(f"在设置 units 中把 {name or symbol} 映射到 Tryton 的单位符号",
                                       f"map {name or symbol} to a Tryton unit symbol in the units setting"))
            self._units[symbol] = ids[0]
        return self._units[symbol]

    async def currency(self, code: str) -> int:
        """The ``currency.currency`` id of an ISO code."""
        if code not in self._currencies:
            ids = await self.client.search("currency.currency", [["code", "=", code]], limit=1, order=_OLDEST)
            if not ids:
                raise MappingError(t(f"Tryton 中没有币别 {code}", f"Tryton has no currency {code}"),
                                   where="requisition.currency",
                                   fix=t(f"在 Tryton 中启用币别 {code}", f"add currency {code} in Tryton"))
            self._currencies[code], self._currency_codes[ids[0]] = ids[0], code
        return self._currencies[code]

    async def currency_code(self, currency_id: int) -> str:
        """The ISO code of a ``currency.currency`` id."""
        if currency_id not in self._currency_codes:
            [row] = await self.client.read("currency.currency", [currency_id], ["code"])
            self._currency_codes[currency_id] = str(row["code"])
        return self._currency_codes[currency_id]

    async def _find_party(self, supplier: Supplier) -> dict[str, Any] | None:
        for way in self.settings.party_match:
            domain: Domain | None = None
            if way is PartyMatch.CODE and supplier.code:
                domain = [["code", "=", supplier.code]]
            elif way is PartyMatch.TAX_IDENTIFIER and supplier.tax_id:
                identifier: Domain = [["code", "=", supplier.tax_id]]
                if self.settings.tax_identifier_type:
                    identifier.append(["type", "=", self.settings.tax_identifier_type])
                rows = await self.client.search_read("party.identifier", identifier, ["party"], limit=1,
                                                     order=_OLDEST)
                if rows:
                    domain = [["id", "=", rows[0]["party"]]]
            elif way is PartyMatch.NAME:
                domain = [["name", "=", supplier.name]]
            if domain is not None:
                rows = await self.client.search_read("party.party", domain, ["code", "name", "addresses"],
                                                     limit=1, order=_OLDEST)
                if rows:
                    return {**rows[0], "matched_by": way.value}
        return None

    async def ensure_party(self, supplier: Supplier) -> dict[str, Any]:
        """Match the supplier to a party or create it; returns ``{"id", "code", "name", "address", "created"}``.

        ``address`` is the party's first address (one is added to a matched party that has none), which a
        purchase order needs as its invoice address.
        """
        async def create() -> dict[str, Any]:
            [party_id] = await self.client.create("party.party", [party_values(supplier, self.settings)])
            [made] = await self.client.read("party.party", [party_id], ["code", "name", "addresses"])
            return dict(made)

        found, created = await self._once.ensure(f"party:{supplier.code or supplier.tax_id or supplier.name}",
                                                 lambda: self._find_party(supplier), create)
        addresses = list(found.get("addresses") or [])
        if not addresses:
            addresses = await self.client.create("party.address", [{"party": found["id"]}])
        return {"id": found["id"], "code": found.get("code"), "name": found.get("name"), "address": addresses[0],
                "created": created, "matched_by": found.get("matched_by")}

    async def _find_product(self, item: Item) -> dict[str, Any] | None:
        for way in self.settings.product_match:
            domain: Domain | None = None
            if way is ProductMatch.CODE and item.code:
                domain = [["code", "=", item.code]]
            elif way is ProductMatch.NAME:
                domain = [["template.name", "=", item.name]]
            if domain is not None:
                rows = await self.client.search_read("product.product", domain, ["code", "template"], limit=1,
                                                     order=_OLDEST)
                if rows:
                    return {**rows[0], "matched_by": way.value}
        return None

    async def ensure_product(self, item: Item, where: str = "item") -> dict[str, Any]:
        """Match the item to a product or create it.

        Returns:
            ``{"id", "template", "code", "name", "unit", "created"}``; ``unit`` is the ``product.uom`` id for
            order lines: the OA's unit when it names one, else the product's purchase unit.
        """
        async def create() -> dict[str, Any]:
            uom = await self.unit(item.unit, f"{where}.unit")
            [template_id] = await self.client.create("product.template", [product_values(item, uom, self.settings)])
            rows = await self.client.search_read("product.product", [["template", "=", template_id]],
                                                 ["code", "template"], limit=1, order=_OLDEST)
            return dict(rows[0])

        found, created = await self._once.ensure(f"product:{item.code or item.name}",
                                                 lambda: self._find_product(item), create)
        [template] = await self.client.read("product.template", [found["template"]], ["name", "purchase_uom"])
        unit = (await self.unit(item.unit, f"{where}.unit") if item.unit is not None
                else int(template["purchase_uom"]))
        return {"id": found["id"], "template": found["template"], "code": found.get("code"),
                "name": template["name"], "unit": unit, "created": created, "matched_by": found.get("matched_by")}


class PurchaseCreate:
    """The ``tryton.purchase.create`` action.

    Request: ``{"requisition": <see huiliu.connectors.tryton.mapping>}``. Result: ``{"id", "number", "state",
    "reference", "party", "untaxed_amount", "total_amount", "currency", "adopted"}`` (amounts ``Decimal``);
    ``adopted`` is true when an order made by an earlier attempt was found by its reference and used.

    Args:
        client: the Tryton client.
        settings: the connector settings.
        catalog: finds or creates the supplier and the items.
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings, catalog: TrytonCatalog) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def find(self, reference: str) -> dict[str, Any] | None:
        """The order carrying ``reference``, or ``None``.

        If an earlier failure let two exist, the oldest (lowest id) is adopted so that retries settle on one
        order; the other must be cancelled by hand.
        """
        rows = await self.client.search_read(_PURCHASE, [[self.settings.reference_field, "=", reference]],
                                             ["state", "number"], limit=1, order=_OLDEST)
        return rows[0] if rows else None

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the purchase order, then quote and confirm it."""
        # Map before touching Tryton: a malformed requisition fails without any call.
        requisition = requisition_from_json(request_part(request, "requisition", PURCHASE_CREATE))
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        purchase_id = found["id"] if found is not None else await self._create(requisition, ctx.reference)
        state = await self._advance(purchase_id, requisition)
        [row] = await self.client.read(_PURCHASE, [purchase_id], ["number", "state", "party", "currency",
                                                                  "untaxed_amount", "total_amount"])
        currency = await self.catalog.currency_code(int(row["currency"]))
        return {"id": purchase_id, "number": row["number"], "state": row["state"] or state,
                "reference": ctx.reference, "party": row["party"], "currency": currency,
                "untaxed_amount": to_money(row["untaxed_amount"], currency, "untaxed_amount").amount,
                "total_amount": to_money(row["total_amount"], currency, "total_amount").amount,
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
        values = purchase_values(requisition, reference, party=party["id"], invoice_address=party["address"],
                                 products=products, units=units, currency=currency, settings=self.settings)
        try:
            [purchase_id] = await self.client.create(_PURCHASE, [values])
        except NoReply as exc:  # an HTTP error is an answer: Tryton rolled the transaction back
            raise AmbiguousOutcome(
                t("创建采购订单未得到应答，可能已生成", "creating the purchase order got no answer; it may exist"),
                system=SYSTEM, operation=f"model.{_PURCHASE}.create", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        return purchase_id

    async def _check_amount(self, purchase_id: int, requisition: PurchaseRequisition) -> None:
        [row] = await self.client.read(_PURCHASE, [purchase_id], ["untaxed_amount", "number"])
        amount = to_money(row["untaxed_amount"], requisition.currency, "untaxed_amount")
        if amount != requisition.total:
            raise VendorRejected(
                t(f"Tryton 采购订单金额 {amount} 与采购申请金额 {requisition.total} 不一致，未报价",
                  f"the Tryton order's amount {amount} differs from the requisition's {requisition.total}; "
                  "not quoted"),
                system=SYSTEM, operation=f"model.{_PURCHASE}.quote", vendor_code="amount_mismatch",
                vendor_message=f"purchase {purchase_id}: untaxed_amount={amount.amount}",
                fix=t("检查单价小数位（Tryton 默认 4 位）与数量，在 Tryton 中修正或取消该草稿订单",
                      "check the unit price digits (4 in Tryton) and quantities; fix or cancel the draft order"))

    async def _advance(self, purchase_id: int, requisition: PurchaseRequisition) -> str:
        [row] = await self.client.read(_PURCHASE, [purchase_id], ["state", "number"])
        state = str(row["state"])
        if state == "cancelled":
            raise VendorRejected(
                t(f"采购订单 {row['number'] or purchase_id} 已在 Tryton 中取消",
                  f"purchase order {row['number'] or purchase_id} was cancelled in Tryton"),
                system=SYSTEM, operation=f"model.{_PURCHASE}.confirm", vendor_code=state,
                fix=t("确认是否需要重新下单；如需要，请以新的申请发起",
                      "decide whether to order again; if so, start it from a new requisition"))
        if not self.settings.confirm_purchases:
            return state
        if state == "draft":
            if self.settings.check_amounts:
                await self._check_amount(purchase_id, requisition)
            await self.client.button(_PURCHASE, "quote", [purchase_id])
            state = "quotation"
        if state == "quotation":
            await self.client.button(_PURCHASE, "confirm", [purchase_id])
            state = "confirmed"
        return state


class PurchaseRead:
    """The ``tryton.purchase.read`` action.

    Request: ``{"id": <purchase id>}`` or ``{"reference": <hub reference>}``. Result: ``{"id", "number",
    "state", "invoice_state", "shipment_state", "reference", "description", "party", "currency",
    "purchase_date", "untaxed_amount", "tax_amount", "total_amount", "lines": [{"id", "product", "description",
    "quantity", "unit_price", "amount"}], "invoices": [{"id", "number", "state", "type", "invoice_date",
    "currency", "untaxed_amount", "tax_amount", "total_amount"}]}``; amounts and quantities are ``Decimal``.
    """

    def __init__(self, client: TrytonClient, settings: TrytonSettings, catalog: TrytonCatalog) -> None:
        self.client = client
        self.settings = settings
        self.catalog = catalog

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read the order and its invoices. Read-only, so safe to retry."""
        purchase_id = await self._resolve(request)
        field = self.settings.reference_field
        fields = [*_PURCHASE_FIELDS, field] if field not in _PURCHASE_FIELDS else list(_PURCHASE_FIELDS)
        rows = await self.client.read(_PURCHASE, [purchase_id], fields)
        if not rows:
            raise self._missing(f"id {purchase_id}")
        row = rows[0]
        currency = await self.catalog.currency_code(int(row["currency"]))
        lines = await self.client.read("purchase.line", list(row["lines"] or []),
                                       ["product", "description", "quantity", "unit_price", "amount"])
        invoices = await self.client.read("account.invoice", list(row["invoices"] or []), _INVOICE_FIELDS)
        return {
            "id": purchase_id, "number": row["number"], "state": row["state"],
            "invoice_state": row["invoice_state"], "shipment_state": row["shipment_state"],
            "reference": row.get(field), "description": row["description"], "party": row["party"],
            "currency": currency, "purchase_date": row["purchase_date"],
            **self._amounts(row, currency, "purchase"),
            "lines": [{"id": line["id"], "product": line["product"], "description": line["description"],
                       "quantity": Decimal(line["quantity"]), "unit_price": line["unit_price"],
                       "amount": to_money(line["amount"], currency, "purchase.line.amount").amount}
                      for line in lines],
            "invoices": [await self._invoice(invoice) for invoice in invoices],
        }

    async def _invoice(self, row: Mapping[str, Any]) -> dict[str, Any]:
        currency = await self.catalog.currency_code(int(row["currency"]))
        return {"id": row["id"], "number": row["number"], "state": row["state"], "type": row["type"],
                "invoice_date": row["invoice_date"], "currency": currency,
                **self._amounts(row, currency, "invoice")}

    @staticmethod
    def _amounts(row: Mapping[str, Any], currency: str, where: str) -> dict[str, Decimal]:
        return {name: to_money(row[name], currency, f"{where}.{name}").amount
                for name in ("untaxed_amount", "tax_amount", "total_amount")}

    async def _resolve(self, request: Mapping[str, Any]) -> int:
        raw_id, reference = request.get("id"), request.get("reference")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            return raw_id
        if isinstance(reference, str) and reference:
            ids = await self.client.search(_PURCHASE, [[self.settings.reference_field, "=", reference]], limit=1,
                                           order=_OLDEST)
            if not ids:
                raise self._missing(f"reference {reference}")
            return ids[0]
        raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                           where=f"{PURCHASE_READ}.id",
                           fix=t("传入 {\"id\": 采购订单 id} 或 {\"reference\": 引用}",
                                 "pass {\"id\": purchase id} or {\"reference\": reference}"))

    @staticmethod
    def _missing(what: str) -> VendorRejected:
        return VendorRejected(t(f"Tryton 中找不到采购订单（{what}）", f"no purchase order in Tryton ({what})"),
                              system=SYSTEM, operation=f"model.{_PURCHASE}.read", vendor_code="not_found",
                              fix=t("检查流程传入的订单 id 或引用", "check the order id or reference the flow passes"))


class PurchaseReverse(PurchaseRead):
    """The ``tryton.purchase.reverse`` action: undo an order whose approval was withdrawn after it was approved.

    Request: ``{"id"}`` or ``{"reference"}``. Tryton cancels an order only while it is a draft or a quotation
    (the ``cancel`` button); a confirmed order has its supplier invoice and shipment already, which people
    must cancel or credit in Tryton — that is refused with the order and its invoices named, never left
    silently. Result: ``{"id", "number", "state", "reference", "already_cancelled"}``; safe to retry.
    """

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Cancel the order, or explain what Tryton needs first."""
        purchase_id = await self._resolve(request)
        field = self.settings.reference_field
        rows = await self.client.read(_PURCHASE, [purchase_id], ["number", "state", "invoices", field])
        if not rows:
            raise self._missing(f"id {purchase_id}")
        row = rows[0]
        done = {"id": purchase_id, "number": row["number"], "reference": row.get(field)}
        if row["state"] == "cancelled":
            return {**done, "state": "cancelled", "already_cancelled": True}
        if row["state"] in ("draft", "quotation"):
            await self.client.button(_PURCHASE, "cancel", [purchase_id])
            return {**done, "state": "cancelled", "already_cancelled": False}
        invoices = await self.client.read("account.invoice", list(row["invoices"] or []), ["number", "state"])
        listed = "、".join(f"{i['number'] or i['id']}（{i['state']}）" for i in invoices) or "无"
        raise VendorRejected(
            t(f"Tryton 不能取消已确认的采购订单 {row['number']}（状态 {row['state']}），其供应商发票：{listed}",
              f"Tryton cannot cancel the confirmed purchase order {row['number']} (state {row['state']}); its "
              f"supplier invoices: {listed}"),
            system=SYSTEM, operation=f"model.{_PURCHASE}.cancel", vendor_code=str(row["state"]),
            fix=t("在 Tryton 中取消或冲销其供应商发票与收货后，再重放此死信",
                  "cancel or credit its supplier invoices and shipments in Tryton, then replay this dead letter"))
