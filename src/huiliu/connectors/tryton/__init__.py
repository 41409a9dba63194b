"""Tryton ERP connector: JSON-RPC session client, requisition → purchase order mapping and actions.

Owns: the JSON-RPC transport of Tryton 8.2 (``/{database}/rpc/``, session header, Tryton's value encoding),
reply interpretation, the supplier / item / purchase order mapping and the idempotent actions
``tryton.party.ensure``, ``tryton.product.ensure``, ``tryton.purchase.create`` / ``read`` / ``reverse``,
``tryton.payment.create`` / ``read`` (supplier invoice posted and paid), ``tryton.project.ensure`` / ``actuals``
(projects as analytic accounts) and ``tryton.voucher.create`` (posted journal entries). Does not own: receiving
goods or inbound events (Tryton's bus is not used; poll with the read actions).
"""

from huiliu.connectors.tryton.accounting import Accounting
from huiliu.connectors.tryton.actions import (
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    PartyEnsure,
    ProductEnsure,
    PurchaseCreate,
    PurchaseRead,
    PurchaseReverse,
    TrytonCatalog,
)
from huiliu.connectors.tryton.client import Domain, TrytonClient, decode, encode
from huiliu.connectors.tryton.errors import SYSTEM, check_login, check_reply, error_from_payload
from huiliu.connectors.tryton.mapping import (
    Address,
    Item,
    PurchaseRequisition,
    RequisitionLine,
    Supplier,
    item_from_json,
    party_values,
    product_values,
    purchase_values,
    requisition_from_json,
    supplier_from_json,
)
from huiliu.connectors.tryton.payment import PAYMENT_CREATE, PAYMENT_READ, PaymentCreate, PaymentRead
from huiliu.connectors.tryton.project import PROJECT_ACTUALS, PROJECT_ENSURE, ProjectActuals, ProjectEnsure
from huiliu.connectors.tryton.registry import register_actions
from huiliu.connectors.tryton.settings import InvoiceMethod, PartyMatch, ProductMatch, TrytonSettings
from huiliu.connectors.tryton.voucher import VOUCHER_CREATE, VoucherCreate

__all__ = [
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
    "Accounting",
    "Address",
    "Domain",
    "InvoiceMethod",
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
    "TrytonCatalog",
    "TrytonClient",
    "TrytonSettings",
    "VoucherCreate",
    "check_login",
    "check_reply",
    "decode",
    "encode",
    "error_from_payload",
    "item_from_json",
    "party_values",
    "product_values",
    "purchase_values",
    "register_actions",
    "requisition_from_json",
    "supplier_from_json",
]
