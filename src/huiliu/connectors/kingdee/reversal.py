"""``kingdee.voucher.reverse``: undo a voucher posted for an approval that was revoked afterwards.

For WeCom 通过后撤销 and Feishu ``REVERTED``: the approval the voucher was posted for no longer holds.

* While Kingdee allows it, the voucher is removed: UnAudit (已审核 → 重新审核), then Delete. A voucher
  still 审核中 is audited first, since UnAudit only takes audited ones.
* When Kingdee refuses either step — the period is closed (结账), the voucher is posted (过账) or
  otherwise used — a reversing voucher (冲销凭证) is saved and audited instead: same book, accounts and
  auxiliary dimensions, amounts negated (红字, the default) or sides swapped, per
  ``settings.reversal_style``. It carries the original's reference plus ``settings.reversal_suffix``
  and names the original in its summaries and in ``settings.reversal_link_field``. If UnAudit passed
  and Delete was refused, the original is audited again first, so it is not left half-undone.

Idempotent under retries: every call first looks for the reversing voucher by its derived reference
and adopts it; a retry that finds neither the original nor a reversal knows an earlier attempt's
Delete went through (its reply was lost).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from huiliu.connectors.base import ActionContext
from huiliu.connectors.kingdee.client import KingdeeClient
from huiliu.connectors.kingdee.ledger import AUDITED, REAUDIT, SUBMITTED, Found, Ledger
from huiliu.connectors.kingdee.mapping import reversal_model, reversal_reference
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import MappingError, VendorRejected
from huiliu.i18n import t

__all__ = ["DELETED", "RED_REVERSAL", "VOUCHER_REVERSE", "VoucherReverse"]

VOUCHER_REVERSE = "kingdee.voucher.reverse"
DELETED = "deleted"
"""The original was unaudited and deleted."""
RED_REVERSAL = "red_reversal"
"""A reversing voucher (红冲) was posted; the original stays."""


class VoucherReverse:
    """The ``kingdee.voucher.reverse`` action.

    Request: ``{"reference": <the hub reference the original was created with, i.e. the create step's
    reference>, "date"?: "YYYY-MM-DD"}``; ``date`` is the reversing voucher's date, by default today (or
    the original's date, if later).

    Result: ``{"method": "deleted" | "red_reversal", "original": {"reference", "id", "number"},
    "reversal": null | {"reference", "id", "number", "status", "date"}, "reason", "adopted"}``.
    ``reason`` is Kingdee's refusal of UnAudit / Delete that made a reversing voucher necessary;
    ``adopted`` is true when an earlier attempt's work was found and used (``original`` then may have
    no id or number: it was deleted by that attempt).

    Args:
        client: the Kingdee client.
        settings: the connector settings (reversal style, suffix, link field, whether to audit).
        today: the date of a reversing voucher when the request names none.
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings, *,
                 today: Callable[[], date] | None = None) -> None:
        self.client = client
        self.settings = settings
        self.ledger = Ledger(client, settings)
        self.today = today or date.today

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Delete the voucher carrying the reference, or post its reversing voucher."""
        reference, on = self._parse(request)
        reversal_ref = reversal_reference(reference, self.settings)
        original = await self.ledger.find(reference)
        reversal = await self.ledger.find(reversal_ref)
        if reversal is not None:  # an earlier attempt (or an earlier revocation) already wrote it
            return await self._reversed(reference, original, reversal_ref, reversal, None, adopted=True)
        if original is None:
            if ctx.attempt > 1:
                return self._result(DELETED, reference, None, None, adopted=True)
            raise MappingError(
                t(f"金蝶中没有参考号为 {reference} 的凭证，无法冲销",
                  f"no Kingdee voucher carries reference {reference}; nothing to reverse"),
                where=f"{VOUCHER_REVERSE}.reference",
                fix=t("传入生成该凭证时（kingdee.voucher.create）所用的参考号",
                      "pass the reference the voucher was created with (kingdee.voucher.create)"))
        reason = await self._delete(original)
        if reason is None:
            return self._result(DELETED, reference, original, None, adopted=False)
        stored = await self.ledger.read(reference)
        if stored is None:  # deleted by someone between our lookups
            return self._result(DELETED, reference, original, reason, adopted=False)
        day = on or max(self.today(), stored.date)
        model = reversal_model(stored, reversal_ref, self.settings, on=day)
        saved, adopted = await self.ledger.save(model, reversal_ref, day)
        return await self._reversed(reference, original, reversal_ref, saved, reason, adopted=adopted, day=day)

    def _parse(self, request: Mapping[str, Any]) -> tuple[str, date | None]:
        reference = request.get("reference")
        if not isinstance(reference, str) or not reference:
            raise MappingError(t("请求缺少原凭证的参考号 reference", "the request has no reference of the original"),
                               where=f"{VOUCHER_REVERSE}.reference",
                               fix=t("流程应传入 {\"reference\": <生成凭证时的参考号>}",
                                     "the flow must pass {\"reference\": <the create step's reference>}"))
        raw = request.get("date")
        if raw is None:
            return reference, None
        try:
            return reference, date.fromisoformat(str(raw)[:10])
        except ValueError:
            raise MappingError(t(f"冲销日期格式不正确：{raw}", f"bad reversal date: {raw}"),
                               where=f"{VOUCHER_REVERSE}.date",
                               fix=t("日期格式为 YYYY-MM-DD", "use YYYY-MM-DD")) from None

    async def _delete(self, original: Found) -> str | None:
        """UnAudit and Delete; ``None`` when done, else Kingdee's refusal (the original is left audited)."""
        form = self.settings.voucher_form
        status = original.status
        if status == SUBMITTED:
            await self.client.audit(form, ids=[original.id])
            status = AUDITED
        if status == AUDITED:
            try:
                await self.client.unaudit(form, ids=[original.id])
            except VendorRejected as exc:
                return exc.vendor_message or exc.what.zh
            status = REAUDIT
        try:
            await self.client.delete(form, ids=[original.id])
        except VendorRejected as exc:
            if status == REAUDIT and self.settings.audit_vouchers:
                await self.ledger.audit(Found(original.id, original.number, REAUDIT))
            return exc.vendor_message or exc.what.zh
        return None

    async def _reversed(self, reference: str, original: Found | None, reversal_ref: str, reversal: Found,
                        reason: str | None, *, adopted: bool, day: date | None = None) -> dict[str, Any]:
        status = await self.ledger.audit(reversal) if self.settings.audit_vouchers else reversal.status
        result = self._result(RED_REVERSAL, reference, original, reason, adopted=adopted)
        result["reversal"] = {"reference": reversal_ref, "id": reversal.id, "number": reversal.number,
                              "status": status, "date": None if day is None else day.isoformat()}
        return result

    @staticmethod
    def _result(method: str, reference: str, original: Found | None, reason: str | None, *,
                adopted: bool) -> dict[str, Any]:
        return {"method": method,
                "original": {"reference": reference, "id": None if original is None else original.id,
                             "number": None if original is None else original.number},
                "reversal": None, "reason": reason, "adopted": adopted}
