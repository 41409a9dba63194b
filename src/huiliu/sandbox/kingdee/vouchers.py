"""Kingdee sandbox vouchers: the ``GL_VOUCHER`` records, the checks Save makes, numbering, status moves.

Owns: :class:`SandboxVoucher`, the ``ResponseStatus`` / ``Result`` envelope builders and the rejection
error behind them, case-insensitive field access, Save and BatchSave (validation of header, entries and
auxiliary dimensions, closed periods, bill numbering per account book, 凭证字 and period, overwrite
while editable), Submit / Audit / UnAudit / Delete (with the refusals of a closed period and of a posted
voucher) and View. Does not own: sessions, routing and fault replies (:mod:`.app`) or ExecuteBillQuery
(:mod:`.query`).

Unconfirmed and simulated here (no public source shows them):

* the wording of the closed-period and posted-voucher refusals (they name the period, the number and
  the operation, as Kingdee's other refusals do);
* BatchSave saving each model on its own: the valid ones are saved, every refused one is reported in
  ``Errors`` with its ``DIndex`` (the position in ``Model``), the saved ones in ``SuccessEntitys``;
* a red-ink voucher (红字冲销, ``FISREDWRITEOFF`` true) may carry negative amounts; other vouchers may not.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["DEFAULT_BOOKS", "VOUCHER_FORM", "SandboxVoucher", "VoucherBook"]

VOUCHER_FORM = "GL_VOUCHER"
DEFAULT_BOOKS: dict[str, str] = {"001": "100"}
"""Account book (账簿) number → its accounting organisation (核算组织) number, in a fresh sandbox."""
_CURRENCIES = frozenset({"PRE001", "PRE002", "PRE003"})
_GROUPS: dict[str, str] = {"记": "记", "收": "收", "付": "付", "转": "转",
                           "PRE001": "记", "PRE002": "收", "PRE003": "付", "PRE004": "转"}
"""凭证字 accepted in ``FVOUCHERGROUPID.FNumber`` → the word used in the bill number. Tenants number
them either by the word itself or ``PRE00n``; both are accepted here."""

_OTHER_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "1001.01": (), "1002.01": (), "2202.01": (), "2211.01": ("department", "employee"),
    "1221.01": ("employee",),
}
_DIMENSION_NAMES = {"department": "部门", "employee": "员工"}
_FEN = Decimal("0.01")


@dataclass
class SandboxVoucher:
    """One voucher the sandbox holds. Mutable: its status moves with Submit / Audit / UnAudit.

    ``posted`` is 过账: set by :meth:`KingdeeSandbox.post`; a posted voucher cannot be unaudited.
    """

    id: int
    number: str
    status: str
    reference: str | None
    model: dict[str, Any]
    book: str = "001"
    period: str = "0000-00"
    posted: bool = False


@dataclass
class _Outcome:
    """Errors and successes of one write operation, in Kingdee's shape."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    successes: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, field_name: str | None, message: str, index: int = 0) -> None:
        self.errors.append({"FieldName": field_name, "Message": message, "DIndex": index})


class _RejectedError(Exception):
    """A request the sandbox answers with ``IsSuccess: false``; never leaves this package."""

    def __init__(self, field_name: str | None, message: str, msg_code: int = 0) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message
        self.msg_code = msg_code


def _status(errors: list[dict[str, Any]], successes: list[dict[str, Any]],
            msg_code: int = 0) -> dict[str, Any]:
    ok = not errors
    return {"ErrorCode": 0 if ok else 500, "IsSuccess": ok, "Errors": errors,
            "SuccessEntitys": successes, "SuccessMessages": [], "MsgCode": msg_code}


