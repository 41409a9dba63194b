"""The WeCom (企业微信) sandbox: the 审批 API and encrypted XML callbacks (contracts §2).

Owns: access tokens with expiry and invalidation (40014 / 42001), templates, approvals (``applyevent``,
``getapprovalinfo`` with its 31-day span, 100-a-page and cursor rules, ``getapprovaldetail``,
``gettemplatedetail``), the ``sys_approval_change`` events with the ``echostr`` handshake and their
encrypted delivery and retries, fault injection per request (45009, -1, dropped connections, applied then
dropped), and business methods tests and the demo call (approve, reject, batch approve, revoke, comment).
Does not own: the hub's side of any of this — the connector in ``huiliu.connectors.wecom`` is tested
against this sandbox and must not be imported here.

Also the directory (通讯录: ``department/list``, ``user/list``, :mod:`.directory`), which the contract
does not document (its shape is unconfirmed). Not simulated: comment write-back by API. Handlers do
dictionary work only. Business methods and handlers must run on the loop that serves the app; from another
thread use ``SandboxServer.run_coroutine``.
"""

from huiliu.sandbox.wecom.app import CONTRACT_TEMPLATE_ID, PAYMENT_TEMPLATE_ID, PURCHASE_TEMPLATE_ID, WeComSandbox
from huiliu.sandbox.wecom.callbacks import DeliveryStats, SubscriptionFailed
from huiliu.sandbox.wecom.directory import OrgDirectory
from huiliu.sandbox.wecom.state import (
    BUSY_ERRCODE,
    EXPENSE_TEMPLATE_ID,
    INVALID_PARAMETER_ERRCODE,
    MAX_SPAN_SECONDS,
    REFERENCE_CONTROL_ID,
)

__all__ = [
    "BUSY_ERRCODE",
    "CONTRACT_TEMPLATE_ID",
    "EXPENSE_TEMPLATE_ID",
    "INVALID_PARAMETER_ERRCODE",
    "MAX_SPAN_SECONDS",
    "PAYMENT_TEMPLATE_ID",
    "PURCHASE_TEMPLATE_ID",
    "REFERENCE_CONTROL_ID",
    "DeliveryStats",
    "OrgDirectory",
    "SubscriptionFailed",
    "WeComSandbox",
]
