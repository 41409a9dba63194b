from datetime import date, datetime
from decimal import Decimal

import pytest

from huiliu.errors import UnbalancedVoucher
from huiliu.i18n import Lang
from huiliu.model import (
    Direction,
    ExpenseClaim,
    ExpenseLine,
    Money,
    Voucher,
    VoucherLine,
    aware,
    parse_amount,
)


def test_parse_amount_handles_vendor_formats_without_floats() -> None:
    assert parse_amount("12,800.00") == Decimal("12800.00")
    assert parse_amount("¥1，234.5") == Decimal("1234.5")
    assert parse_amount(0.1) == Decimal("0.1")  # via repr, not the binary float
    for bad in ("abc", "", "NaN", True, None, [1]):
        with pytest.raises(ValueError, match="amount"):
            parse_amount(bad)


def test_money_rounds_to_the_fen_and_refuses_mixed_currencies() -> None:
    assert Money(Decimal("1.005")).amount == Decimal("1.01")
    assert (Money.of("0.1") + Money.of("0.2")).amount == Decimal("0.30")
    with pytest.raises(ValueError, match="cannot combine"):
        Money.of(1, "CNY") + Money.of(1, "USD")
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(Decimal(1), "rmb")


def _line(direction: Direction, amount: str, account: str = "6602.03") -> VoucherLine:
    return VoucherLine("差旅费", account, direction, Money.of(amount))


def test_voucher_must_balance_to_the_fen() -> None:
    ok = Voucher("R1", "001", date(2026, 11, 25), "记", "CNY",
                 (_line(Direction.DEBIT, "100.10"), _line(Direction.DEBIT, "0.01"),
                  _line(Direction.CREDIT, "100.11", "2241.01")))
    assert ok.total(Direction.DEBIT) == ok.total(Direction.CREDIT) == Money.of("100.11")
    with pytest.raises(UnbalancedVoucher) as exc:
        Voucher("R2", "001", date(2026, 11, 25), "记", "CNY",
                (_line(Direction.DEBIT, "100.10"), _line(Direction.CREDIT, "100.11", "2241.01")))
    assert "借贷不平衡" in str(exc.value) and "100.10" in str(exc.value)
    assert "does not balance" in exc.value.render(Lang.EN)
    with pytest.raises(UnbalancedVoucher):
        Voucher("R3", "001", date(2026, 11, 25), "记", "CNY", (_line(Direction.DEBIT, "1"),))


def test_voucher_line_amount_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        _line(Direction.DEBIT, "0")


def test_claim_total_and_currency_check() -> None:
    claim = ExpenseClaim("BX1", "E1001", "BM01", "出差", (
        ExpenseLine("差旅费", Money.of("1.10")), ExpenseLine("交通费", Money.of("2.25"))))
    assert claim.total == Money.of("3.35")
    with pytest.raises(ValueError, match="USD"):
        ExpenseClaim("BX2", "E1001", "BM01", "出差", (ExpenseLine("差旅费", Money.of("1", "USD")),))
    with pytest.raises(ValueError, match="no lines"):
        ExpenseClaim("BX3", "E1001", "BM01", "出差", ())


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        aware(datetime(2026, 1, 1), "created_at")
