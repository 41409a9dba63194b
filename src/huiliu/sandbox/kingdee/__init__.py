"""A local Kingdee 金蝶云星空 (K3Cloud) WebAPI for tests and the demo (contracts README §4).

Owns: session login (``ValidateUser`` and the ``kdservice-sessionid`` cookie), the ``GL_VOUCHER`` form
(Save with the checks the ERP makes, Submit / Audit / UnAudit / Delete, View, ExecuteBillQuery), the
``{"Result":{"ResponseStatus":…}}`` envelope, and fault injection; besides vouchers, 付款单, suppliers,
projects and 采购合同 (:mod:`.bills`), departments and employees with 禁用 (:mod:`.org`). Does not own: other forms, BOS
customisation, workflow (``WorkflowAudit``) or the signed-header login of the official SDK.

Simulated where the contract is unconfirmed, each said again at the place it matters:

* a wrong account-set id (数据中心) is answered with HTTP 404 (the contract only says "HTTP ≠ 200");
* rate limiting is a generic HTTP 429 with ``Retry-After`` (Kingdee's own throttling is unknown);
* the reference field (``F_HUILIU_REF`` by default) is a custom field customers add in BOS;
* which flex field (``FFLEX5`` …) holds which auxiliary dimension is set per account book.
"""

from huiliu.sandbox.kingdee.app import SESSION_COOKIE, SESSION_LOST_MESSAGE, KingdeeSandbox
from huiliu.sandbox.kingdee.vouchers import SandboxVoucher

__all__ = ["SESSION_COOKIE", "SESSION_LOST_MESSAGE", "KingdeeSandbox", "SandboxVoucher"]
