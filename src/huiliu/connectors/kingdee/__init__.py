"""Kingdee 金蝶云星空 (K3Cloud) connector: session client, voucher mapping and actions.

Owns: the WebAPI transport in session mode (``ValidateUser``), reply interpretation, the
``GL_VOUCHER`` mapping and the idempotent ``kingdee.voucher.create`` action. Does not own: the signed
header login of the official SDK, other forms, or inbound events (K3Cloud has no webhooks; poll with
ExecuteBillQuery).
"""

from huiliu.connectors.kingdee.actions import VOUCHER_CREATE, VoucherCreate, register_actions
from huiliu.connectors.kingdee.client import KingdeeClient, SaveResult, Service, quote
from huiliu.connectors.kingdee.errors import check_login, check_result
from huiliu.connectors.kingdee.mapping import voucher_from_json, voucher_model
from huiliu.connectors.kingdee.settings import KingdeeSettings

__all__ = [
    "VOUCHER_CREATE",
    "KingdeeClient",
    "KingdeeSettings",
    "SaveResult",
    "Service",
    "VoucherCreate",
    "check_login",
    "check_result",
    "quote",
    "register_actions",
    "voucher_from_json",
    "voucher_model",
]
