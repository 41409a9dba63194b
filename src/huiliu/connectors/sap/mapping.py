"""Canonical requisitions (采购申请) and vouchers (凭证) ⇄ SAP partners, products, purchase orders, journal entries.

The input shapes are those of the Tryton connector (requisitions) and of :class:`huiliu.model.Voucher`
(vouchers), described in :mod:`huiliu.connectors.yonyou.mapping` as well, so a flow can switch ERPs. Both are
rebuilt into frozen dataclasses first, so a malformed requisition or an unbalanced voucher fails before any
call. Building SAP bodies is pure. OData V2 ``Edm.Decimal`` values travel as strings, which keeps every digit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.connectors.sap.settings import ODataVersion, SapSettings
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
    "item_from_json",
    "journal_entry_values",
    "odata_date",
    "partner_values",
    "payment_entry_values",
    "payment_from_json",
    "product_values",
    "project_from_json",
    "project_values",
    "purchase_order_values",
    "requisition_from_json",
    "short_reference",
    "supplier_from_json",
    "to_money",
    "voucher_from_json",
]

_FEN = Decimal("0.01")

def to_money(value: Any, currency: str, field: str) -> Money:
    """An amount SAP returned as :class:`Money`; raises :class:`MappingError` naming ``field``."""
    return erp_amount(value, currency, field, ("SAP ", "SAP"))

def _text(amount: Decimal, quantum: Decimal = _FEN) -> str:
    return format(amount.quantize(quantum, rounding=ROUND_HALF_UP), "f")


def short_reference(reference: str, length: int) -> str:
    """The hub's reference as it fits a short SAP field.

    Itself when it is ``length`` ASCII characters or fewer, else ``H`` + upper-case hex of its SHA-256
    (``length`` in all). The same reference always gives the same value, so the lookup before a retry finds
    what the first attempt stored.
    """
    if len(reference) <= length and reference.isascii():
        return reference
    return "H" + hashlib.sha256(reference.encode()).hexdigest()[: length - 1].upper()


def partner_values(supplier: Supplier, code: str, settings: SapSettings) -> dict[str, Any]:
    """A business partner (organisation, category 2) with the supplier role; role and grouping unconfirmed."""
    values: dict[str, Any] = {
        "BusinessPartnerCategory": "2", "BusinessPartnerGrouping": settings.partner_grouping,
        settings.supplier_name_field: supplier.name[:40], settings.supplier_code_field: code[:20],
        "to_BusinessPartnerRole": {"results": [{"BusinessPartnerRole": "FLVN01"}]},
    }
    if supplier.tax_id:
        values[settings.supplier_tax_field] = supplier.tax_id
    if supplier.address is not None:
        values["to_BusinessPartnerAddress"] = {"results": [{
            "Country": "CN", "CityName": supplier.address.city, "StreetName": supplier.address.street,
            "PostalCode": supplier.address.postal_code, "Language": settings.language}]}
    return values


def product_values(item: Item, code: str, unit: str, settings: SapSettings) -> dict[str, Any]:
    """A product (material) with one description in ``settings.language``."""
    return {"Product": code, "ProductType": settings.product_type, "BaseUnit": unit,
            "to_Description": {"results": [{"Product": code, "Language": settings.language,
                                            "ProductDescription": item.name[:40]}]}}


def purchase_order_values(requisition: PurchaseRequisition, reference: str, *, supplier: str,
                          materials: Mapping[int, str], units: Mapping[int, str],
                          settings: SapSettings) -> dict[str, Any]:
    """The deep insert of ``A_PurchaseOrder`` with its items (contract §8, [T]).

    The reference goes into ``settings.reference_field`` through :func:`short_reference`. Net prices are per
    one unit (``NetPriceQuantity`` 1) and untaxed; tax comes from ``settings.tax_code`` in SAP's pricing.
    """
    items = []
    for index, line in enumerate(requisition.lines):
        items.append({
            "PurchaseOrderItem": str(10 * (index + 1)), "Material": materials[index], "Plant": settings.plant,
            "OrderQuantity": format(line.quantity, "f"), "PurchaseOrderQuantityUnit": units[index],
            "NetPriceAmount": format(line.unit_price, "f"), "NetPriceQuantity": "1",
            "DocumentCurrency": requisition.currency, "TaxCode": settings.tax_code,
            "PurchaseOrderItemText": (line.description or line.item.name)[:40],
        })
    return {
        "CompanyCode": settings.company_code, "PurchasingOrganization": settings.purchasing_org,
        "PurchasingGroup": settings.purchasing_group, "Supplier": supplier,
        "PurchaseOrderType": settings.order_type, "DocumentCurrency": requisition.currency,
        "Language": settings.language,
        settings.reference_field: short_reference(reference, settings.reference_length),
        settings.purchase_items: {"results": items},
    }


def journal_entry_values(voucher: Voucher, reference: str, settings: SapSettings) -> dict[str, Any]:
    """A journal entry with the fields of SOAP ``JournalEntryBulkCreateRequest`` (contract §8, [D] for SOAP).

    Credit amounts are negative, debit positive, with ``DebitCreditCode`` ``S`` (Soll) or ``H`` (Haben), as
    SAP stores them; the entry sums to zero. The reference goes into ``settings.journal_reference_field``.
    """
    items = []
    for index, line in enumerate(voucher.lines):
        debit = line.direction is Direction.DEBIT
        amount = line.amount.amount.quantize(_FEN, rounding=ROUND_HALF_UP)
        item: dict[str, Any] = {
            "ReferenceDocumentItem": str(index + 1), "GLAccount": line.account,
            "AmountInTransactionCurrency": format(amount if debit else -amount, "f"),
            "TransactionCurrency": voucher.currency, "DebitCreditCode": "S" if debit else "H",
            "DocumentItemText": line.summary[:50],
        }
        for name, value in line.aux:
            item[{"department": "CostCenter", "cost_center": "CostCenter", "profit_center": "ProfitCenter",
                  "employee": "PersonnelNumber", "project": settings.journal_project_field,
                  "wbs_element": settings.journal_project_field}.get(name, name)] = value
        items.append(item)
    return {
        "CompanyCode": settings.company_code, "AccountingDocumentType": settings.document_type,
        "DocumentDate": voucher.date.isoformat(), "PostingDate": voucher.date.isoformat(),
        settings.journal_reference_field: short_reference(reference, settings.journal_reference_length),
        "DocumentHeaderText": f"{voucher.group} {voucher.reference}"[:25],
        "to_Item": {"results": items},
    }




def odata_date(value: date, version: ODataVersion) -> str:
    """A date as OData sends it: V2 ``Edm.DateTime`` ``/Date(ms)/`` at midnight UTC, V4 ``Edm.Date`` ISO."""
    if version is ODataVersion.V4:
        return value.isoformat()
    midnight = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return f"/Date({int(midnight.timestamp() * 1000)})/"


def payment_entry_values(payment: PaymentRequest, reference: str, *, supplier: str,
                         settings: SapSettings) -> dict[str, Any]:
    """An outgoing payment as a journal entry of type ``settings.payment_document_type`` (``KZ``).

    Two items: the supplier line (debit ``settings.payable_account`` with ``Supplier``, reducing what is
    owed) and the bank line (credit the bank G/L account named by ``settings.bank_accounts``, else
    ``settings.bank_gl_account``). The invoice (or else the purchase order) goes into ``AssignmentReference``
    (ZUONR, 18 characters) so it can be cleared against; the reference into
    ``settings.journal_reference_field``; the OA number into ``DocumentHeaderText``. Field names are those of
    the journal entry (contract §8); posting it as a payment this way is unconfirmed.
    """
    amount = payment.amount.amount.quantize(_FEN, rounding=ROUND_HALF_UP)
    currency = payment.amount.currency
    text = (payment.description or payment.number)[:50]
    bank = settings.bank_accounts.get(payment.bank_account or "", settings.bank_gl_account)
    vendor_item: dict[str, Any] = {
        "ReferenceDocumentItem": "1", "GLAccount": settings.payable_account, "Supplier": supplier,
        "AmountInTransactionCurrency": format(amount, "f"), "TransactionCurrency": currency,
        "DebitCreditCode": "S", "DocumentItemText": text}
    assignment = payment.invoice_number or payment.purchase_order
    if assignment:
        vendor_item["AssignmentReference"] = assignment[:18]
    bank_item = {"ReferenceDocumentItem": "2", "GLAccount": bank, "AmountInTransactionCurrency": format(-amount, "f"),
                 "TransactionCurrency": currency, "DebitCreditCode": "H", "DocumentItemText": text}
    return {
        "CompanyCode": settings.company_code, "AccountingDocumentType": settings.payment_document_type,
        "DocumentDate": payment.date.isoformat(), "PostingDate": payment.date.isoformat(),
        settings.journal_reference_field: short_reference(reference, settings.journal_reference_length),
        "DocumentHeaderText": payment.number[:25], "to_Item": {"results": [vendor_item, bank_item]},
    }


def project_values(project: Project, settings: SapSettings) -> dict[str, Any]:
    """An enterprise project (``A_EnterpriseProject``); field names beyond ``Project`` are unconfirmed."""
    values: dict[str, Any] = {"Project": project.code[:24], "ProjectDescription": project.name[:40],
                              "ProjectProfileCode": settings.project_profile, "CompanyCode": settings.company_code}
    if project.start is not None:
        values["ProjectStartDate"] = odata_date(project.start, settings.odata_version)
    if project.end is not None:
        values["ProjectEndDate"] = odata_date(project.end, settings.odata_version)
    if project.department:
        values["ResponsibleCostCenter"] = project.department
    return values