def _envelope(status: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Result": {"ResponseStatus": status, **extra}}


def _key(mapping: Mapping[str, Any], name: str) -> Any:
    """Field keys are case-insensitive in Kingdee (``FNumber`` and ``FNUMBER`` both occur)."""
    if name in mapping:
        return mapping[name]
    upper = name.upper()
    for key, value in mapping.items():
        if key.upper() == upper:
            return value
    return None


def _number_of(value: Any) -> str | None:
    """The ``FNumber`` of a base-data reference ``{"FNumber": …}``; bare strings are not references."""
    if isinstance(value, Mapping):
        found = _key(value, "FNumber")
        return None if found is None else str(found)
    return None


def _period_text(period: str) -> str:
    """``2026-11`` → ``2026年第11期``."""
    year, month = period.split("-")
    return f"{year}年第{int(month)}期"


def _amount(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise InvalidOperation
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    if not result.is_finite():
        raise InvalidOperation
    return result


class VoucherBook:
    """The voucher half of :class:`~huiliu.sandbox.kingdee.KingdeeSandbox`: Save and the state moves.

    A mixin: the attributes below are set by ``KingdeeSandbox.__init__``.
    """

    reference_field: str
    unique_reference: bool
    aux_fields: dict[str, str]
    chart: dict[str, tuple[str, ...]]
    books: dict[str, str]
    closed_through: dict[str, str]
    _departments: frozenset[str]
    _employees: frozenset[str]
    _vouchers: dict[int, SandboxVoucher]
    _by_reference: dict[str, list[int]]
    _by_number: dict[str, list[int]]
    _sequence: Counter[tuple[str, str, str]]
    _next_id: int

    # ----------------------------------------------------------------- Save and BatchSave

    def _save(self, data: Mapping[str, Any]) -> dict[str, Any]:
        model = _key(data, "Model")
        if not isinstance(model, dict):
            raise _RejectedError("Model", "参数Model不能为空", 8)
        outcome = _Outcome()
        entity = self._save_one(model, 0, outcome)
        if entity is None:
            return _envelope(_status(outcome.errors, []))
        return _envelope(_status([], [entity]), Id=entity["Id"], Number=entity["Number"], NeedReturnData=[{}])

    def _batch_save(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """BatchSave: ``Model`` is a list; each model is saved or refused on its own (``DIndex``)."""
        models = _key(data, "Model")
        if not isinstance(models, list) or not models:
            raise _RejectedError("Model", "参数Model不能为空", 8)
        outcome = _Outcome()
        for index, model in enumerate(models):
            if not isinstance(model, dict):
                outcome.fail("Model", f"第{index + 1}张单据格式不正确", index)
                continue
            entity = self._save_one(model, index, outcome)
            if entity is not None:
                outcome.successes.append(entity)
        return _envelope(_status(outcome.errors, outcome.successes), NeedReturnData=[{}])

    def _save_one(self, model: dict[str, Any], index: int, outcome: _Outcome) -> dict[str, Any] | None:
        """Check and store one model; the success entity, or ``None`` with the refusals in ``outcome``."""
        mine = _Outcome()
        book, period, group_word = self._check_header(model, mine)
        self._check_entries(model, mine)
        if not mine.errors:
            existing = _key(model, "FVOUCHERID")
            if existing not in (None, 0, "0", ""):
                try:
                    return self._update(model, existing, index, book, period)
                except _RejectedError as exc:
                    mine.fail(exc.field_name, exc.message)
            else:
                reference = _key(model, self.reference_field)
                if self.unique_reference and reference is not None and self._by_reference.get(str(reference)):
                    mine.fail(self.reference_field,
                              f"字段“{self.reference_field}”的值“{reference}”已存在，不允许重复")
                else:
                    return self._store(model, book, period, group_word, reference, index)
        for error in mine.errors:
            error["DIndex"] = index
        outcome.errors.extend(mine.errors)
        return None

    def _store(self, model: Mapping[str, Any], book: str, period: str, group_word: str, reference: Any,
               index: int) -> dict[str, Any]:
        voucher_id = self._next_id
        self._next_id += 1
        self._sequence[(book, group_word, period)] += 1
        number = f"{group_word}-{self._sequence[(book, group_word, period)]:04d}"
        stored = dict(model)
        year, month = period.split("-")
        stored.update({"FVOUCHERID": voucher_id, "FBillNo": number, "FDocumentStatus": "A",
                       "FYEAR": int(year), "FPERIOD": int(month)})
        voucher = SandboxVoucher(voucher_id, number, "A", None if reference is None else str(reference),
                                 stored, book, period)
        self._vouchers[voucher_id] = voucher
        self._by_number.setdefault(number, []).append(voucher_id)
        if voucher.reference is not None:
            self._by_reference.setdefault(voucher.reference, []).append(voucher_id)
        return {"Id": voucher_id, "Number": number, "DIndex": index}

    def _update(self, model: Mapping[str, Any], existing: Any, index: int, book: str,
                period: str) -> dict[str, Any]:
        """Save with an id overwrites the voucher, as the ERP does, while it is still editable."""
        voucher = self._vouchers.get(int(existing)) if str(existing).isdigit() else None
        if voucher is None:
            raise _RejectedError("FVOUCHERID", f"内码为“{existing}”的凭证不存在")
        if voucher.status not in ("A", "D"):
            raise _RejectedError("FDocumentStatus", f"凭证{voucher.number}已提交或已审核，不能修改")
        old_reference = voucher.reference
        voucher.book, voucher.period = book, period
        voucher.model = {**dict(model), "FVOUCHERID": voucher.id, "FBillNo": voucher.number,
                         "FDocumentStatus": voucher.status}
        reference = _key(model, self.reference_field)
        voucher.reference = None if reference is None else str(reference)
        if old_reference != voucher.reference:
            if old_reference is not None:
                self._by_reference[old_reference].remove(voucher.id)
            if voucher.reference is not None:
                self._by_reference.setdefault(voucher.reference, []).append(voucher.id)
        return {"Id": voucher.id, "Number": voucher.number, "DIndex": index}

    def _check_header(self, model: Mapping[str, Any], outcome: _Outcome) -> tuple[str, str, str]:
        """Check the header fields; return the book number, the period ``YYYY-MM`` and the 凭证字 word."""
        book = _number_of(_key(model, "FAccountBookID"))
        if book is None:
            outcome.fail("FAccountBookID", "字段“账簿”是必填项")
        elif book not in self.books:
            outcome.fail("FAccountBookID", f"账簿“{book}”不存在")
        org = _key(model, "FACCBOOKORGID")
        if org is not None:
            org_number = _number_of(org)
            if org_number not in self.books.values():
                outcome.fail("FACCBOOKORGID", f"核算组织“{org_number}”不存在")
            elif book in self.books and self.books[book] != org_number:
                outcome.fail("FACCBOOKORGID", f"账簿“{book}”不属于核算组织“{org_number}”")
        period = "0000-00"
        raw_date = _key(model, "FDate")
        if not raw_date:
            outcome.fail("FDate", "字段“日期”是必填项")
        else:
            try:
                day = date.fromisoformat(str(raw_date)[:10])
            except ValueError:
                outcome.fail("FDate", f"日期“{raw_date}”格式不正确")
            else:
                period = day.isoformat()[:7]
                if book is not None and self._closed(book, period):
                    # Unconfirmed wording: Kingdee refuses vouchers before the book's current period.
                    outcome.fail("FDate", f"凭证日期“{day.isoformat()}”所在的会计期间{_period_text(period)}"
                                 f"已结账，不能保存凭证（账簿“{book}”）")
        group = _number_of(_key(model, "FVOUCHERGROUPID"))
        word = _GROUPS.get(group or "")
        if group is None:
            outcome.fail("FVOUCHERGROUPID", "字段“凭证字”是必填项")
        elif word is None:
            outcome.fail("FVOUCHERGROUPID", f"凭证字“{group}”不存在")
        currency = _number_of(_key(model, "FCURRENCYID"))
        if currency is None:
            outcome.fail("FCURRENCYID", "字段“币别”是必填项")
        elif currency not in _CURRENCIES:
            outcome.fail("FCURRENCYID", f"币别“{currency}”不存在")
        return book or "", period, word or "记"

    def _closed(self, book: str, period: str) -> bool:
        """Whether ``period`` of ``book`` is closed (结账 closes every period up to the one named)."""
        through = self.closed_through.get(book)
        return through is not None and period <= through

    def _check_entries(self, model: Mapping[str, Any], outcome: _Outcome) -> None:
        entries = _key(model, "FEntity")
        if not isinstance(entries, list) or not entries:
            outcome.fail("FEntity", "凭证分录不能为空")
            return
        red = _key(model, "FISREDWRITEOFF") in (True, "true", "True", 1, "1")
        debit = credit = Decimal(0)
        for index, entry in enumerate(entries):
            row = index + 1
            if not isinstance(entry, dict):
                outcome.fail("FEntity", f"第{row}行分录格式不正确", index)
                continue
            account = _number_of(_key(entry, "FACCOUNTID"))
            if account is None:
                outcome.fail("FACCOUNTID", f"第{row}行分录：字段“科目编码”是必填项", index)
            elif account not in self.chart:
                outcome.fail("FACCOUNTID", f"第{row}行分录：科目“{account}”不存在", index)
            else:
                self._check_aux(account, entry, row, index, outcome)
            try:
                dr, cr = _amount(_key(entry, "FDEBIT")), _amount(_key(entry, "FCREDIT"))
            except (InvalidOperation, ValueError):
                outcome.fail("FDEBIT", f"第{row}行分录：金额格式不正确", index)
                continue
            if red and (dr == 0) == (cr == 0):
                outcome.fail("FDEBIT", f"第{row}行分录：红字凭证的借方金额和贷方金额必须且只能录入一个", index)
                continue
            if not red and (dr < 0 or cr < 0 or (dr > 0) == (cr > 0)):
                outcome.fail("FDEBIT", f"第{row}行分录：借方金额和贷方金额必须且只能录入一个正数", index)
                continue
            if dr != dr.quantize(_FEN) or cr != cr.quantize(_FEN):
                outcome.fail("FDEBIT" if dr else "FCREDIT", f"第{row}行分录：金额精度不能超过2位小数", index)
                continue
            debit += dr
            credit += cr
        if not outcome.errors and debit != credit:
            outcome.fail("FEntity", f"借贷不平衡：借方合计{debit:.2f}，贷方合计{credit:.2f}")

    def _check_aux(self, account: str, entry: Mapping[str, Any], row: int, index: int,
                   outcome: _Outcome) -> None:
        detail = _key(entry, "FDetailID")
        detail = detail if isinstance(detail, dict) else {}
        known: dict[str, frozenset[str]] = {"department": self._departments, "employee": self._employees}
        for dimension in self.chart[account]:
            flex = self.aux_fields.get(dimension)
            if flex is None:
                continue
            label = _DIMENSION_NAMES.get(dimension, dimension)
            value = _number_of(_key(detail, flex))
            if not value:
                outcome.fail("FDetailID",
                             f"第{row}行分录：科目“{account}”的核算维度“{label}”({flex})不能为空", index)
            elif value not in known.get(dimension, frozenset({value})):
                outcome.fail("FDetailID", f"第{row}行分录：核算维度“{label}”({flex})的值“{value}”不存在",
                             index)

    # ----------------------------------------------------------------- other write operations and View

    def _resolve(self, data: Mapping[str, Any], outcome: _Outcome) -> list[tuple[int, SandboxVoucher]]:
        """The vouchers named by ``Numbers`` or ``Ids`` (``"1,2"`` or a list), in request order."""
        found: list[tuple[int, SandboxVoucher]] = []
        numbers = _key(data, "Numbers") or []
        ids: Any = _key(data, "Ids") or []
        if isinstance(ids, str):
            ids = [part.strip() for part in ids.split(",") if part.strip()]
        if not numbers and not ids:
            outcome.fail("Numbers", "参数Numbers和Ids不能同时为空")
            return found
        for index, number in enumerate(numbers):
            matches = self._by_number.get(str(number), [])
            if len(matches) != 1:
                why = "不存在" if not matches else "不唯一，请按内码（Ids）操作"
                outcome.fail("Numbers", f"编号为“{number}”的凭证{why}", index)
            else:
                found.append((index, self._vouchers[matches[0]]))
        for index, raw in enumerate(ids, start=len(numbers)):
            voucher = self._vouchers.get(int(raw)) if str(raw).isdigit() else None
            if voucher is None:
                outcome.fail("Ids", f"内码为“{raw}”的凭证不存在", index)
            else:
                found.append((index, voucher))
        return found

    def _transition(self, operation: str, data: Mapping[str, Any]) -> _Outcome:
        outcome = _Outcome()
        rules: dict[str, tuple[tuple[str, ...], str | None, Callable[[SandboxVoucher], str]]] = {
            "submit": (("A", "D"), "B", lambda v: f"凭证{v.number}不是创建或重新审核状态，不能提交"),
            "audit": (("B",), "C", lambda v: (f"凭证{v.number}未提交，不能审核" if v.status in ("A", "D")
                                             else f"凭证{v.number}已经审核，不能重复审核")),
            "unaudit": (("C",), "D", lambda v: f"凭证{v.number}不是已审核状态，不能反审核"),
            "delete": (("A", "D"), None, lambda v: f"凭证{v.number}已提交或已审核，不能删除"),
        }
        allowed, target, refusal = rules[operation]
        verbs = {"unaudit": "反审核", "delete": "删除"}
        for index, voucher in self._resolve(data, outcome):
            if voucher.status not in allowed:
                outcome.fail("FDocumentStatus", refusal(voucher), index)
                continue
            if operation in verbs and self._closed(voucher.book, voucher.period):
                outcome.fail("FDate", f"凭证{voucher.number}所在的会计期间{_period_text(voucher.period)}已结账，"
                             f"不能{verbs[operation]}", index)
                continue
            if operation == "unaudit" and voucher.posted:
                outcome.fail("FDocumentStatus", f"凭证{voucher.number}已过账，不能反审核，请先反过账", index)
                continue
            if target is None:
                self._remove(voucher)
            else:
                voucher.status = target
                voucher.model["FDocumentStatus"] = target
            outcome.successes.append({"Id": voucher.id, "Number": voucher.number, "DIndex": index})
        return outcome

    def _remove(self, voucher: SandboxVoucher) -> None:
        del self._vouchers[voucher.id]
        self._by_number[voucher.number].remove(voucher.id)
        if voucher.reference is not None:
            self._by_reference[voucher.reference].remove(voucher.id)

    def _view(self, data: Mapping[str, Any]) -> dict[str, Any]:
        number, raw_id = _key(data, "Number"), _key(data, "Id")
        voucher: SandboxVoucher | None = None
        if raw_id not in (None, "", 0, "0"):
            voucher = self._vouchers.get(int(raw_id)) if str(raw_id).isdigit() else None
        elif number:
            matches = self._by_number.get(str(number), [])
            voucher = self._vouchers[matches[-1]] if matches else None
        else:
            raise _RejectedError("Number", "参数Number和Id不能同时为空", 8)
        if voucher is None:
            raise _RejectedError(None, f"单据“{number or raw_id}”不存在或已被删除")
        return _envelope(_status([], [{"Id": voucher.id, "Number": voucher.number, "DIndex": 0}]),
                         Result=json.loads(json.dumps(voucher.model, ensure_ascii=False)))
