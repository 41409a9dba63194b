"""The DingTalk (钉钉) sandbox: the v1.0 workflow API and encrypted HTTP callbacks (contracts §1).

Owns: access tokens with expiry, approval instances (create, get, list, execute, terminate, comment), the
``bpms_instance_change`` / ``bpms_task_change`` events with their encrypted delivery and retries, fault
injection per request, and a few business helpers the demo uses (:meth:`DingTalkSandbox.start_claim`,
:meth:`~DingTalkSandbox.start_requisition`, :meth:`~DingTalkSandbox.start_payment`,
:meth:`~DingTalkSandbox.start_contract`,
:meth:`DingTalkSandbox.finish`). Does not own: the hub's side of any of this — the connector in
``huiliu.connectors.dingtalk`` is tested against this sandbox and must not be imported here.

Handlers do dictionary work only, so a benchmark can push hundreds of approvals a second through it.
Business methods and handlers must run on the loop that serves the app; from another thread use
``SandboxServer.run_coroutine``.
"""

from huiliu.sandbox.dingtalk.app import (
    CONTRACT_PROCESS_CODE,
    PAYMENT_PROCESS_CODE,
    THROTTLING_CODE,
    DingTalkSandbox,
)
from huiliu.sandbox.dingtalk.callbacks import DeliveryStats
from huiliu.sandbox.dingtalk.state import COMMENT_RECORD_TYPE, TASK_RESULT_AGREE, TASK_RESULT_REFUSE

__all__ = [
    "COMMENT_RECORD_TYPE",
    "CONTRACT_PROCESS_CODE",
    "PAYMENT_PROCESS_CODE",
    "TASK_RESULT_AGREE",
    "TASK_RESULT_REFUSE",
    "THROTTLING_CODE",
    "DeliveryStats",
    "DingTalkSandbox",
]
