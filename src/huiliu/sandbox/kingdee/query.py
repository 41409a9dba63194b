"""Kingdee sandbox ExecuteBillQuery: ``FieldKeys`` checks, ``FilterString`` parsing and row building.

Owns: the subset of FilterString the sandbox understands (``Field='value'``, ``Field=number`` and
``Field in ('a','b')`` joined by ``and``), the header and entry fields a query may name (paths into
base data such as ``FDetailID.FFLEX5.FNumber``), and paging (``TopRowCount``, ``StartRow``, ``Limit``).
Does not own: the vouchers themselves (:mod:`.vouchers`) or the HTTP surface (:mod:`.app`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from huiliu.sandbox.kingdee.bills import BILL_FORMS
from huiliu.sandbox.kingdee.org import ORG_FORMS
from huiliu.sandbox.kingdee.vouchers import (
    VOUCHER_FORM,
    SandboxVoucher,
    _amount,
    _envelope,
    _key,
    _RejectedError,
    _status,
)

__all__ = ["BillQuery"]

_ENTRY_FIELDS = frozenset({"FENTRYID", "FEXPLANATION", "FACCOUNTID", "FDEBIT", "FCREDIT", "FDC", "FDETAILID"})
_HEADER_ALIASES = {"FVOUCHERID": "FVOUCHERID", "FID": "FVOUCHERID", "FBILLNO": "FBillNo",
                   "FDOCUMENTSTATUS": "FDocumentStatus"}
_CONDITION = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)\s*=\s*"
    r"(?:'(?P<text>(?:[^']|'')*)'|(?P<number>-?\d+(?:\.\d+)?))\s*"
)
_IN = re.compile(r"\s*(?P<field>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)\s+in\s*\(\s*"
                 r"(?P<values>'(?:[^']|'')*'(?:\s*,\s*'(?:[^']|'')*')*)\s*\)\s*", re.IGNORECASE)
_TEXT = re.compile(r"'((?:[^']|'')*)'")
_AND = re.compile(r"and\b", re.IGNORECASE)
_Want = str | Decimal | frozenset[str]
"""One condition's wanted value: a text, a number, or the texts of ``in (…)``."""


