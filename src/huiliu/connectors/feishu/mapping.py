"""Feishu Approval v4 payloads ⇄ canonical forms and :class:`~huiliu.model.ApprovalInstance` (contracts §3.2).

Owns: the ``GET instances/:id`` ``data`` shape (validated by pydantic at this edge), the status table, the
``form`` JSON *string* in both directions (widgets → canonical form dict, canonical values → the string
``create`` takes) and the event type names. Does not own: fetching (``client.py``).

==========================================  ==================
Feishu instance ``status``                  canonical status
==========================================  ==================
PENDING, OVERTIME_RECOVER                   running
APPROVED                                    approved
APPROVED with ``reverted: true``, REVERTED  revoked
REJECTED                                    refused
CANCELED, DELETED, OVERTIME_CLOSE           revoked
==========================================  ==================

The canonical status set has no value of its own for DELETED (删除) and REVERTED (已通过后撤销); both are
read as ``revoked``, the nearest: the approval no longer stands.

Form values by widget type: ``input``/``textarea``/``radio``/``radioV2`` → ``str``; ``number`` →
``Decimal``; ``amount`` → :class:`~huiliu.model.Money` (never a float: the form string is parsed with
``Decimal`` numbers); ``date`` → tz-aware ``datetime``; ``dateInterval`` → ``{"start", "end"}``;
``contact``/``checkboxV2``/attachments → ``list[str]``; ``fieldList`` (明细) → ``list[dict]``, one dict per
row keyed like the form. Unknown widget types keep their JSON value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

from huiliu.connectors.feishu.settings import FormFieldSpec
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import (
    ApprovalInstance,
    ApprovalStatus,
    ApprovalTask,
    Attachment,
    InstanceId,
    Money,
    SystemName,
    parse_amount,
)

__all__ = ["EVENT_TYPES", "STATUSES", "event_type", "parse_form", "status_of", "to_form", "to_instance"]

EVENT_TYPES: Mapping[ApprovalStatus, str] = {
    ApprovalStatus.RUNNING: "feishu.approval.started",
    ApprovalStatus.APPROVED: "feishu.approval.approved",
    ApprovalStatus.REFUSED: "feishu.approval.refused",
    ApprovalStatus.REVOKED: "feishu.approval.revoked",
    ApprovalStatus.REVERTED: "feishu.approval.reverted",
}
"""Canonical status → event type (``<system>.<entity>.<past-verb>``)."""

STATUSES: Mapping[str, ApprovalStatus] = {
    "PENDING": ApprovalStatus.RUNNING,
    "OVERTIME_RECOVER": ApprovalStatus.RUNNING,
    "APPROVED": ApprovalStatus.APPROVED,
    "REJECTED": ApprovalStatus.REFUSED,
    "CANCELED": ApprovalStatus.REVOKED,
    "DELETED": ApprovalStatus.REVOKED,
    "REVERTED": ApprovalStatus.REVERTED,
    "OVERTIME_CLOSE": ApprovalStatus.REVOKED,
}
"""Feishu instance status (get and events, contracts §3.2) → canonical status."""

_SYSTEM = SystemName("feishu")
_TEXT_TYPES = frozenset({"input", "textarea", "radio", "radioV2"})
_LIST_TYPES = frozenset({"contact", "checkboxV2", "attachment", "attachmentV2", "image", "imageV2"})


def _fail(path: str, zh: str, en: str) -> MappingError:
    return MappingError(t(f"飞书审批数据无法解析：{zh}", f"bad Feishu approval data: {en}"), where=path,
                        fix=t("飞书返回的数据与契约（contracts §3.2）不符；请附上该实例的原始 JSON 报告问题",
                              "the data does not match contracts §3.2; report it with the raw JSON"))


def _bad_input(path: str, zh: str, en: str) -> MappingError:
    return MappingError(t(f"无法生成飞书审批表单：{zh}", f"cannot build the Feishu form: {en}"), where=path,
                        fix=t("按 form_layouts 中该控件的类型提供值",
                              "give a value of the widget's type in form_layouts"))


# ---------------------------------------------------------------------- reading the form


def _ms_time(value: str | int | None, path: str) -> datetime | None:
    """Unix milliseconds (int or string); ``None`` or ``0`` means not set."""
    if value is None or value in ("", 0, "0"):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    raise _fail(path, f"时间不是毫秒时间戳：{value!r}", f"time is not Unix ms: {value!r}")


def _date(value: Any, path: str, zone: tzinfo) -> datetime | None:
    """RFC 3339 (``2019-10-01T08:12:01+08:00``) or Unix ms; a value without offset is read in ``zone``."""
    if value is None or value == "":
        return None
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if isinstance(value, str):
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
    raise _fail(path, f"日期格式不对：{value!r}", f"bad date {value!r}")


def _strings(value: Any, path: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise _fail(path, f"应为字符串数组：{value!r}", f"expected a list of strings, got {value!r}")


def _value(widget: Mapping[str, Any], path: str, zone: tzinfo, currency: str) -> Any:
    kind, value = widget.get("type"), widget.get("value")
    if kind in _TEXT_TYPES:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        raise _fail(path, f"{kind} 的值应为字符串", f"{kind} value must be a string")
    if kind in ("number", "amount"):
        if value is None or value == "":
            return None
        try:
            number = parse_amount(value, path)
        except ValueError:
            raise _fail(path, f"{kind} 的值不是数字：{value!r}", f"{kind} value is not a number: {value!r}") from None
        if kind == "number":
            return number
        code = widget.get("currency")
        return Money(number, code if isinstance(code, str) and code else currency)
    if kind == "date":
        return _date(value, path, zone)
    if kind == "dateInterval":
        if not isinstance(value, Mapping):
            raise _fail(path, "dateInterval 的值应为对象", "dateInterval value must be an object")
        return {"start": _date(value.get("start"), f"{path}.start", zone),
                "end": _date(value.get("end"), f"{path}.end", zone)}
    if kind in _LIST_TYPES:
        return _strings(value, path)
    if kind == "fieldList":
        if value is None or value == "":
            return []
        if not isinstance(value, list):
            raise _fail(path, "fieldList 的值应为行数组", "fieldList value must be a list of rows")
        return [_widgets(row, f"{path}[{i}]", zone, currency) for i, row in enumerate(value)]
    return value


def _widgets(items: Any, path: str, zone: tzinfo, currency: str) -> dict[str, Any]:
    if not isinstance(items, list):
        raise _fail(path, "应为控件数组", "expected a list of widgets")
    form: dict[str, Any] = {}
    for index, widget in enumerate(items):
        here = f"{path}[{index}]"
        if not isinstance(widget, Mapping) or not isinstance(widget.get("type"), str):
            raise _fail(here, "控件缺少 type", "widget has no type")
        name = widget.get("name") or widget.get("id")
        if not isinstance(name, str) or not name:
            raise _fail(here, "控件缺少 name 与 id", "widget has neither name nor id")
        label, n = name, 2
        while label in form:  # a definition may repeat a label; keep every field
            label, n = f"{name}#{n}", n + 1
        form[label] = _value(widget, f"{here}.value", zone, currency)
    return form


def parse_form(form: str, *, timezone: str = "Asia/Shanghai", currency: str = "CNY",
               path: str = "data.form") -> dict[str, Any]:
    """Read a ``form`` JSON string into a canonical form dict keyed by widget name (else id).

    Args:
        form: the JSON string of widgets ``[{"id", "name"?, "type", "value"}, …]``.
        timezone: the zone for dates written without an offset.
        currency: the currency of amounts that name none.
        path: where the string came from, for errors.

    Raises:
        MappingError: not JSON, not a list of widgets, or a value of the wrong shape; ``where`` is the
            widget's path, e.g. ``data.form[3].value``.
    """
    try:
        items = json.loads(form, parse_float=Decimal)
    except (ValueError, TypeError):
        raise _fail(path, "form 不是 JSON 字符串", "form is not a JSON string") from None
    return _widgets(items, path, ZoneInfo(timezone), currency)


# ---------------------------------------------------------------------- writing the form


def _json(value: Any) -> str:
    """JSON text in which a ``Decimal`` is written as a number with all its digits (no float on the way)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite number")
        return format(value, "f")
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_json(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} into a form")


