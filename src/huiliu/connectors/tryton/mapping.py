"""Canonical purchase requisitions (采购申请) ⇄ Tryton ``party.party``, ``product.template``, ``purchase.purchase``.

The input is the JSON a flow builds from an approved OA requisition::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents.
It is rebuilt into the frozen dataclasses below first, so a malformed requisition fails before any call to
Tryton. Building Tryton values is pure: ids found by the actions are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Money
from huiliu.model.purchasing import (
    Address,
    Item,
    PurchaseRequisition,
    RequisitionLine,
    Supplier,
    erp_amount,
    item_from_json,
    requisition_from_json,
    supplier_from_json,
)

__all__ = [
    "Address",
    "Item",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "item_from_json",
    "party_values",
    "product_values",
    "purchase_values",
    "requisition_from_json",
    "supplier_from_json",
    "to_money",
]


def to_money(value: Any, currency: str, field: str) -> Money:
    """An amount Tryton returned as :class:`Money`; raises :class:`MappingError` naming ``field``."""
    return erp_amount(value, currency, field, ("Tryton", "Tryton"))

def party_values(supplier: Supplier, settings: TrytonSettings) -> dict[str, Any]:
    """Values to create the supplier as a ``party.party``, with its address and tax identifier.

    The address is always created (possibly empty), since a purchase order needs an invoice address and raw
    JSON-RPC runs no ``on_change`` to add one (contract §8.5).
    """
    address = supplier.address or Address()
    values: dict[str, Any] = {
        "name": supplier.name,
        "addresses": [["create", [{"street": address.street, "city": address.city,
                                   "postal_code": address.postal_code}]]],
    }
    if supplier.code:
        values["code"] = supplier.code
    if supplier.tax_id:
        identifier: dict[str, Any] = {"code": supplier.tax_id}
        if settings.tax_identifier_type:
            identifier["type"] = settings.tax_identifier_type
        values["identifiers"] = [["create", [identifier]]]
    if settings.payment_term is not None:
        values["supplier_payment_term"] = settings.payment_term
    return values


def product_values(item: Item, uom: int, settings: TrytonSettings) -> dict[str, Any]:
    """Values to create the item as a goods ``product.template`` with one variant.

    Raises:
        MappingError: ``settings.account_category`` is not set (Tryton cannot quote without it).
    """
    if settings.account_category is None:
        raise MappingError(
            t(f"无法在 Tryton 中新建物料 {item.name}：未配置 account_category",
              f"cannot create item {item.name} in Tryton: account_category is not set"),
            where="tryton.account_category",
            fix=t("在设置中填写带费用科目的产品分类 id（product.category）",
                  "set account_category to the id of a product.category with an expense account"))
    values: dict[str, Any] = {
        "name": item.name, "type": "goods", "default_uom": uom, "purchase_uom": uom, "purchasable": True,
        "list_price": Decimal(0), "account_category": settings.account_category,
        "products": [["create", [{}]]],
    }
    if item.code:
        values["code"] = item.code  # the variant's code is the template's code plus an empty suffix
    return values


def purchase_values(requisition: PurchaseRequisition, reference: str, *, party: int, invoice_address: int,
                    products: Mapping[int, int], units: Mapping[int, int], currency: int,
                    settings: TrytonSettings) -> dict[str, Any]:
    """Values to create the ``purchase.purchase`` with its lines in one call.

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        party: the supplier's party id.
        invoice_address: one of that party's addresses.
        products: line index → ``product.product`` id.
        units: line index → ``product.uom`` id.
        currency: the ``currency.currency`` id of the requisition's currency.
        settings: invoice method and payment term.
    """
    lines = []
    for index, line in enumerate(requisition.lines):
        lines.append({
            "type": "line", "product": products[index], "unit": units[index],
            # quantity is a Float field in Tryton; the Decimal's exact text goes through float unchanged for
            # any quantity a requisition has (at most 15 significant digits).
            "quantity": float(line.quantity),
            "unit_price": line.unit_price,
            "description": line.description or line.item.name,
        })
    values: dict[str, Any] = {
        "party": party, "invoice_address": invoice_address, "currency": currency,
        "description": requisition.description or requisition.number,
        "invoice_method": settings.invoice_method.value,
        "lines": [["create", lines]],
    }
    values[settings.reference_field] = reference  # last: it wins when the reference field is "description"
    if settings.payment_term is not None:
        values["payment_term"] = settings.payment_term
    return values
