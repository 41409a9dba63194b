"""The Feishu (飞书 / Lark) sandbox: Approval v4 and encrypted event pushes (contracts §3).

Owns: tenant tokens with expiry and invalidation, approval definitions, instances (create with ``uuid``
dedupe → 60012, get, list by time), the definition subscription gate, v1 ``approval_instance`` events with
their encrypted, signed delivery and retries, the ``url_verification`` handshake, the create limit and
fault injection per request, and business helpers (:meth:`FeishuSandbox.start_claim`,
:meth:`~FeishuSandbox.approve`, :meth:`~FeishuSandbox.reject`, :meth:`~FeishuSandbox.cancel`,
:meth:`~FeishuSandbox.revert`), and the directory (通讯录, contact v3 department children and users by
department, :mod:`.directory`; not in the contract, so its shape is unconfirmed). Does not own: the hub's
side — ``huiliu.connectors.feishu`` is tested against this sandbox and must not be imported here.

Handlers do dictionary work only. Business methods and handlers must run on the loop that serves the app;
from another thread use ``SandboxServer.run_coroutine``.
"""

from huiliu.sandbox.feishu.app import (
    CLAIM_APPROVAL_CODE,
    CLAIM_WIDGETS,
    CONTRACT_APPROVAL_CODE,
    CONTRACT_WIDGETS,
    INVALID_TOKEN_CODE,
    MISSING_TOKEN_CODE,
    PAYMENT_APPROVAL_CODE,
    PAYMENT_WIDGETS,
    PURCHASE_APPROVAL_CODE,
    PURCHASE_WIDGETS,
    RATE_LIMIT_CODE,
    FeishuSandbox,
)
from huiliu.sandbox.feishu.callbacks import DeliveryStats, seal
from huiliu.sandbox.feishu.directory import OrgDirectory
from huiliu.sandbox.feishu.state import BAD_PARAMS_CODE, BAD_SECRET_CODE, DUPLICATE_UUID_CODE, NOT_FOUND_CODE

__all__ = [
    "BAD_PARAMS_CODE",
    "BAD_SECRET_CODE",
    "CLAIM_APPROVAL_CODE",
    "CLAIM_WIDGETS",
    "CONTRACT_APPROVAL_CODE",
    "CONTRACT_WIDGETS",
    "DUPLICATE_UUID_CODE",
    "INVALID_TOKEN_CODE",
    "MISSING_TOKEN_CODE",
    "NOT_FOUND_CODE",
    "PAYMENT_APPROVAL_CODE",
    "PAYMENT_WIDGETS",
    "PURCHASE_APPROVAL_CODE",
    "PURCHASE_WIDGETS",
    "RATE_LIMIT_CODE",
    "DeliveryStats",
    "FeishuSandbox",
    "OrgDirectory",
    "seal",
]
