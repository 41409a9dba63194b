"""Kingdee 金蝶云星空 (K3Cloud) connector: session client, voucher mapping and actions.

Owns: the WebAPI transport in session mode (``ValidateUser``), reply interpretation, the
``GL_VOUCHER`` mapping (with routing to account books, merging approvals and reversing vouchers) and
the idempotent actions ``kingdee.voucher.create``, ``kingdee.voucher.reverse`` and
``kingdee.voucher.create_batch``; payments and projects (:mod:`.payment`); suppliers and purchase
contracts (``kingdee.party.ensure``, ``kingdee.contract.create`` / ``read``, :mod:`.contract`); departments
and employees from the hub's directory (``kingdee.org.sync``, :mod:`.org`). Does not own: the signed header
login of the official SDK, other forms, or inbound events (K3Cloud has no webhooks; poll with
ExecuteBillQuery).
"""

from huiliu.connectors.kingdee.actions import VOUCHER_CREATE, VoucherCreate, register_actions
from huiliu.connectors.kingdee.batch import VOUCHER_CREATE_BATCH, VoucherCreateBatch
from huiliu.connectors.kingdee.client import BatchOutcome, KingdeeClient, SaveResult, Service, quote
from huiliu.connectors.kingdee.contract import CONTRACT_CREATE, CONTRACT_READ, PARTY_ENSURE, KingdeeContracts
from huiliu.connectors.kingdee.errors import check_login, check_partial, check_result, closed_period_error
from huiliu.connectors.kingdee.ledger import Found, Ledger
from huiliu.connectors.kingdee.mapping import (
    VOUCHER_FIELDS,
    StoredEntry,
    StoredVoucher,
    batch_reference,
    by_department,
    merge_vouchers,
    merged_reference,
    reversal_model,
    reversal_reference,
    route_book,
    stored_voucher,
    voucher_department,
    voucher_from_json,
    voucher_model,
)
from huiliu.connectors.kingdee.org import ORG_SYNC, KingdeeOrg
from huiliu.connectors.kingdee.payment import (
    PAYMENT_CREATE,
    PAYMENT_READ,
    PROJECT_ACTUALS,
    PROJECT_ENSURE,
    KingdeePayments,
)
from huiliu.connectors.kingdee.reversal import DELETED, RED_REVERSAL, VOUCHER_REVERSE, VoucherReverse
from huiliu.connectors.kingdee.settings import BookRoute, KingdeeSettings, OrgSyncSettings, ReversalStyle
from huiliu.connectors.kingdee.voucher_read import VOUCHER_READ, VoucherRead

__all__ = [
    "CONTRACT_CREATE",
    "CONTRACT_READ",
    "DELETED",
    "ORG_SYNC",
    "PARTY_ENSURE",
    "PAYMENT_CREATE",
    "PAYMENT_READ",
    "PROJECT_ACTUALS",
    "PROJECT_ENSURE",
    "RED_REVERSAL",
    "VOUCHER_CREATE",
    "VOUCHER_CREATE_BATCH",
    "VOUCHER_FIELDS",
    "VOUCHER_READ",
    "VOUCHER_REVERSE",
    "BatchOutcome",
    "BookRoute",
    "Found",
    "KingdeeClient",
    "KingdeeContracts",
    "KingdeeOrg",
    "KingdeePayments",
    "KingdeeSettings",
    "Ledger",
    "OrgSyncSettings",
    "ReversalStyle",
    "SaveResult",
    "Service",
    "StoredEntry",
    "StoredVoucher",
    "VoucherCreate",
    "VoucherCreateBatch",
    "VoucherRead",
    "VoucherReverse",
    "batch_reference",
    "by_department",
    "check_login",
    "check_partial",
    "check_result",
    "closed_period_error",
    "merge_vouchers",
    "merged_reference",
    "quote",
    "register_actions",
    "reversal_model",
    "reversal_reference",
    "route_book",
    "stored_voucher",
    "voucher_department",
    "voucher_from_json",
    "voucher_model",
]
