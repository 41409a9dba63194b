"""Canonical business objects shared by every connector and flow.

Owns: the vendor-neutral shape of organisation data, approval instances and accounting documents, and
their invariants (money carries its currency, times are tz-aware, vouchers balance). Does not own:
persistence (``store``) or vendor formats (``connectors``).
"""

from huiliu.model.approval import ApprovalInstance, ApprovalStatus, ApprovalTask, Attachment
from huiliu.model.documents import Direction, ExpenseClaim, ExpenseLine, Voucher, VoucherLine
from huiliu.model.ids import GoldenId, InstanceId, SystemName
from huiliu.model.money import Money, parse_amount
from huiliu.model.org import CostCenter, Department, Employee, OrgUnit, OrgUser
from huiliu.model.time import Clock, SystemClock, aware, from_epoch_ms, utcnow

__all__ = [
    "ApprovalInstance",
    "ApprovalStatus",
    "ApprovalTask",
    "Attachment",
    "Clock",
    "CostCenter",
    "Department",
    "Direction",
    "Employee",
    "ExpenseClaim",
    "ExpenseLine",
    "GoldenId",
    "InstanceId",
    "Money",
    "OrgUnit",
    "OrgUser",
    "SystemClock",
    "SystemName",
    "Voucher",
    "VoucherLine",
    "aware",
    "from_epoch_ms",
    "parse_amount",
    "utcnow",
]
