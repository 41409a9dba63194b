"""Odoo ERP connector: JSON-RPC (≤ 18) or JSON-2 (19+) client, requisition → purchase order mapping, actions.

Owns: both transports of the Odoo external API (contract §6), reply interpretation, the supplier / item /
purchase order mapping and the idempotent actions ``odoo.party.ensure``, ``odoo.product.ensure``,
``odoo.purchase.create``, ``odoo.purchase.read``, ``odoo.purchase.reverse``, ``odoo.changes.since``,
``odoo.payment.create`` / ``.read`` and ``odoo.voucher.create`` (:mod:`.accounting`), ``odoo.project.ensure`` /
``.actuals`` (:mod:`.project`, projects as analytic accounts). Does not own: XML-RPC, receipts, posting or
paying bills, reconciling payments with bills, expenses (``hr.expense``), or inbound webhooks (Odoo has none
built in; poll with ``odoo.changes.since``).
"""

from huiliu.connectors.odoo.accounting import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    VOUCHER_CREATE,
    OdooBooks,
    PaymentCreate,
    PaymentRead,
    VoucherCreate,
)
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
from huiliu.connectors.odoo.project import PROJECT_ACTUALS, PROJECT_ENSURE, ProjectActuals, ProjectEnsure
from huiliu.connectors.odoo.settings import OdooApi, OdooSettings, PartyMatch, ProductMatch

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
    "Address",
    "ChangesSince",
    "Domain",
    "Item",
    "KeySource",
    "OdooApi",
    "OdooBooks",
    "OdooCatalog",
    "OdooClient",
    "OdooSettings",
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
