"""A dead letter explained for the people who fix it (finance, not only IT), in Chinese and English.

Owns: :class:`DeadLetterView` and its parts — the document (审批单: OA, number, title, applicant, amount),
the flow and the step or action that failed, the error with the ERP's own message verbatim, and, for an
``effect``, the mapped request as a flat list of labelled fields with the one the ERP named marked —,
and the flattening of a request into leaf paths (``voucher.lines[0].account``) that corrections use.
Does not own: reading the rows (:class:`huiliu.bus.DeadLetters`) or checking a correction
(:mod:`huiliu.bus.correction`).

Which request field an ERP's field name means is the connector's knowledge: a table per action
(``{"FACCOUNTID": "voucher.lines[{line}].account"}``, e.g. ``huiliu.connectors.kingdee.VOUCHER_FIELDS``)
handed in by whoever builds :class:`~huiliu.bus.DeadLetters`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from huiliu.i18n import Text, t

__all__ = [
    "DeadLetterView",
    "DocumentView",
    "FlowView",
    "NamedField",
    "Path",
    "RequestField",
    "VendorFields",
    "field_label",
    "key_label",
    "leaves",
    "path_text",
    "value_type",
]

Path = tuple[str | int, ...]
"""A leaf's place in a request: ``("voucher", "lines", 0, "account")``."""

VendorFields = Mapping[str, Mapping[str, str]]
"""Action → (the vendor's field name → request path, ``{line}`` standing for the entry index)."""

DECIMAL_KEYS = frozenset({"amount", "debit", "credit", "price", "unit_price", "quantity", "total", "tax"})
"""Keys whose text values are decimal amounts (money is a string in stored JSON, never a float)."""

