"""Canonical purchase requisitions (采购申请) ⇄ Odoo ``res.partner``, ``product.product``, ``purchase.order``.

The input is the same JSON the Tryton and ERPNext connectors take, so a flow can switch ERPs::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents.
It is rebuilt into frozen dataclasses first, so a malformed requisition fails before any call to Odoo.
Building Odoo values is pure: ids found by the actions are passed in.

Odoo's float fields (``product_qty``, ``price_unit``) travel as JSON numbers: a Decimal's text goes through a
float unchanged for any amount a requisition has (at most 15 significant digits), and what Odoo returns is
read back through ``repr`` (:func:`to_money`), so cents survive the round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from huiliu.connectors.odoo.settings import OdooSettings
from huiliu.model import Direction, Money, Voucher
from huiliu.model.purchasing import (
    Address,
    Item,
    PaymentRequest,
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
    "from_odoo_datetime",
    "item_from_json",
    "many2one_id",
    "many2one_name",
    "move_values",
    "partner_values",
    "payment_values",
    "product_values",
    "purchase_values",
    "requisition_from_json",
    "supplier_from_json",
    "text",
    "to_money",
    "to_odoo_datetime",
]

_ODOO_DT = "%Y-%m-%d %H:%M:%S"


def to_money(value: Any, currency: str, field: str) -> Money:
    """An amount Odoo returned as :class:`Money`; raises :class:`MappingError` naming ``field``."""
    return erp_amount(value, currency, field, ("Odoo", "Odoo"))

def many2one_id(value: Any) -> int | None:
    """The id of a many2one as ``read`` returns it (``[id, "name"]`` or ``false``)."""
    if isinstance(value, list | tuple) and value and isinstance(value[0], int):
        return int(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def many2one_name(value: Any) -> str | None:
    """The display name of a many2one as ``read`` returns it."""
    if isinstance(value, list | tuple) and len(value) > 1:
        return str(value[1])
    return None


def text(value: Any) -> str | None:
    """A Char/Text value: Odoo sends ``false`` for empty."""
    return None if value is False or value is None else str(value)


def to_odoo_datetime(value: datetime) -> str:
    """A tz-aware time in Odoo's stored form: UTC ``YYYY-MM-DD HH:MM:SS`` (the second is truncated).

    Raises:
        ValueError: the time is naive (guessing a zone would shift it by hours).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to Odoo")
    return value.astimezone(UTC).strftime(_ODOO_DT)


def from_odoo_datetime(value: Any) -> datetime | None:
    """An Odoo datetime string (UTC, no zone) as a tz-aware datetime; ``false`` → ``None``."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.strptime(value[:19], _ODOO_DT).replace(tzinfo=UTC)


def partner_values(supplier: Supplier) -> dict[str, Any]:
    """Values to create the supplier as a company ``res.partner`` with ``supplier_rank`` 1."""
    address = supplier.address or Address()
    values: dict[str, Any] = {"name": supplier.name, "is_company": True, "supplier_rank": 1}
    for key, value in (("ref", supplier.code), ("vat", supplier.tax_id), ("street", address.street),
                       ("city", address.city), ("zip", address.postal_code)):
        if value:
            values[key] = value
    return values


def product_values(item: Item, uom: int, settings: OdooSettings) -> dict[str, Any]:
    """Values to create the item as a purchasable ``product.product`` (its template is made with it)."""
    values: dict[str, Any] = {"name": item.name, "type": settings.product_type, "purchase_ok": True,
                              "uom_id": uom, "uom_po_id": uom}
    if item.code:
        values["default_code"] = item.code
    return values


def purchase_values(requisition: PurchaseRequisition, reference: str, *, partner: int,
                    products: Mapping[int, int], units: Mapping[int, int], currency: int,
                    settings: OdooSettings) -> dict[str, Any]:
    """Values to create the ``purchase.order`` with its lines in one call (one transaction).

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        partner: the supplier's ``res.partner`` id.
        products: line index → ``product.product`` id.
        units: line index → ``uom.uom`` id.
        currency: the ``res.currency`` id of the requisition's currency.
        settings: the line unit field and the reference field.
    """
    lines = []
    for index, line in enumerate(requisition.lines):
        lines.append([0, 0, {
            "product_id": products[index], settings.line_uom_field: units[index],
            "product_qty": float(line.quantity), "price_unit": float(line.unit_price),
            "name": line.description or line.item.name,
        }])
    values: dict[str, Any] = {"partner_id": partner, "currency_id": currency, "order_line": lines}
    if requisition.description:
        values["notes"] = requisition.description
    values[settings.reference_field] = reference
    return values


def payment_values(payment: PaymentRequest, reference: str, *, partner: int, currency: int, journal: int,
                   settings: OdooSettings) -> dict[str, Any]:
    """Values to create an outbound vendor ``account.payment`` in draft.

    Args:
        payment: the approved payment request.
        reference: the hub's reference, stored in ``settings.payment_reference_field`` and searched before a
            retry.
        partner: the supplier's ``res.partner`` id.
        currency: the ``res.currency`` id.
        journal: the bank ``account.journal`` id.
        settings: the reference field.
    """
    return {"payment_type": "outbound", "partner_type": "supplier", "partner_id": partner,
            "amount": float(payment.amount.amount), "currency_id": currency, "date": payment.date.isoformat(),
            "journal_id": journal, settings.payment_reference_field: reference}


def move_values(voucher: Voucher, reference: str, *, accounts: Mapping[int, int], analytic: Mapping[int, int],
                journal: int, currency: int, settings: OdooSettings) -> dict[str, Any]:
    """Values to create the voucher as a miscellaneous ``account.move`` with its items in one call.

    Args:
        voucher: the (balanced) voucher.
        reference: the hub's reference, stored in ``settings.voucher_reference_field``.
        accounts: line index → ``account.account`` id.
        analytic: line index → analytic account id of the line's project (lines without one are absent).
        journal: the ``account.journal`` id.
        currency: the company currency's ``res.currency`` id.
        settings: the reference field and the department dimension.
    """
    lines = []
    for index, line in enumerate(voucher.lines):
        dims = dict(line.aux)
        label = line.summary or voucher.reference
        if settings.department_dimension in dims:
            label = f"{label} [部门 {dims[settings.department_dimension]}]"
        amount = float(line.amount.amount)
        values: dict[str, Any] = {"account_id": accounts[index], "name": label,
                                  "debit": amount if line.direction is Direction.DEBIT else 0.0,
                                  "credit": amount if line.direction is Direction.CREDIT else 0.0}
        if index in analytic:
            values["analytic_distribution"] = {str(analytic[index]): 100}
        lines.append([0, 0, values])
    return {"move_type": "entry", "date": voucher.date.isoformat(), "journal_id": journal, "currency_id": currency,
            "narration": f"{voucher.group} {voucher.reference}", settings.voucher_reference_field: reference,
            "line_ids": lines}
