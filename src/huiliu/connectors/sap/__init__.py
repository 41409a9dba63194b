"""SAP S/4HANA connector: OData client with the CSRF token flow, mapping and actions.

Owns: basic / bearer auth, the ``x-csrf-token`` fetch and one refetch on a CSRF refusal, OData V2 / V4 reply
unwrapping, reply interpretation, the business partner / product / purchase order / journal entry mapping and
the idempotent actions ``sap.party.ensure``, ``sap.product.ensure``, ``sap.purchase.create``,
``sap.purchase.read``, ``sap.purchase.reverse``, ``sap.voucher.create``, ``sap.changes.since``,
``sap.payment.create`` / ``sap.payment.read`` (outgoing payments posted as ``KZ`` journal entries) and
``sap.project.ensure`` / ``sap.project.actuals`` (enterprise projects, costs on their WBS element). Does not
own: the SOAP journal entry API (needs raw XML bodies from the HTTP client), OAuth token acquisition,
goods receipts or invoices.
"""

from huiliu.connectors.sap.actions import (
    CHANGES_SINCE,
    PARTY_ENSURE,
    PRODUCT_ENSURE,
    PURCHASE_CREATE,
    PURCHASE_READ,
    PURCHASE_REVERSE,
    STATES,
    VOUCHER_CREATE,
    SapActions,
    register_actions,
)
from huiliu.connectors.sap.client import SapClient, key_path, literal, parse_date
from huiliu.connectors.sap.errors import CSRF_CODE, SYSTEM, check_reply, odata_message
from huiliu.connectors.sap.finance import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    SapFinance,
)
from huiliu.connectors.sap.mapping import (
    journal_entry_values,
    odata_date,
    partner_values,
    payment_entry_values,
    payment_from_json,
    product_values,
    project_from_json,
    project_values,
    purchase_order_values,
    requisition_from_json,
    short_reference,
    voucher_from_json,
)
from huiliu.connectors.sap.settings import ODataVersion, PartyMatch, SapSettings

__all__ = [
    "CHANGES_SINCE",
    "CSRF_CODE",
    "PARTY_ENSURE",
    "PAYMENT_CREATE",
    "PAYMENT_READ",
    "PRODUCT_ENSURE",
    "PROJECT_ACTUALS",
    "PROJECT_ENSURE",
    "PURCHASE_CREATE",
    "PURCHASE_READ",
    "PURCHASE_REVERSE",
    "STATES",
    "SYSTEM",
    "VOUCHER_CREATE",
    "ODataVersion",
    "PartyMatch",
    "SapActions",
    "SapClient",
    "SapFinance",
    "SapSettings",
    "check_reply",
    "journal_entry_values",
    "key_path",
    "literal",
    "odata_date",
    "odata_message",
    "parse_date",
    "partner_values",
    "payment_entry_values",
    "payment_from_json",
    "product_values",
    "project_from_json",
    "project_values",
    "purchase_order_values",
    "register_actions",
    "requisition_from_json",
    "short_reference",
    "voucher_from_json",
]