READ_ONLY_KEYS = frozenset({"reference"})
"""Keys a correction may not change: a document's reference identifies it to the ERP and to people."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

_LABELS: dict[str, Text] = {
    "account": t("科目", "account"),
    "summary": t("摘要", "summary"),
    "direction": t("借贷方向", "debit or credit"),
    "amount": t("金额", "amount"),
    "date": t("日期", "date"),
    "currency": t("币别", "currency"),
    "book": t("账簿", "account book"),
    "org": t("核算组织", "accounting organisation"),
    "group": t("凭证字", "voucher word"),
    "reference": t("参考号", "reference"),
    "aux": t("辅助核算", "auxiliary dimensions"),
    "lines": t("分录", "entries"),
    "preparer": t("制单人", "preparer"),
    "supplier": t("供应商", "supplier"),
    "quantity": t("数量", "quantity"),
    "unit_price": t("单价", "unit price"),
    "department": t("部门", "department"),
    "employee": t("职员", "employee"),
    "project": t("项目", "project"),
    "name": t("名称", "name"),
    "code": t("编码", "code"),
}
"""Chinese and English names of canonical request keys (:mod:`huiliu.model`), as finance says them."""


@dataclass(frozen=True, slots=True)
class DocumentView:
    """The business document behind the dead letter, as the people who approved it know it.

    Attributes:
        source: the OA (``dingtalk``, ``wecom``, ``feishu``) or the system the event came from.
        business_key: the hub's key for it (the approval instance id).
        number: the OA's own number (审批单号), if any.
        title: the approval's title.
        applicant: the applicant's name (or OA user id when the name is unknown).
        applicant_id: the applicant's OA user id.
        amount: the total, a decimal string, if the form or the mapped voucher has one.
        currency: ISO 4217 code of ``amount``.
    """

    source: str | None
    business_key: str
    number: str | None = None
    title: str | None = None
    applicant: str | None = None
    applicant_id: str | None = None
    amount: str | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class FlowView:
    """Which flow, version and step (or action) the work belonged to."""

    id: str | None
    version: str | None
    run_id: str | None
    run_status: str | None
    step: str | None
    action: str | None


@dataclass(frozen=True, slots=True)
class RequestField:
    """One leaf of the mapped request the connector sends.

    Attributes:
        path: where it is, e.g. ``voucher.lines[0].account``; a correction names it so.
        value: its value as stored (amounts and dates are strings).
        type: ``text`` | ``decimal`` (a string, at most 2 decimals) | ``date`` (ISO) | ``datetime`` |
            ``number`` | ``boolean`` | ``null``.
        label: its name in both languages, where known.
        editable: whether a correction may change it (not the hub reference, not a dimension's name).
        named: the ERP named this field (or the entry / group it belongs to) in its refusal.
    """

    path: str
    value: Any
    type: str
    label: Text | None
    editable: bool
    named: bool


@dataclass(frozen=True, slots=True)
class NamedField:
    """The field the ERP named in its refusal, and where it is in the request (``None``: not known)."""

    vendor_field: str
    line: int | None
    path: str | None
    label: Text | None


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """A dead letter with what a finance user needs to understand and fix it.

    Attributes:
        status: ``open``, ``replayed`` or ``discarded``.
        summary: one sentence: which document, what the ERP (or the hub) said.
        next_steps: what to do about it.
        error: the structured error (:func:`huiliu.bus.diagnose`): ``kind``, ``what``, ``where``, ``fix``,
            and for a vendor's refusal ``system``, ``operation``, ``vendor_code``, ``vendor_message``
            (verbatim), ``field``, ``line``.
        named: the field the ERP named, mapped to the request, if it named one.
        fields: the request's leaves, for an ``effect`` (empty for a run).
        correctable: an open ``effect`` whose request can be corrected and re-pushed.
    """

    id: int
    topic: str
    key: str
    reason: str
    status: str
    created_at: datetime
    attempts: int
    replays: int
    note: str | None
    summary: Text
    next_steps: Text
    document: DocumentView
    flow: FlowView
    error: dict[str, Any]
    named: NamedField | None
    fields: tuple[RequestField, ...]
    correctable: bool


def leaves(value: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every leaf of a JSON value with its path; an empty mapping or list is no leaf."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, (*prefix, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*prefix, index))
    else:
        yield prefix, value


def path_text(path: Path) -> str:
    """``("voucher", "lines", 0, "account")`` → ``voucher.lines[0].account``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def value_type(path: Path, value: Any) -> str:
    """The kind of value a leaf holds, which a correction must keep (see :class:`RequestField`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    text = str(value)
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if key in DECIMAL_KEYS:
        try:
            Decimal(text)
        except InvalidOperation:
            return "text"
        return "decimal"
    if _DATE.match(text):
        return "date"
    if _DATETIME.match(text):
        return "datetime"
    return "text"


def editable(path: Path, value: Any) -> bool:
    """Whether a correction may change this leaf."""
    keys = [p for p in path if isinstance(p, str)]
    if value is None or (keys and keys[-1] in READ_ONLY_KEYS):
        return False
    return not (len(path) >= 2 and path[-1] == 0 and "aux" in keys)  # a dimension's name, not its value


def key_label(key: str) -> Text | None:
    """A request key's name as finance says it (``account`` → 科目), or ``None``."""
    return _LABELS.get(key)


def field_label(path: Path, request: Mapping[str, Any]) -> Text | None:
    """The field's name in both languages, e.g. 「第1行分录 借方金额」; ``None`` when the key is unknown."""
    keys = [p for p in path if isinstance(p, str)]
    if not keys:
        return None
    key = keys[-1]
    label = _LABELS.get(key)
    if "aux" in keys and isinstance(path[-1], int):  # ["department", "BM001"]: the value of one dimension
        pair = _at(request, path[:-1])
        name = str(pair[0]) if isinstance(pair, list) and pair else ""
        dimension = _LABELS.get(name, Text(name, name))
        label = t(f"辅助核算：{dimension.zh}", f"dimension {dimension.en}") if path[-1] == 1 else t(
            "辅助核算维度", "dimension name")
    elif key == "amount" and len(keys) >= 2 and keys[-2] == "amount":
        line = _at(request, path[:-2])
        direction = line.get("direction") if isinstance(line, Mapping) else None
        label = {"debit": t("借方金额", "debit amount"), "credit": t("贷方金额", "credit amount")}.get(
            str(direction), label)
    elif key == "currency" and len(keys) >= 2 and keys[-2] == "amount":
        label = t("金额币别", "amount currency")
    if label is None:
        return None
    if "lines" in path:
        at = path.index("lines") + 1
        if at < len(path) and isinstance(path[at], int):
            row = int(path[at]) + 1
            return t(f"第{row}行分录 {label.zh}", f"line {row} {label.en}")
    return label


def _at(value: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def request_fields(request: Mapping[str, Any], named_path: str | None) -> tuple[RequestField, ...]:
    """The request's leaves, labelled, with those under ``named_path`` marked."""
    out = []
    for path, value in leaves(request):
        text = path_text(path)
        named = named_path is not None and (text == named_path or text.startswith((f"{named_path}.",
                                                                                   f"{named_path}[")))
        out.append(RequestField(text, value, value_type(path, value), field_label(path, request),
                                editable(path, value), named))
    return tuple(out)


def parse_path(text: str) -> Path | None:
    """``voucher.lines[0].account`` → its :data:`Path`; ``None`` when it is not a well-formed path."""
    parts: list[str | int] = []
    for match in re.finditer(r"([^.\[\]]+)|\[(\d+)\]|(\.)", text):
        name, index, _dot = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
    return tuple(parts) if parts and path_text(tuple(parts)) == text else None


def named_field(vendor_fields: VendorFields, action: str | None, detail: Mapping[str, Any],
                request: Mapping[str, Any] | None) -> NamedField | None:
    """The field the ERP named (``detail["field"]``) and its request path through ``vendor_fields``."""
    vendor_field = detail.get("field")
    if not vendor_field:
        return None
    line = detail.get("line") if isinstance(detail.get("line"), int) else None
    template = vendor_fields.get(action or "", {}).get(str(vendor_field))
    path: str | None = None
    if template is not None and ("{line}" not in template or line is not None):
        path = template.replace("{line}", str(line))
    label = None
    if path is not None:
        parsed = parse_path(path)
        label = field_label(parsed, request or {}) if parsed else None
    return NamedField(str(vendor_field), line, path, label)
