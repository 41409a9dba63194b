"""The SAP sandbox's refusal: an OData error the handlers raise and :mod:`.app` renders, and number checks."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Refused", "decimal_of"]


class Refused(Exception):
    """A request the sandbox answers with an OData error body; never leaves this package."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def decimal_of(value: Any, what: str) -> Decimal:
    """``value`` as a finite ``Decimal``, or a 400 refusal naming ``what``."""
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Refused(400, "SY/530", f"{what} 的值 {value} 不是数字") from None
    if not result.is_finite():
        raise Refused(400, "SY/530", f"{what} 的值 {value} 不是数字")
    return result
