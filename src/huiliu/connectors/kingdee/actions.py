"""Kingdee actions flows may call, each idempotent under retries (DESIGN.md, invariant 3).

``kingdee.voucher.create``: Save is not idempotent in K3Cloud and a lost reply followed by a blind
retry makes a second voucher (contract §4.3). So every attempt after the first looks the hub's
reference up with ExecuteBillQuery and adopts what it finds; only when nothing is found does it Save.
A Save that gets no answer at all (timeout, dropped connection) is :class:`AmbiguousOutcome`: the
retry waits ``ambiguous_wait`` before that lookup, since the server may still be saving. Where the
reference field is unique in the account set, a second Save is refused and the refusal adopts the
first voucher.
The voucher is then brought to 已审核: 创建 (A) → Submit → 审核中 (B) → Audit → 已审核 (C).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.kingdee.client import KingdeeClient, quote
from huiliu.connectors.kingdee.errors import SYSTEM
from huiliu.connectors.kingdee.mapping import voucher_model
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import t

__all__ = ["VOUCHER_CREATE", "VoucherCreate", "register_actions"]

VOUCHER_CREATE = "kingdee.voucher.create"

_CREATED, _SUBMITTED, _AUDITED, _REAUDIT = "A", "B", "C", "D"


class VoucherCreate:
    """The ``kingdee.voucher.create`` action.

    Request: ``{"voucher": <JSON form of huiliu.model.Voucher>}``. Result: ``{"id", "number", "status",
    "adopted"}``; ``adopted`` is true when a voucher saved by an earlier attempt was found and used.

    Args:
        client: the Kingdee client.
        settings: the connector settings (form, reference field, whether to audit).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings

    async def find(self, reference: str) -> tuple[int, str, str] | None:
        """The (id, number, status) of the voucher carrying ``reference``, or ``None``.

        If an earlier failure let two exist, the oldest (lowest id) is adopted so that retries settle
        on one voucher; the other must be removed by hand.
        """
        rows = await self.client.query(
            self.settings.voucher_form, "FVOUCHERID,FBillNo,FDocumentStatus",
            f"{self.settings.reference_field}={quote(reference)}")
        found = sorted((int(r[0]), str(r[1]), str(r[2])) for r in rows if len(r) >= 3 and r[0] is not None)
        return found[0] if found else None

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the voucher, then submit and audit it."""
        voucher = request.get("voucher")
        if not isinstance(voucher, Mapping):
            raise MappingError(t("请求缺少 voucher 对象", "the request has no voucher object"),
                               where=f"{VOUCHER_CREATE}.voucher",
                               fix=t("流程应传入 {\"voucher\": <凭证 JSON>}",
                                     "the flow must pass {\"voucher\": <voucher JSON>}"))
        # Map before touching Kingdee: a malformed or unbalanced voucher fails without any call.
        model = voucher_model(voucher, ctx.reference, self.settings)
        form = self.settings.voucher_form
        found = await self.find(ctx.reference) if ctx.attempt > 1 else None
        adopted = found is not None
        if found is None:
            found, adopted = await self._save(form, model, ctx.reference)
        voucher_id, number, status = found
        if self.settings.audit_vouchers:
            status = await self._audit(voucher_id, number, status)
        return {"id": voucher_id, "number": number, "status": status, "adopted": adopted}

    async def _save(self, form: str, model: dict[str, Any], reference: str) -> tuple[tuple[int, str, str], bool]:
        """Save; returns (id, number, status) and whether an existing voucher was adopted instead."""
        try:
            saved = await self.client.save(form, model)
        except NoReply as exc:  # a 5xx or a rate limit is an answer: nothing was saved
            raise AmbiguousOutcome(
                t("保存凭证未得到应答，可能已生成", "Save got no answer; the voucher may exist"),
                system=SYSTEM, operation="Save", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        except VendorRejected as exc:
            existing = await self._adopt_duplicate(exc, reference)
            if existing is None:
                raise
            return existing, True
        return (saved.id, saved.number, _CREATED), False

    async def _adopt_duplicate(self, exc: VendorRejected, reference: str) -> tuple[int, str, str] | None:
        """After a Save refused because the reference already exists (a unique field), the voucher."""
        field = self.settings.reference_field
        if field.lower() not in (exc.vendor_message or "").lower():
            return None
        return await self.find(reference)

    async def _audit(self, voucher_id: int, number: str, status: str) -> str:
        form = self.settings.voucher_form
        if status in (_CREATED, _REAUDIT):
            await self.client.submit(form, ids=[voucher_id])
            status = _SUBMITTED
        if status == _SUBMITTED:
            await self.client.audit(form, ids=[voucher_id])
            status = _AUDITED
        if status != _AUDITED:
            raise VendorRejected(
                t(f"凭证 {number} 处于状态 {status}，无法审核", f"voucher {number} is in status {status}, "
                  "cannot be audited"),
                system=SYSTEM, operation="Audit", vendor_code=status,
                fix=t("在金蝶中检查该凭证的状态", "check the voucher's status in Kingdee"))
        return status


def register_actions(registry: ActionRegistry, client: KingdeeClient, settings: KingdeeSettings) -> None:
    """Register the Kingdee actions: ``kingdee.voucher.create``."""
    registry.register(VOUCHER_CREATE, VoucherCreate(client, settings))