class BillQuery:
    """The query half of :class:`~huiliu.sandbox.kingdee.KingdeeSandbox`: ExecuteBillQuery over the vouchers.

    A mixin: the attributes below are set by ``KingdeeSandbox.__init__``.
    """

    reference_field: str
    _vouchers: dict[int, SandboxVoucher]
    _bill_rows: Callable[[str, list[str], list[tuple[str, Any]]], list[list[Any]]]
    _by_reference: dict[str, list[int]]
    _org_query: Callable[[str, Mapping[str, Any]], list[list[Any]]]

    # ----------------------------------------------------------------- ExecuteBillQuery

    def _query(self, data: Mapping[str, Any] | None) -> list[list[Any]]:
        try:
            if data is None:
                raise _RejectedError("data", "参数data不能为空", 8)
            form = str(_key(data, "FormId") or "")
            if form.upper() in ORG_FORMS:
                return self._org_query(form.upper(), data)
            if form.upper() in BILL_FORMS:
                keys = [k.strip() for k in str(_key(data, "FieldKeys") or "").split(",") if k.strip()]
                return self._bill_rows(form.upper(), keys, self._parse_filter(str(_key(data, "FilterString") or ""),
                                                                             check=False))
            if form.upper() != VOUCHER_FORM:
                raise _RejectedError("FormId", f"业务对象“{form}”不存在", 4)
            keys = [k.strip() for k in str(_key(data, "FieldKeys") or "").split(",") if k.strip()]
            if not keys:
                raise _RejectedError("FieldKeys", "参数FieldKeys不能为空", 8)
            for key in keys:
                self._check_field(key)
            conditions = self._parse_filter(str(_key(data, "FilterString") or ""))
            per_entry = any(k.split(".")[0].upper() in _ENTRY_FIELDS for k in keys)
            rows = [self._row(v, keys, entry) for v in self._candidates(conditions)
                    if all(self._matches(v, f, want) for f, want in conditions)
                    for entry in (self._entries(v) if per_entry else [{}])]
        except _RejectedError as exc:
            status = _status([{"FieldName": exc.field_name, "Message": exc.message, "DIndex": 0}], [],
                             exc.msg_code)
            return [[_envelope(status)]]
        top, start, limit = (int(_key(data, k) or 0) for k in ("TopRowCount", "StartRow", "Limit"))
        if top > 0:
            rows = rows[:top]  # TopRowCount is an absolute end row, not a page size (contract §4.3)
        end = start + limit if limit > 0 else None
        return rows[start:end]

    def _check_field(self, key: str) -> None:
        head = key.split(".", maxsplit=1)[0].upper()
        if head in _HEADER_ALIASES or head in _ENTRY_FIELDS or head == self.reference_field.upper():
            return
        if head in {"FDATE", "FACCOUNTBOOKID", "FACCBOOKORGID", "FVOUCHERGROUPID", "FCURRENCYID",
                    "FEXCHANGERATE", "FYEAR", "FPERIOD", "FVOUCHERGROUPNO", "FISADJUSTVOUCHER",
                    "FISREDWRITEOFF", "FSOURCEBILLKEY", "FHASATTACHMENTS"}:
            return
        raise _RejectedError("FieldKeys", f"字段“{key}”在业务对象GL_VOUCHER中不存在", 9)

    def _parse_filter(self, text: str, *, check: bool = True) -> list[tuple[str, _Want]]:
        """Parse ``Field='value' and Field2=12 and Field3 in ('a','b')``; anything richer is refused."""
        conditions: list[tuple[str, _Want]] = []
        position = 0
        if not text.strip():
            return conditions
        while True:
            match = _CONDITION.match(text, position)
            listed = _IN.match(text, position) if match is None else None
            if match is None and listed is None:
                raise _RejectedError("FilterString", f"过滤条件“{text}”无法解析（第{position + 1}个字符附近）"
                                     "，仅支持 字段='值'、字段=数字 或 字段 in ('值',…)，以 and 连接")
            found = match or listed
            assert found is not None
            if check:
                self._check_field(found["field"])
            if check and found["field"].split(".")[0].upper() in _ENTRY_FIELDS:
                raise _RejectedError("FilterString",
                                     f"过滤条件中的分录字段“{found['field']}”本模拟器不支持")
            value: _Want
            if listed is not None:
                value = frozenset(v.replace("''", "'") for v in _TEXT.findall(listed["values"]))
            elif found["text"] is not None:
                value = found["text"].replace("''", "'")
            else:
                value = Decimal(found["number"])
            conditions.append((found["field"], value))
            position = found.end()
            if position == len(text):
                return conditions
            joiner = _AND.match(text, position)
            if joiner is None:
                raise _RejectedError("FilterString", f"过滤条件“{text}”无法解析（第{position + 1}个字符附近）"
                                     "，仅支持 字段='值'、字段=数字 或 字段 in ('值',…)，以 and 连接")
            position = joiner.end()

    def _candidates(self, conditions: Iterable[tuple[str, _Want]]) -> list[SandboxVoucher]:
        for name, want in conditions:
            if name.upper() == self.reference_field.upper() and not isinstance(want, Decimal):
                wanted = sorted(want) if isinstance(want, frozenset) else [want]
                ids = sorted({i for w in wanted for i in self._by_reference.get(w, [])})
                return [self._vouchers[i] for i in ids]
        return list(self._vouchers.values())

    def _value(self, voucher: SandboxVoucher, key: str, entry: Mapping[str, Any]) -> Any:
        head, _, sub = key.partition(".")
        upper = head.upper()
        if upper in _HEADER_ALIASES:
            return {"FVOUCHERID": voucher.id, "FBillNo": voucher.number,
                    "FDocumentStatus": voucher.status}[_HEADER_ALIASES[upper]]
        value = _key(entry, head) if upper in _ENTRY_FIELDS else _key(voucher.model, head)
        # A path walks into base-data references: FDetailID.FFLEX5.FNumber; a bare reference is its FNumber.
        for part in sub.split(".") if sub else []:
            value = _key(value, part) if isinstance(value, Mapping) else None
        if isinstance(value, Mapping):
            return _key(value, "FNumber")
        return value

    def _matches(self, voucher: SandboxVoucher, key: str, want: _Want) -> bool:
        value = self._value(voucher, key, {})
        if isinstance(want, frozenset):
            return value is not None and str(value) in want
        if isinstance(want, Decimal):
            try:
                return _amount(value) == want
            except (InvalidOperation, ValueError):
                return False
        return value is not None and str(value) == want

    @staticmethod
    def _entries(voucher: SandboxVoucher) -> list[Mapping[str, Any]]:
        entries = _key(voucher.model, "FEntity")
        return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []

    def _row(self, voucher: SandboxVoucher, keys: list[str], entry: Mapping[str, Any]) -> list[Any]:
        return [self._value(voucher, key, entry) for key in keys]
