"""Business documents: expense claims (报销单) and accounting vouchers (凭证)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from huiliu.errors import UnbalancedVoucher
from huiliu.i18n import t
from huiliu.model.money import Money

__all__ = ["Direction", "ExpenseClaim", "ExpenseLine", "Voucher", "VoucherLine"]


@dataclass(frozen=True, slots=True)
class ExpenseLine:
    """One line of an expense claim: a type of expense and its amount."""

    expense_type: str
    amount: Money
    description: str = ""
    cost_center: str | None = None


@dataclass(frozen=True, slots=True)
class ExpenseClaim:
    """An expense claim (报销单) by one employee."""

    claim_no: str
    employee_number: str
    department_number: str
    reason: str
    lines: tuple[ExpenseLine, ...]
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError(f"expense claim {self.claim_no} has no lines")
        for line in self.lines:
            if line.amount.currency != self.currency:
                raise ValueError(
                    f"expense claim {self.claim_no}: line {line.expense_type} is in {line.amount.currency}, "
                    f"the claim in {self.currency}"
                )

    @property
    def total(self) -> Money:
        """Sum of the lines."""
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.amount
        return total


class Direction(enum.StrEnum):
    """Debit (借) or credit (贷)."""

    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True, slots=True)
class VoucherLine:
    """One entry of a voucher.

    ``aux`` holds the auxiliary dimensions (辅助核算) by canonical name, e.g.
    ``{"department": "BM001", "employee": "E0001"}``; the ERP connector maps the names onto its own fields.
    """

    summary: str
    account: str
    direction: Direction
    amount: Money
    aux: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.amount.amount <= 0:
            raise ValueError(f"voucher line {self.account} ({self.summary}): amount must be positive")


@dataclass(frozen=True, slots=True)
class Voucher:
    """An accounting voucher (记账凭证). Constructing one that does not balance raises.

    ``reference`` is the hub-set reference the ERP stores, so that a retry finds the voucher instead of
    making a second one (DESIGN.md, invariant 3).
    """

    reference: str
    book: str
    date: date
    group: str
    currency: str
    lines: tuple[VoucherLine, ...]

    def __post_init__(self) -> None:
        if len(self.lines) < 2:
            raise UnbalancedVoucher(
                t(f"凭证 {self.reference} 少于两行分录", f"voucher {self.reference} has fewer than two lines"),
                fix=t("检查流程中的借方与贷方规则", "check the debit and credit rules of the flow"),
            )
        debit = self.total(Direction.DEBIT)
        credit = self.total(Direction.CREDIT)
        if debit != credit:
            raise UnbalancedVoucher(
                t(f"凭证 {self.reference} 借贷不平衡：借方 {debit}，贷方 {credit}",
                  f"voucher {self.reference} does not balance: debit {debit}, credit {credit}"),
                fix=t("检查流程的科目映射：每一行费用都应有对应的贷方",
                      "check the flow's account mapping: every expense line needs its credit side"),
            )

    def total(self, direction: Direction) -> Money:
        """Sum of the lines on one side."""
        total = Money.zero(self.currency)
        for line in self.lines:
            if line.direction is direction:
                total = total + line.amount
        return total
