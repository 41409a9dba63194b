"""Tryton ERP connector: JSON-RPC session client, requisition → purchase order mapping and actions.

Owns: the JSON-RPC transport of Tryton 8.2 (``/{database}/rpc/``, session header, Tryton's value encoding),
reply interpretation, the supplier / item / purchase order mapping and the idempotent actions
``tryton.party.ensure``, ``tryton.product.ensure``, ``tryton.purchase.create`` and ``tryton.purchase.read``.
Does not own: receiving goods, posting or paying invoices, or inbound events (Tryton's bus is not used;
poll with ``tryton.purchase.read``).
"""

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
    register_actions,
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
from huiliu.connectors.tryton.settings import InvoiceMethod, PartyMatch, ProductMatch, TrytonSettings

__all__ = [
    "PARTY_ENSURE",
    "PRODUCT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "SYSTEM",
    "Address",
    "Domain",
    "InvoiceMethod",
    "Item",
    "PartyEnsure",
    "PartyMatch",
    "ProductEnsure",
    "ProductMatch",
    "PurchaseCreate",
    "PurchaseRead",
    "PurchaseRequisition",
    "PurchaseReverse",
    "RequisitionLine",
    "Supplier",
    "TrytonCatalog",
    "TrytonClient",
    "TrytonSettings",
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
