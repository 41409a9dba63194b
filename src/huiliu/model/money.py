"""Money: a ``Decimal`` amount and its currency, never a float.

Amounts are kept at the currency's minor unit (fen for CNY). Arithmetic between two currencies is
refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["MINOR_UNITS", "Money", "parse_amount"]

MINOR_UNITS: dict[str, int] = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0}
"""Digits after the point per ISO 4217 currency; unknown currencies default to 2."""


def parse_amount(value: object, field: str = "amount") -> Decimal:
    """Parse an amount from a vendor value (``"12,800.00"``, ``"¥12800"``, ``12800``) without floats.

    Raises:
        ValueError: the value is not a finite number; the message names ``field`` and the value.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected an amount, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{field}: {value!r} is not an amount") from None
    else:
        raise ValueError(f"{field}: expected an amount, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite amount")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency, rounded half-up to the currency's minor unit."""

    amount: Decimal
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money.amount must be Decimal, got {type(self.amount).__name__}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code like 'CNY', got {self.currency!r}")
        digits = MINOR_UNITS.get(self.currency, 2)
        quantum = Decimal(1).scaleb(-digits)
        object.__setattr__(self, "amount", self.amount.quantize(quantum, rounding=ROUND_HALF_UP))

    @classmethod
    def of(cls, value: object, currency: str = "CNY", field: str = "amount") -> Money:
        """Build from any vendor value accepted by :func:`parse_amount`."""
        return cls(parse_amount(value, field), currency)

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        """Return zero in ``currency``."""
        return cls(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