def _out_value(value: Any, spec: FormFieldSpec, path: str, zone: tzinfo, currency: str) -> Any:
    kind = spec.type
    if kind in _TEXT_TYPES:
        if isinstance(value, str):
            return value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        raise _bad_input(path, f"{kind} 需要文本", f"{kind} needs text")
    if kind in ("number", "amount"):
        if isinstance(value, Money):
            expected = spec.currency or currency
            if kind == "amount" and value.currency != expected:
                raise _bad_input(path, f"币种 {value.currency} 与控件的 {expected} 不同",
                                 f"currency {value.currency} differs from the widget's {expected}")
            return value.amount
        if isinstance(value, float):
            raise _bad_input(path, "金额不能是浮点数，请用 Decimal", "amounts must be Decimal, not float")
        try:
            number = parse_amount(value, path)
        except ValueError:
            raise _bad_input(path, f"不是数字：{value!r}", f"not a number: {value!r}") from None
        if kind == "number":
            return number
        money = Money(number, spec.currency or currency)
        if money.amount != number:
            raise _bad_input(path, f"金额 {number} 超出币种的最小单位", f"amount {number} is finer than the minor unit")
        return money.amount
    if kind == "date":
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise _bad_input(path, "日期需要带时区的 datetime", "a date needs a tz-aware datetime")
        return value.astimezone(zone).isoformat(timespec="seconds")
    if kind in _LIST_TYPES:
        if isinstance(value, str):
            return [value]
        if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            return list(value)
        raise _bad_input(path, f"{kind} 需要字符串数组", f"{kind} needs a list of strings")
    if kind == "fieldList":
        if spec.columns is None:
            raise _bad_input(path, "fieldList 控件未配置 columns", "the fieldList widget has no columns")
        if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(r, Mapping) for r in value):
            raise _bad_input(path, "明细需要行对象数组", "a fieldList needs a list of row objects")
        return [_out_widgets(row, spec.columns, f"{path}[{i}]", zone, currency) for i, row in enumerate(value)]
    raise _bad_input(path, f"不支持写入控件类型 {kind}", f"writing widget type {kind} is not supported")


