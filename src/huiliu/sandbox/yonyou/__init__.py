"""A local Yonyou 用友 tenant (YonBIP / YonSuite OpenAPI and U8 OpenAPI) for tests and the demo (contract §5).

Owns: the signed ``getAccessToken`` with its HmacSHA256 check, U8 ``system/token`` and ``system/tradeid``,
vendors, materials, purchase orders (开立 → 审核中 → 已审核, 弃审, 删除, 关闭), vouchers (``addVoucher``,
``queryVouchers``), payments (付款单: 开立 → 已审核, then 结算 by :meth:`YonyouSandbox.settle_payment`) and projects
(项目档案) with the checks the ERP makes, ``resubmitCheckKey`` and ``tradeid`` idempotency, and fault
injection. Does not own: data-centre discovery, event push, receipts or invoices (a downstream document is
recorded with :meth:`YonyouSandbox.receive`). The contract's confidence here is low: every simulated code
and wording that no source confirms is marked in :mod:`.app` and :mod:`.ledger`.
"""

from huiliu.sandbox.yonyou.app import EXPIRED_CODE, YonyouSandbox
from huiliu.sandbox.yonyou.ledger import Condition, Ledger, Refusal
from huiliu.sandbox.yonyou.payables import Payables

__all__ = ["EXPIRED_CODE", "Condition", "Ledger", "Payables", "Refusal", "YonyouSandbox"]
