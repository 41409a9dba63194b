"""ERPNext connector: Frappe REST client (token auth), requisition → purchase order mapping, actions.

Owns: the Frappe REST API of contract §7 (resources, submit by ``docstatus: 1``, ``frappe.client.cancel``),
reply interpretation, the supplier / item / purchase order mapping and the idempotent actions
``erpnext.party.ensure``, ``erpnext.product.ensure``, ``erpnext.purchase.create``, ``erpnext.purchase.read``,
``erpnext.purchase.reverse``, ``erpnext.changes.since``, ``erpnext.payment.create`` / ``.read`` and
``erpnext.voucher.create`` (:mod:`.accounting`: Payment Entry, Journal Entry), ``erpnext.project.ensure`` /
``.actuals`` (:mod:`.project`: Project, GL Entry). Does not own: receipts, invoices, expense claims, payment
reconciliation against invoices, or inbound webhooks (``X-Frappe-Webhook-Signature``; poll with
``erpnext.changes.since``).
"""

from huiliu.connectors.erpnext.accounting import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    VOUCHER_CREATE,
    ErpnextBooks,
    PaymentCreate,
    PaymentRead,
    VoucherCreate,
)
from huiliu.connectors.erpnext.actions import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    ChangesSince,
    ErpnextCatalog,
    PartyEnsure,
    ProductEnsure,
    PurchaseCreate,
    PurchaseRead,
    PurchaseReverse,
    register_actions,
)
from huiliu.connectors.erpnext.client import CredentialsSource, ErpnextClient, Filters
from huiliu.connectors.erpnext.errors import SYSTEM, bad_credentials, check_reply, error_from_reply, server_message
from huiliu.connectors.erpnext.mapping import (
    Address,
    Item,
    PurchaseRequisition,
    RequisitionLine,
    Supplier,
    item_from_json,
    item_values,
    purchase_values,
    requisition_from_json,
    supplier_from_json,
    supplier_values,
)
from huiliu.connectors.erpnext.project import PROJECT_ACTUALS, PROJECT_ENSURE, ProjectActuals, ProjectEnsure
from huiliu.connectors.erpnext.settings import AccountLookup, ErpnextSettings, PartyMatch, ProductMatch

__all__ = [
    "CHANGES_SINCE",
    "PARTY_ENSURE",
    "PAYMENT_CREATE",
    "PAYMENT_READ",
    "PRODUCT_ENSURE",
    "PROJECT_ACTUALS",
    "PROJECT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "SYSTEM",
    "VOUCHER_CREATE",
    "AccountLookup",
    "Address",
    "ChangesSince",
    "CredentialsSource",
    "ErpnextBooks",
    "ErpnextCatalog",
    "ErpnextClient",
    "ErpnextSettings",
    "Filters",
    "Item",
    "PartyEnsure",
    "PartyMatch",
    "PaymentCreate",
    "PaymentRead",
    "ProductEnsure",
    "ProductMatch",
    "ProjectActuals",
    "ProjectEnsure",
    "PurchaseCreate",
    "PurchaseRead",
    "PurchaseRequisition",
    "PurchaseReverse",
    "RequisitionLine",
    "Supplier",
    "VoucherCreate",
    "bad_credentials",
    "check_reply",
    "error_from_reply",
    "item_from_json",
    "item_values",
    "purchase_values",
    "register_actions",
    "requisition_from_json",
    "server_message",
    "supplier_from_json",
    "supplier_values",
]