def _out_widgets(values: Mapping[str, Any], layout: Mapping[str, FormFieldSpec], path: str, zone: tzinfo,
                 currency: str) -> list[dict[str, Any]]:
    widgets = []
    for label, value in values.items():
        spec = layout.get(label)
        if spec is None:
            known = "、".join(layout) or "(无)"
            raise _bad_input(f"{path}.{label}", f"字段「{label}」在表单布局中没有对应控件（已知：{known}）",
                             f"field {label!r} has no widget in the form layout (known: {', '.join(layout)})")
        if value is None:
            continue
        widgets.append({"id": spec.id, "type": spec.type,
                        "value": _out_value(value, spec, f"{path}.{label}", zone, currency)})
    return widgets


def to_form(values: Mapping[str, Any], layout: Mapping[str, FormFieldSpec], *, timezone: str = "Asia/Shanghai",
            currency: str = "CNY") -> str:
    """Write canonical form values as the ``form`` JSON string ``create`` takes.

    Args:
        values: canonical values by label (``Money``/``Decimal`` amounts, tz-aware dates, row dicts …).
        layout: label → widget (``FeishuSettings.form_layouts[approval_code]``).
        timezone: the zone dates are written in (RFC 3339 with its offset).
        currency: the currency of an amount widget that names none.

    Raises:
        MappingError: a label with no widget, or a value of the wrong type (a float amount included).
    """
    widgets = _out_widgets(values, layout, "form", ZoneInfo(timezone), currency)
    return _json(widgets)


