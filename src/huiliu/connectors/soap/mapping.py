"""The hub's voucher as SAP's ``JournalEntryBulkCreateRequest``, its confirmation read back, dotted paths.

Field names are those of SAP's message (contract §8 names the operation; the element names are the public
message's): ``JournalEntry`` with ``CompanyCode``, ``AccountingDocumentType``, ``DocumentReferenceID`` (CHAR 16,
the hub's reference), ``DocumentHeaderText`` (CHAR 25), ``DocumentDate``, ``PostingDate`` and ``Item`` lines with
``GLAccount``, ``AmountInTransactionCurrency`` (``currencyCode`` attribute; debit positive, credit negative, as
SAP stores them, so an entry sums to zero), ``DebitCreditCode`` (``S`` Soll / ``H`` Haben), ``DocumentItemText``
(CHAR 50) and ``AccountAssignment`` (``CostCenter``, ``ProfitCenter``).

SAP confirms with HTTP 200 even when it refuses: ``AccountingDocument`` ``0000000000`` (or blank) and a ``Log``
whose ``MaximumLogItemSeverityCode`` is 3 or more; :func:`journal_entry_result` turns that into
:class:`VendorRejected` with SAP's notes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.connectors.soap.settings import JournalEntrySettings
from huiliu.errors import MappingError, VendorRejected
from huiliu.i18n import t
from huiliu.model import Direction, Voucher

__all__ = ["get_path", "journal_entry_request", "journal_entry_result", "set_path", "stored_reference"]

_FEN = Decimal("0.01")


def stored_reference(reference: str, length: int | None) -> str:
    """The hub's reference as it fits a field of ``length`` characters.

    Itself when short enough and ASCII, else ``H`` + the upper-case hex of its SHA-256 (``length`` in all): the
    same reference always gives the same value, so the lookup before a retry finds what the first try stored.
    It is the rule of the SAP OData connector's ``short_reference``, so both find the same entries.
    """
    if length is None or (len(reference) <= length and reference.isascii()):
        return reference
    return "H" + hashlib.sha256(reference.encode()).hexdigest()[: length - 1].upper()


def _step(key: str) -> str | int:
    return int(key) if key.isdigit() else key


def get_path(data: Any, path: str) -> Any:
    """``data`` followed along a dotted path (``a.0.b``); ``None`` when a step is missing. Empty path: ``data``."""
    for key in filter(None, path.split(".")):
        step = _step(key)
        if isinstance(step, int) and isinstance(data, list):
            data = data[step] if step < len(data) else None
        elif isinstance(data, Mapping):
            data = data.get(key)
        else:
            return None
    return data


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at a dotted path inside ``data`` (existing dicts and lists only).

    Raises:
        MappingError: a step of the path is missing or not a container.
    """
    *parents, last = path.split(".")
    target: Any = data
    for key in parents:
        step = _step(key)
        nxt = (target[step] if isinstance(step, int) and isinstance(target, list) and step < len(target)
               else target.get(key) if isinstance(target, dict) else None)
        if not isinstance(nxt, dict | list):
            raise MappingError(t(f"payload 中没有 {path} 的上级元素 {key}",
                                 f"the payload has no {key} on the way to {path}"),
                               where=f"payload.{path}", fix=t("检查设置 lookups.*.payload_path",
                                                              "check the lookups.*.payload_path setting"))
        target = nxt
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def journal_entry_request(voucher: Voucher, reference: str, settings: JournalEntrySettings,
                          now: datetime) -> dict[str, Any]:
    """The payload of ``JournalEntryCreateRequestConfirmation_In`` for one voucher.

    Args:
        voucher: a balanced voucher.
        reference: the reference as stored (:func:`stored_reference`), written to ``DocumentReferenceID`` and to
            both message headers' ``ID``.
        settings: company code, document type, user, auxiliary dimension fields.
        now: ``CreationDateTime`` of the message.
    """
    created = now.astimezone(UTC)
    items = []
    for index, line in enumerate(voucher.lines, start=1):
        debit = line.direction is Direction.DEBIT
        amount = line.amount.amount.quantize(_FEN, rounding=ROUND_HALF_UP)
        item: dict[str, Any] = {
            "ReferenceDocumentItem": str(index), "GLAccount": line.account,
            "AmountInTransactionCurrency": {"_value_1": amount if debit else -amount,
                                            "currencyCode": line.amount.currency},
            "DebitCreditCode": "S" if debit else "H", "DocumentItemText": line.summary[:50] or None,
        }
        assignment = {settings.aux_fields[name]: value for name, value in line.aux if name in settings.aux_fields}
        if assignment:
            item["AccountAssignment"] = assignment
        items.append(item)
    journal: dict[str, Any] = {
        "OriginalReferenceDocumentType": settings.original_reference_document_type,
        "BusinessTransactionType": settings.business_transaction_type,
        "AccountingDocumentType": settings.document_type,
        "DocumentReferenceID": reference,
        "DocumentHeaderText": f"{voucher.group} {voucher.reference}"[:25],
        "CreatedByUser": settings.created_by_user,
        "CompanyCode": settings.company_code,
        "DocumentDate": voucher.date, "PostingDate": voucher.date,
        "Item": items,
    }
    if settings.logical_system:
        journal["OriginalReferenceDocumentLogicalSystem"] = settings.logical_system
    return {"MessageHeader": {"ID": reference, "CreationDateTime": created},
            "JournalEntryCreateRequest": [{"MessageHeader": {"ID": reference, "CreationDateTime": created},
                                           "JournalEntry": journal}]}


def _notes(log: Any) -> list[str]:
    items = get_path(log, "Item") or []
    return [str(i.get("Note")) for i in items if isinstance(i, Mapping) and i.get("Note")
            and str(i.get("SeverityCode") or "0") >= "3"] or [
        str(i.get("Note")) for i in items if isinstance(i, Mapping) and i.get("Note")]


def journal_entry_result(reply: Any, *, system: str, operation: str) -> dict[str, str]:
    """``{"number", "company_code", "fiscal_year"}`` from a ``JournalEntryBulkCreateConfirmation``.

    Raises:
        VendorRejected: SAP refused the entry (``AccountingDocument`` blank or all zeros); its log notes are kept
            verbatim in ``vendor_message``.
    """
    confirmation = get_path(reply, "JournalEntryCreateConfirmation.0")
    key = get_path(confirmation, "JournalEntryCreateConfirmation") or {}
    number = str(key.get("AccountingDocument") or "").strip()
    if not number or set(number) == {"0"}:
        notes = _notes(get_path(confirmation, "Log")) + _notes(get_path(reply, "Log"))
        message = "；".join(notes)[:500] or "（无日志）"
        raise VendorRejected(t(f"{system} 拒绝过账：{message}", f"{system} refused to post: {message}"),
                             system=system, operation=operation,
                             vendor_code=str(get_path(confirmation, "Log.MaximumLogItemSeverityCode") or "3"),
                             vendor_message=message,
                             fix=t(f"按 {system} 日志修正凭证（科目、期间、金额）后重新发起",
                                   f"correct the voucher (accounts, period, amounts) as {system}'s log says and "
                                   "send again"))
    return {"number": number, "company_code": str(key.get("CompanyCode") or ""),
            "fiscal_year": str(key.get("FiscalYear") or "")}
