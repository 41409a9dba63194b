"""Canonical requisitions (采购申请) and vouchers (凭证) ⇄ Yonyou vendors, materials, purchase orders, vouchers.

The input shapes are those of the Tryton connector, so a flow can switch ERPs without changing its requests.
A requisition::

    {"number": "PR-2026-0042", "currency": "CNY", "description": "研发部采购办公椅",
     "supplier": {"name": "上海某某办公家具有限公司", "code": "SUP-001", "tax_id": "91310000…",
                  "address": {"street": "淮海中路 1 号", "city": "上海", "postal_code": "200000"}},
     "lines": [{"item": {"code": "CHAIR-01", "name": "人体工学椅", "unit": "把"},
                "quantity": "4", "unit_price": "1299.00", "description": "黑色 带头枕"}]}

A voucher is the JSON form of :class:`huiliu.model.Voucher` (``huiliu.store.codec.to_jsonable``). Amounts are
strings (or integers) and become ``Decimal``; a float is refused, since it has already lost cents. Both are
rebuilt into frozen dataclasses first, so a malformed requisition or an unbalanced voucher fails before any
call. Building Yonyou bodies is pure: codes found by the actions are passed in. Amounts go out as strings
with their exact digits (unconfirmed whether every Yonyou service accepts numeric strings; integrator code
sends them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from huiliu.connectors.yonyou.settings import YonyouSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher
from huiliu.model.purchasing import (
    Address,
    Item,
    PaymentRequest,
    Project,
    PurchaseRequisition,
    RequisitionLine,
    Supplier,
    erp_amount,
    item_from_json,
    payment_from_json,
    project_from_json,
    requisition_from_json,
    supplier_from_json,
    voucher_from_json,
)

__all__ = [
    "Address",
    "Item",
    "PaymentRequest",
    "Project",
    "PurchaseRequisition",
    "RequisitionLine",
    "Supplier",
    "format_time",
    "item_from_json",
    "parse_time",
    "payment_from_json",
    "payment_values",
    "product_values",
    "project_from_json",
    "project_values",
    "purchase_order_values",
    "requisition_from_json",
    "supplier_from_json",
    "to_money",
    "vendor_values",
    "voucher_from_json",
    "voucher_values",
]

_FEN = Decimal("0.01")
_PRICE = Decimal("0.000001")


# ----------------------------------------------------------------- canonical shapes


def to_money(value: Any, currency: str, field: str) -> Money:
    """An amount Yonyou returned as :class:`Money`; raises :class:`MappingError` naming ``field``."""
    return erp_amount(value, currency, field, ("用友", "Yonyou"))

def _text(amount: Decimal, quantum: Decimal = _FEN) -> str:
    return format(amount.quantize(quantum, rounding=ROUND_HALF_UP), "f")


# ----------------------------------------------------------------- times


def format_time(value: datetime, zone: str) -> str:
    """A tz-aware time as Yonyou writes it: ``YYYY-MM-DD HH:MM:SS`` in the tenant's zone.

    Raises:
        ValueError: ``value`` is naive (guessing a zone would shift times by hours).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to Yonyou")
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: Any, zone: str) -> datetime | None:
    """A Yonyou time (``YYYY-MM-DD HH:MM:SS`` in the tenant's zone, or epoch milliseconds) as tz-aware UTC."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("/", "-"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


# ----------------------------------------------------------------- Yonyou bodies


def vendor_values(supplier: Supplier, code: str, settings: YonyouSettings) -> dict[str, Any]:
    """The body to save a new vendor (供应商档案). Every key here is unconfirmed beyond ``code``/``name``."""
    values: dict[str, Any] = {"code": code, "name": supplier.name, "org_code": settings.org_code,
                              "vendorclass_code": settings.vendor_class, "_status": "Insert"}
    if supplier.tax_id:
        values[settings.tax_id_field] = supplier.tax_id
    if supplier.address is not None:
        values["address"] = " ".join(p for p in (supplier.address.city, supplier.address.street) if p)
    return {"data": values}


def product_values(item: Item, code: str, unit: str, settings: YonyouSettings) -> dict[str, Any]:
    """The body to save a new material (物料档案). Keys beyond ``code``/``name`` are unconfirmed."""
    return {"data": {"code": code, "name": item.name, "orgId_code": settings.org_code, "unit_code": unit,
                     "manageClass_code": settings.product_class, "_status": "Insert"}}


def purchase_order_values(requisition: PurchaseRequisition, reference: str, *, vendor: str,
                          products: Mapping[int, str], units: Mapping[int, str], order_date: date,
                          settings: YonyouSettings) -> dict[str, Any]:
    """The ``singleSave_v1`` body of a purchase order (采购订单) with its lines.

    Header keys are those a client lists as required (contract §5.1, [T]); line keys beyond ``inOrg_code``,
    ``inInvoiceOrg_code``, ``invExchRate`` and the ``nat*``/``oriMoney`` amounts are unconfirmed. The unit
    price of a requisition is untaxed; tax is ``settings.tax_rate`` percent of each line's amount.

    Args:
        requisition: the requisition.
        reference: the hub's reference, stored in ``settings.reference_field`` and searched before a retry.
        vendor: the vendor's code.
        products: line index → material code.
        units: line index → unit code.
        order_date: the 单据日期 (``vouchdate``).
        settings: organisation, transaction type, tax rate.

    Raises:
        MappingError: the requisition's currency is not the organisation's (the exchange rate is not known).
    """
    if requisition.currency != settings.local_currency:
        raise MappingError(
            t(f"采购申请币别 {requisition.currency} 与组织本位币 {settings.local_currency} 不同，未提供汇率",
              f"the requisition is in {requisition.currency}, the organisation in {settings.local_currency}; "
              "no exchange rate is known"),
            where="requisition.currency",
            fix=t("以本位币发起采购申请，或在用友中手工录入外币订单",
                  "raise the requisition in the local currency, or enter a foreign-currency order by hand"))
    rate = Decimal(settings.tax_rate) / 100
    lines = []
    for index, line in enumerate(requisition.lines):
        money = line.amount.amount
        tax = (money * rate).quantize(_FEN, rounding=ROUND_HALF_UP)
        total = money + tax
        price = line.unit_price
        taxed_price = price * (1 + rate)
        amounts = {"UnitPrice": _text(price, _PRICE), "TaxUnitPrice": _text(taxed_price, _PRICE),
                   "Money": _text(money), "Tax": _text(tax), "Sum": _text(total)}
        row: dict[str, Any] = {
            "product_cCode": products[index], "unit_code": units[index], "purUOM_Code": units[index],
            "qty": format(line.quantity, "f"), "subQty": format(line.quantity, "f"),
            "taxRate": str(settings.tax_rate), "inOrg_code": settings.org_code,
            "inInvoiceOrg_code": settings.org_code, "invExchRate": "1",
            "memo": line.description or line.item.name, "_status": "Insert",
        }
        for suffix, value in amounts.items():
            row["ori" + suffix] = value
            row["nat" + suffix] = value
        lines.append(row)
    data: dict[str, Any] = {
        "bustype_code": settings.bustype_code, "exchRate": "1", "exchRateType": settings.exchange_rate_type,
        "invoiceVendor_code": vendor, "vendor_code": vendor, "currency_code": requisition.currency,
        "natCurrency_code": settings.local_currency, "org_code": settings.org_code, "_status": "Insert",
        "vouchdate": order_date.isoformat(), "purchaseOrders": lines,
        "headItem": {"define1": requisition.number},
    }
    if requisition.description:
        data["memo"] = requisition.description
    data[settings.reference_field] = reference  # last: it wins when the reference field is "memo"
    return {"data": data}


def voucher_values(voucher: Voucher, reference: str, settings: YonyouSettings) -> dict[str, Any]:
    """The ``addVoucher`` body (contract §5.1, [T]) of a balanced voucher.

    Amounts are in the voucher's currency and, with rate 1, in the book's (``*Original`` and ``*Org``).
    When ``settings.voucher_description_reference`` is on, the first entry's ``description`` starts with
    ``[<reference>]``: ``queryVouchers`` can then find a voucher made by an attempt whose reply was lost.
    Auxiliary dimensions go as ``auxiliary: {name: value}`` (unconfirmed key).

    Raises:
        MappingError: the voucher is not in the book's currency (no exchange rate is known).
    """
    if voucher.currency != settings.local_currency:
        raise MappingError(
            t(f"凭证币别 {voucher.currency} 与账簿本位币 {settings.local_currency} 不同",
              f"the voucher is in {voucher.currency}, the book in {settings.local_currency}"),
            where="voucher.currency", fix=t("以账簿本位币生成凭证", "make the voucher in the book's currency"))
    bodies = []
    for index, line in enumerate(voucher.lines):
        amount = _text(line.amount.amount)
        description = line.summary
        if index == 0 and settings.voucher_description_reference:
            description = f"[{reference}]{description}"
        side = "debit" if line.direction is Direction.DEBIT else "credit"
        body: dict[str, Any] = {"description": description, "accsubjectCode": line.account,
                                f"{side}Original": amount, f"{side}Org": amount,
                                "rateType": settings.exchange_rate_type, "rateOrg": "1",
                                "busidate": voucher.date.isoformat()}
        if line.aux:
            body["auxiliary"] = dict(line.aux)
        bodies.append(body)
    return {"accbookCode": settings.accbook_code,
            "voucherTypeCode": settings.voucher_types.get(voucher.group, voucher.group),
            "makeTime": voucher.date.isoformat(), "bodies": bodies}


def payment_values(payment: PaymentRequest, reference: str, *, vendor: str,
                   settings: YonyouSettings) -> dict[str, Any]:
    """The save body of a payment (付款单) with one line (表体) of the whole amount.

    Every key is unconfirmed (no stored source shows a 付款单 payload); they follow the purchase order's
    naming. The reference goes into ``settings.reference_field``; the OA number, invoice and order travel
    as ``srcbillno``, ``invoiceNo`` and ``srcOrderNo`` (unconfirmed keys), the project as ``project_code``.

    Raises:
        MappingError: the payment is not in the organisation's currency (no exchange rate is known).
    """
    if payment.amount.currency != settings.local_currency:
        raise MappingError(
            t(f"付款币别 {payment.amount.currency} 与组织本位币 {settings.local_currency} 不同",
              f"the payment is in {payment.amount.currency}, the organisation in {settings.local_currency}"),
            where="payment.currency",
            fix=t("以本位币付款，或在用友中手工录入外币付款单", "pay in the local currency, or enter it in Yonyou"))
    amount = _text(payment.amount.amount)
    line: dict[str, Any] = {"quickType_code": settings.payment_quick_type, "supplier_code": vendor,
                            "oriSum": amount, "natSum": amount, "memo": payment.description or payment.number,
                            "_status": "Insert"}
    data: dict[str, Any] = {
        "tradetype_code": settings.payment_bustype_code, "org_code": settings.org_code,
        "vouchdate": payment.date.isoformat(), "supplier_code": vendor, "currency_code": payment.amount.currency,
        "natCurrency_code": settings.local_currency, "exchRateType": settings.exchange_rate_type, "exchRate": "1",
        "oriSum": amount, "natSum": amount, "description": payment.description, "srcbillno": payment.number,
        "_status": "Insert", "bodyItem": [line],
    }
    for key, value in (("invoiceNo", payment.invoice_number), ("srcOrderNo", payment.purchase_order),
                       ("enterprisebankaccount", payment.bank_account), ("project_code", payment.project)):
        if value:
            data[key] = value
            if key == "project_code":
                line[key] = value
    data[settings.reference_field] = reference
    return {"data": data}


def project_values(project: Project, settings: YonyouSettings) -> dict[str, Any]:
    """The save body of a project (项目档案); keys beyond ``code``/``name`` are unconfirmed."""
    data: dict[str, Any] = {"code": project.code, "name": project.name, "org_code": settings.org_code,
                            "classifyid_code": settings.project_class, "_status": "Insert"}
    for key, value in (("person_name", project.manager), ("dept_name", project.department),
                       ("planStartDate", project.start.isoformat() if project.start else None),
                       ("planEndDate", project.end.isoformat() if project.end else None)):
        if value:
            data[key] = value
    if project.budget is not None:
        data["budgetMoney"] = _text(project.budget.amount)
    return {"data": data}