# ---------------------------------------------------------------------- the instance


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _Task(_Vendor):
    id: str
    user_id: str | None = None
    open_id: str | None = None
    status: str


class _Data(_Vendor):
    approval_name: str = ""
    approval_code: str
    instance_code: str
    start_time: str | int
    end_time: str | int | None = None
    user_id: str | None = None
    open_id: str | None = None
    serial_number: str | None = None
    department_id: str | None = None
    status: str
    uuid: str | None = None
    form: str = "[]"
    task_list: list[_Task] = []
    reverted: bool = False


def status_of(status: str, *, reverted: bool = False) -> ApprovalStatus:
    """The canonical status of a Feishu instance status (see the table above).

    Raises:
        MappingError: an unknown status.
    """
    found = STATUSES.get(status.upper())
    if found is None:
        raise _fail("data.status", f"未知状态 {status!r}", f"unknown status {status!r}")
    if found is ApprovalStatus.APPROVED and reverted:
        return ApprovalStatus.REVERTED
    return found


def to_instance(data: Mapping[str, Any], *, timezone: str = "Asia/Shanghai",
                currency: str = "CNY") -> ApprovalInstance:
    """Turn the ``data`` of ``GET instances/:id`` into an :class:`ApprovalInstance`.

    ``process_code`` is the approval code, ``title`` the definition's name, ``business_id`` the serial
    number (审批编号), and the originator is ``user_id``, else ``open_id``.

    Raises:
        MappingError: a field is missing or has the wrong type; ``where`` is its path, e.g. ``data.status``
            or ``data.form[2].value``.
    """
    try:
        raw = _Data.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"]
        raise _fail(f"data.{field}", f"字段 {field}：{message}", f"field {field}: {message}") from exc
    created = _ms_time(raw.start_time, "data.start_time")
    if created is None:
        raise _fail("data.start_time", "缺少 start_time", "start_time is empty")
    originator = raw.user_id or raw.open_id
    if not originator:
        raise _fail("data.user_id", "缺少 user_id 与 open_id", "neither user_id nor open_id is set")
    return ApprovalInstance(
        system=_SYSTEM, instance_id=InstanceId(raw.instance_code), process_code=raw.approval_code,
        title=raw.approval_name, status=status_of(raw.status, reverted=raw.reverted),
        originator_user_id=originator, originator_dept_id=raw.department_id or None,
        business_id=raw.serial_number or None, created_at=created,
        finished_at=_ms_time(raw.end_time, "data.end_time"),
        form=parse_form(raw.form, timezone=timezone, currency=currency),
        attachments=_attachments(raw.form),
        tasks=tuple(ApprovalTask(task.id, task.user_id or task.open_id or "", task.status)
                    for task in raw.task_list))


def event_type(instance: ApprovalInstance) -> str:
    """``feishu.approval.started|approved|refused|revoked`` for the instance's status."""
    return EVENT_TYPES[instance.status]


def _attachments(form: str) -> tuple[Attachment, ...]:
    """Files of ``attachment``/``image`` widgets: their values are URLs (the form was parsed already)."""
    try:
        items = json.loads(form, parse_float=Decimal)
    except (ValueError, TypeError):
        return ()
    found: list[Attachment] = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping) or item.get("type") not in {"attachment", "attachmentV2", "image", "imageV2"}:
            continue
        label = str(item.get("name") or item.get("id") or "")
        values = item.get("value")
        for url in values if isinstance(values, list) else ():
            if isinstance(url, str) and url:
                found.append(Attachment(label, url.split("?", 1)[0].rsplit("/", 1)[-1] or url, url))
    return tuple(found)
