"""``kingdee.voucher.read``: the vouchers that carry given hub references, with their totals, for 对账.

The nightly reconciliation asks which approvals have their voucher in Kingdee and whether its amount is
the approval's. Each reference is read with ExecuteBillQuery (the same read a reversal makes): a night's
few hundred claims are a few hundred small queries, well within Kingdee's limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.kingdee.client import KingdeeClient
from huiliu.connectors.kingdee.ledger import Ledger
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import MappingError
from huiliu.i18n import t

__all__ = ["MAX_REFERENCES", "VOUCHER_READ", "VoucherRead"]

VOUCHER_READ = "kingdee.voucher.read"
MAX_REFERENCES = 2000
"""References one request may ask for."""


class VoucherRead:
    """The ``kingdee.voucher.read`` action.

    Request: ``{"references": ["HL…", …]}``. Result: ``{"vouchers": {reference: {"id", "number",
    "status", "date", "currency", "debit", "credit"}}}`` for the references found (amounts as decimal
    strings, the totals of the entries); a reference not in Kingdee is absent.
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.ledger = Ledger(client, settings)

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Read every reference's voucher."""
        references = request.get("references")
        if not isinstance(references, list) or not all(isinstance(r, str) and r for r in references) or len(
                references) > MAX_REFERENCES:
            raise MappingError(
                t(f"references 应为非空参考号的列表（最多 {MAX_REFERENCES} 个）",
                  f"references must be a list of non-empty references (at most {MAX_REFERENCES})"),
                where=f"{VOUCHER_READ}.references",
                fix=t("传入生成凭证时所用的参考号列表；更多时分批", "pass the references the vouchers were created "
                      "with; split longer lists"))
        found: dict[str, Any] = {}
        for reference in dict.fromkeys(references):
            stored = await self.ledger.read(reference)
            if stored is None:
                continue
            found[reference] = {
                "id": stored.id, "number": stored.number, "status": stored.status, "date": stored.date.isoformat(),
                "currency": stored.currency, "debit": str(sum((e.debit for e in stored.entries), start=0)),
                "credit": str(sum((e.credit for e in stored.entries), start=0))}
        return {"vouchers": found}
