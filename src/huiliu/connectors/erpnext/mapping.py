"""Canonical purchase requisitions (采购申请) ⇄ ERPNext ``Supplier``, ``Item``, ``Purchase Order``.

The input is the same JSON the Tryton and Odoo connectors take, so a flow can switch ERPs::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

Amounts are strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents.
It is rebuilt into frozen dataclasses first, so a malformed requisition fails before any call to ERPNext.
Building documents is pure: names found by the actions are passed in.

Frappe's Float and Currency fields (``qty``, ``rate``, ``grand_total``) travel as JSON numbers: a Decimal's text
goes through a float unchanged for any amount a requisition has (at most 15 significant digits), and what
ERPNext returns is read back through ``repr`` (:func:`to_money`), so cents survive the round trip. Dates and
``modified`` are in the site's time zone without an offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from huiliu.connectors.erpnext.settings import ErpnextSettings
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
    "from_site_time",
    "item_from_json",
    "item_values",
    "journal_entry_values",
    "payment_entry_values",
    "purchase_values",
    "requisition_from_json",
    "supplier_from_json",
    "supplier_values",
    "to_money",
    "to_site_time",
]


def to_money(value: Any, currency: str, field: str) -> Money:
    """An amount ERPNext returned as :class:`Money`; raises :class:`MappingError` naming ``field``."""
    return erp_amount(value, currency, field, ("ERPNext", "ERPNext"))

def to_site_time(value: datetime, zone: ZoneInfo) -> str:
    """A tz-aware time as Frappe stores it: site-local ``YYYY-MM-DD HH:MM:SS.ffffff`` without an offset.

    Raises:
        ValueError: the time is naive (guessing a zone would shift it by hours).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to ERPNext")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S.%f")


def from_site_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """A Frappe datetime (site-local, no offset) as a tz-aware datetime; empty → ``None``."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=zone)


def supplier_values(supplier: Supplier, settings: ErpnextSettings) -> dict[str, Any]:
    """A new ``Supplier`` (named by its supplier name on a default site): group, tax id, code field."""
    values: dict[str, Any] = {"supplier_name": supplier.name, "supplier_group": settings.supplier_group,
                              "supplier_type": "Company"}
    if supplier.tax_id:
        values["tax_id"] = supplier.tax_id
    if supplier.code and settings.supplier_code_field:
        values[settings.supplier_code_field] = supplier.code
    return values


def item_values(item: Item, uom: str, settings: ErpnextSettings) -> dict[str, Any]:
    """A new purchasable ``Item``; its ``item_code`` (and name) is the OA code, or the item's name without one."""
    return {"item_code": item.code or item.name, "item_name": item.name, "item_group": settings.item_group,
            "stock_uom": uom, "is_stock_item": 1 if settings.stock_items else 0, "is_purchase_item": 1,
            "description": item.name}


def purchase_values(requisition: PurchaseRequisition, reference: str, *, supplier: str, items: Mapping[int, str],
                    units: Mapping[int, str], today: date, settings: ErpnextSettings) -> dict[str, Any]:
    """A new ``Purchase Order`` with its items, in one insert (one transaction).

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        supplier: the ``Supplier`` name.
        items: line index → ``Item`` name.
        units: line index → ``UOM`` name.
        today: the site's date: ``transaction_date``; ``schedule_date`` is ``schedule_days`` later.
        settings: company, reference field, schedule.
    """
    schedule = (today + timedelta(days=settings.schedule_days)).isoformat()
    values: dict[str, Any] = {
        "supplier": supplier, "transaction_date": today.isoformat(), "schedule_date": schedule,
        "currency": requisition.currency,
        "items": [{"item_code": items[index], "qty": float(line.quantity), "rate": float(line.unit_price),
                   "uom": units[index], "conversion_factor": 1, "schedule_date": schedule,
                   "description": line.description or line.item.name}
                  for index, line in enumerate(requisition.lines)],
    }
    if requisition.description:
        values["remarks"] = requisition.description
    if settings.company:
        values["company"] = settings.company
    values[settings.reference_field] = reference
    return values


def payment_entry_values(payment: PaymentRequest, reference: str, *, supplier: str,
                         settings: ErpnextSettings) -> dict[str, Any]:
    """A new ``Payment Entry`` paying a supplier (``payment_type`` Pay) from ``settings.payment_account``.

    Args:
        payment: the approved payment request.
        reference: the hub's reference, stored in ``settings.payment_reference_field``.
        supplier: the ``Supplier`` name.
        settings: accounts, mode of payment, company, reference field.
    """
    day = payment.date.isoformat()
    amount = float(payment.amount.amount)
    remarks = " ".join(p for p in (payment.number, payment.description,
                                   f"发票 {payment.invoice_number}" if payment.invoice_number else "") if p)
    values: dict[str, Any] = {
        "payment_type": "Pay", "party_type": "Supplier", "party": supplier, "posting_date": day,
        "paid_from": settings.payment_account, "paid_amount": amount, "received_amount": amount,
        "reference_no": payment.number, "reference_date": day, "remarks": remarks}
    for key, value in (("paid_to", settings.payable_account), ("mode_of_payment", settings.mode_of_payment),
                       ("company", settings.company)):
        if value:
            values[key] = value
    values[settings.payment_reference_field] = reference
    return values


def journal_entry_values(voucher: Voucher, reference: str, *, accounts: Mapping[int, str],
                         projects: Mapping[int, str], settings: ErpnextSettings) -> dict[str, Any]:
    """A new ``Journal Entry`` with one ``accounts`` row per voucher line.

    Args:
        voucher: the (balanced) voucher.
        reference: the hub's reference, stored in ``settings.voucher_reference_field`` (with ``cheque_date``
            when that field is ``cheque_no``).
        accounts: line index → ``Account`` name.
        projects: line index → ``Project`` name (lines without a project are absent).
        settings: the department → cost centre map, company, reference field.
    """
    rows = []
    for index, line in enumerate(voucher.lines):
        dims = dict(line.aux)
        amount = float(line.amount.amount)
        row: dict[str, Any] = {"account": accounts[index], "user_remark": line.summary,
                               "debit_in_account_currency": amount if line.direction is Direction.DEBIT else 0.0,
                               "credit_in_account_currency": amount if line.direction is Direction.CREDIT else 0.0}
        department = dims.get(settings.department_dimension)
        if department:
            row["cost_center"] = settings.cost_centers.get(department, department)
        if index in projects:
            row["project"] = projects[index]
        rows.append(row)
    values: dict[str, Any] = {"voucher_type": "Journal Entry", "posting_date": voucher.date.isoformat(),
                              "user_remark": f"{voucher.group} {voucher.reference}", "accounts": rows,
                              settings.voucher_reference_field: reference}
    if settings.voucher_reference_field == "cheque_no":
        values["cheque_date"] = voucher.date.isoformat()
    if settings.company:
        values["company"] = settings.company
    return values
