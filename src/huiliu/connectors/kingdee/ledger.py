"""The bill steps the Kingdee actions share: look up by reference, save once, bring to 已审核.

Owns: :class:`Ledger`, which finds vouchers by the hub's reference (one or many per query), saves a
voucher without ever making a second one (a lost reply is :class:`AmbiguousOutcome`, a refused duplicate
is adopted, a closed period is named), reads a stored voucher back, and walks a voucher through
创建 (A) → Submit → 审核中 (B) → Audit → 已审核 (C); :class:`Bills`, the same steps for another form whose
bills carry the hub's reference (付款单, 采购合同); :func:`bring_to_audited`, the walk itself for any record.
Does not own: the actions' request and result shapes (:mod:`.actions`, :mod:`.reversal`, :mod:`.batch`,
:mod:`.payment`, :mod:`.contract`) or building models (:mod:`.mapping`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from huiliu.connectors.kingdee.client import KingdeeClient, Service, quote
from huiliu.connectors.kingdee.errors import SYSTEM, closed_period_error
from huiliu.connectors.kingdee.mapping import StoredVoucher, stored_voucher, stored_voucher_fields
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply, VendorRejected
from huiliu.i18n import Text, t

__all__ = ["AUDITED", "CREATED", "REAUDIT", "SUBMITTED", "Bills", "Found", "Ledger", "bring_to_audited"]

CREATED, SUBMITTED, AUDITED, REAUDIT = "A", "B", "C", "D"
"""``FDocumentStatus``: 创建, 审核中, 已审核, 重新审核 (contract §4.3)."""

_IN_CHUNK = 50
"""References per ``in (…)`` filter: keeps the filter string short on any server."""


async def bring_to_audited(client: KingdeeClient, form: str, record_id: int, status: str) -> str:
    """Walk one record of ``form`` from 创建 / 重新审核 (Submit) and 审核中 (Audit) to 已审核; the status reached.

    Any other status (already 已审核, or one that cannot be audited) is returned as it is, without a call.
    """
    if status in (CREATED, REAUDIT):
        await client.submit(form, ids=[record_id])
        status = SUBMITTED
    if status == SUBMITTED:
        await client.audit(form, ids=[record_id])
        status = AUDITED
    return status


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
        status = await bring_to_audited(self.client, self.settings.voucher_form, found.id, found.status)
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


class Bills:
    """The bills of one form that carry the hub's reference (付款单, 采购合同): find, save once, audit, read.

    Args:
        client: the Kingdee client.
        settings: the connector settings (reference field, waits).
        form: the form id.
        noun: what a bill of the form is called in messages (``付款单`` / ``payment bill``).
        read_action: the action reading these bills, named in its request errors.
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings, form: str, noun: Text,
                 read_action: str) -> None:
        self.client = client
        self.settings = settings
        self.form = form
        self.noun = noun
        self.read_action = read_action

    async def find(self, reference: str) -> int | None:
        """The bill carrying ``reference`` (the oldest, should an earlier failure have left two), or ``None``."""
        field = self.settings.reference_field
        rows = await self.client.query(self.form, f"FID,{field}", f"{field}={quote(reference)}")
        ids = sorted(int(r[0]) for r in rows if r and r[0] is not None)
        return ids[0] if ids else None

    async def save(self, model: Mapping[str, Any]) -> int:
        """Save one bill; its id.

        Raises:
            AmbiguousOutcome: no answer at all; the retry waits ``ambiguous_wait`` and looks up by reference.
            VendorRejected: refused, with Kingdee's own words.
        """
        try:
            return (await self.client.save(self.form, model)).id
        except NoReply as exc:
            raise AmbiguousOutcome(
                t(f"保存{self.noun.zh}未得到应答，可能已生成",
                  f"Save of the {self.noun.en} got no answer; it may exist"),
                system=SYSTEM, operation="Save", retry_after=self.settings.ambiguous_wait,
                fix=t("稍后按引用查找并沿用，不会重复生成", "it is looked up by reference later, never made twice"),
            ) from exc

    async def audit(self, bill_id: int, status: str) -> str:
        """Bring the bill to 已审核 from ``status``; see :func:`bring_to_audited`."""
        return await bring_to_audited(self.client, self.form, bill_id, status)

    def missing(self, bill_id: int) -> VendorRejected:
        """The error for a bill id Kingdee does not hold."""
        return VendorRejected(t(f"金蝶中找不到{self.noun.zh}（内码 {bill_id}）",
                                f"no {self.noun.en} {bill_id} in Kingdee"),
                              system=SYSTEM, operation="ExecuteBillQuery", vendor_code="not_found",
                              fix=t("检查流程传入的 id 或引用", "check the id or reference the flow passes"))

    async def read(self, request: Mapping[str, Any],
                   result: Callable[[int], Awaitable[Mapping[str, Any]]]) -> Mapping[str, Any]:
        """The ``result`` of the bill a read request names by ``{"id"}`` or ``{"reference"}``.

        Raises:
            MappingError: the request has neither.
            VendorRejected: no bill carries the reference.
        """
        raw_id, reference = request.get("id"), request.get("reference")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            return await result(raw_id)
        if isinstance(reference, str) and reference:
            found = await self.find(reference)
            if found is None:
                raise VendorRejected(t(f"金蝶中找不到引用为 {reference} 的{self.noun.zh}",
                                       f"no {self.noun.en} with reference {reference} in Kingdee"),
                                     system=SYSTEM, operation="ExecuteBillQuery", vendor_code="not_found")
            return await result(found)
        raise MappingError(t("请求需要 id 或 reference", "the request needs an id or a reference"),
                           where=f"{self.read_action}.id", fix=t("传入 id 或 reference", "pass id or reference"))
