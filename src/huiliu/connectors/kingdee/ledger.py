"""The voucher steps the Kingdee actions share: look up by reference, save once, bring to 已审核.

Owns: :class:`Ledger`, which finds vouchers by the hub's reference (one or many per query), saves a
voucher without ever making a second one (a lost reply is :class:`AmbiguousOutcome`, a refused duplicate
is adopted, a closed period is named), reads a stored voucher back, and walks a voucher through
创建 (A) → Submit → 审核中 (B) → Audit → 已审核 (C). Does not own: the actions' request and result shapes
(:mod:`.actions`, :mod:`.reversal`, :mod:`.batch`) or building models (:mod:`.mapping`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from huiliu.connectors.kingdee.client import KingdeeClient, Service, quote
from huiliu.connectors.kingdee.errors import SYSTEM, closed_period_error
from huiliu.connectors.kingdee.mapping import StoredVoucher, stored_voucher, stored_voucher_fields
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import AmbiguousOutcome, NoReply, VendorRejected
from huiliu.i18n import t

__all__ = ["AUDITED", "CREATED", "REAUDIT", "SUBMITTED", "Found", "Ledger"]

CREATED, SUBMITTED, AUDITED, REAUDIT = "A", "B", "C", "D"
"""``FDocumentStatus``: 创建, 审核中, 已审核, 重新审核 (contract §4.3)."""

_IN_CHUNK = 50
"""References per ``in (…)`` filter: keeps the filter string short on any server."""


@dataclass(frozen=True, slots=True)
class Found:
    """A voucher found by its reference."""

    id: int
    number: str
    status: str


class Ledger:
    """Voucher operations over one client, shared by the actions.

    Args:
        client: the Kingdee client.
        settings: the connector settings (form, reference field, waits).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings

    async def find(self, reference: str) -> Found | None:
        """The voucher carrying ``reference``, or ``None``.

        If an earlier failure let two exist, the oldest (lowest id) is adopted so that retries settle
        on one voucher; the other must be removed by hand.
        """
        return (await self.find_many([reference])).get(reference)

    async def find_many(self, references: Iterable[str]) -> dict[str, Found]:
        """Reference → the oldest voucher carrying it, for those found; ``in (…)`` queries of 50."""
        wanted = sorted(set(references))
        found: dict[str, Found] = {}
        field = self.settings.reference_field
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start:start + _IN_CHUNK]
            condition = (f"{field}={quote(chunk[0])}" if len(chunk) == 1
                         else f"{field} in ({','.join(quote(r) for r in chunk)})")
            rows = await self.client.query(self.settings.voucher_form,
                                           f"FVOUCHERID,FBillNo,FDocumentStatus,{field}", condition)
            for row in sorted((r for r in rows if len(r) >= 4 and r[0] is not None), key=lambda r: int(r[0])):
                found.setdefault(str(row[3]), Found(int(row[0]), str(row[1]), str(row[2])))
        return found

    async def read(self, reference: str) -> StoredVoucher | None:
        """The voucher carrying ``reference`` with its entries (oldest if several), or ``None``."""
        rows = await self.client.query(self.settings.voucher_form, stored_voucher_fields(self.settings),
                                       f"{self.settings.reference_field}={quote(reference)}")
        return stored_voucher(rows, self.settings)

    async def save(self, model: Mapping[str, Any], reference: str, day: date) -> tuple[Found, bool]:
        """Save one voucher; returns it and whether an existing one was adopted instead.

        Raises:
            AmbiguousOutcome: no answer at all; the retry waits ``ambiguous_wait`` and looks up.
            VendorRejected: refused; a closed period is named with its fix (never retried).
        """
        try:
            saved = await self.client.save(self.settings.voucher_form, model)
        except NoReply as exc:  # a 5xx or a rate limit is an answer: nothing was saved
            raise AmbiguousOutcome(
                t("保存凭证未得到应答，可能已生成", "Save got no answer; the voucher may exist"),
                system=SYSTEM, operation="Save", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc
        except VendorRejected as exc:
            closed = closed_period_error(exc.vendor_message, day, "Save", exc.vendor_code)
            if closed is not None:
                raise closed from exc
            existing = await self.adopt_duplicate(exc.vendor_message, reference)
            if existing is None:
                raise
            return existing, True
        return Found(saved.id, saved.number, CREATED), False

    async def adopt_duplicate(self, vendor_message: str | None, reference: str) -> Found | None:
        """After a Save refused because the reference already exists (a unique field), the voucher."""
        if self.settings.reference_field.lower() not in (vendor_message or "").lower():
            return None
        return await self.find(reference)

    async def audit(self, found: Found) -> str:
        """Bring the voucher to 已审核 (C) from wherever it stands; returns the new status.

        Raises:
            VendorRejected: Kingdee refused a step, or the status is one that cannot be audited.
        """
        form = self.settings.voucher_form
        status = found.status
        if status in (CREATED, REAUDIT):
            await self.client.submit(form, ids=[found.id])
            status = SUBMITTED
        if status == SUBMITTED:
            await self.client.audit(form, ids=[found.id])
            status = AUDITED
        if status != AUDITED:
            raise VendorRejected(
                t(f"凭证 {found.number} 处于状态 {status}，无法审核", f"voucher {found.number} is in status "
                  f"{status}, cannot be audited"),
                system=SYSTEM, operation="Audit", vendor_code=status,
                fix=t("在金蝶中检查该凭证的状态", "check the voucher's status in Kingdee"))
        return status

    async def audit_many(self, vouchers: Iterable[Found]) -> dict[int, tuple[str, str | None]]:
        """Bring many vouchers to 已审核 with one Submit and one Audit call for all of them.

        Returns:
            Voucher id → (status reached, Kingdee's refusal or ``None``). A refused voucher keeps the
            status it had; the others are not held back by it.
        """
        status = {v.id: v.status for v in vouchers}
        errors: dict[int, str] = {}
        form = self.settings.voucher_form
        for service, before, after in ((Service.SUBMIT, (CREATED, REAUDIT), SUBMITTED),
                                       (Service.AUDIT, (SUBMITTED,), AUDITED)):
            ids = [i for i, s in status.items() if s in before and i not in errors]
            if not ids:
                continue
            outcome = await self.client.transition(service, form, ids)
            for position, voucher_id in enumerate(ids):
                refused = outcome.refused.get(position)
                if refused is None:
                    status[voucher_id] = after
                else:
                    errors[voucher_id] = refused[1]
        return {i: (s, errors.get(i)) for i, s in status.items()}
