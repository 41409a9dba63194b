"""Odoo ERP connector: JSON-RPC (≤ 18) or JSON-2 (19+) client, requisition → purchase order mapping, actions.

Owns: both transports of the Odoo external API (contract §6), reply interpretation, the supplier / item /
purchase order mapping and the idempotent actions ``odoo.party.ensure``, ``odoo.product.ensure``,
``odoo.purchase.create``, ``odoo.purchase.read``, ``odoo.purchase.reverse`` and ``odoo.changes.since``.
Does not own: XML-RPC, receipts, posting or paying bills, expenses (``hr.expense``), or inbound webhooks (Odoo
has none built in; poll with ``odoo.changes.since``).
"""

from huiliu.connectors.odoo.actions import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    ChangesSince,
    OdooCatalog,
    PartyEnsure,
    ProductEnsure,
    PurchaseCreate,
    PurchaseRead,
    PurchaseReverse,
    register_actions,
)
from huiliu.connectors.odoo.client import Domain, KeySource, OdooClient
from huiliu.connectors.odoo.errors import SYSTEM, bad_key, check_json2, check_jsonrpc, error_from_data
from huiliu.connectors.odoo.mapping import (
    Address,
    Item,
    PurchaseRequisition,
    RequisitionLine,
    Supplier,
    item_from_json,
    partner_values,
    product_values,
    purchase_values,
    requisition_from_json,
    supplier_from_json,
)
from huiliu.connectors.odoo.settings import OdooApi, OdooSettings, PartyMatch, ProductMatch

__all__ = [
    "CHANGES_SINCE",
    "PARTY_ENSURE",
    "PRODUCT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "SYSTEM",
    "Address",
    "ChangesSince",
    "Domain",
    "Item",
    "KeySource",
    "OdooApi",
    "OdooCatalog",
    "OdooClient",
    "OdooSettings",
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
    "bad_key",
    "check_json2",
    "check_jsonrpc",
    "error_from_data",
    "item_from_json",
    "partner_values",
    "product_values",
    "purchase_values",
    "register_actions",
    "requisition_from_json",
    "supplier_from_json",
]
