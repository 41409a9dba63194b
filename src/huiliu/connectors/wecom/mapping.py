"""WeCom approval payloads ⇄ canonical objects (contracts §2.2).

Owns: the ``getapprovaldetail.info`` shape (validated by pydantic at this edge), the status table, form
controls both ways (``apply_data.contents`` → a form keyed by control title, and a canonical document →
``applyevent`` contents), ``summary_list`` rows, and the event type names. Does not own: fetching
(``client.py``) nor callbacks (``webhook.py``).

==============================  ==================
WeCom ``sp_status``             canonical status
==============================  ==================
1 审批中                        running
2 已通过, 10 已支付             approved
3 已驳回                        refused
4 已撤销, 6 通过后撤销, 7 已删除  revoked
==============================  ==================

The canonical model has no "reverted after approval", "deleted" nor "paid" status: 6 and 7 map to the
nearest, ``revoked``, and 10 to ``approved``; the raw ``sp_status`` stays readable in :data:`SP_STATUS_NAMES`.

Control values (canonical side ↔ WeCom ``value``):

``Text``/``Textarea`` str ↔ ``text``; ``Number`` Decimal ↔ ``new_number``; ``Money`` Decimal (to the fen,
never float) ↔ ``new_money``; ``Date`` tz-aware datetime (Asia/Shanghai) ↔ ``date{type, s_timestamp}``
(a ``date`` is sent as ``day``); ``Selector`` option text (or key) / list of them ↔ ``selector{type,
options[{key}]}``; ``Contact`` ``{"members": [userid], "departments": [id]}`` ↔ ``members[{userid}]``,
``departments[{openapi_id}]``; ``File`` list of file_id ↔ ``files[{file_id}]``; ``RelatedApproval`` list
of sp_no ↔ ``related_approval[{sp_no}]``; ``Table`` list of row dicts ↔ ``children[{list[…]}]``. Other
controls (``Location``, ``Formula``, ``DateRange`` …) pass their ``value`` object through unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

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

__all__ = [
    "EVENT_TYPES",
    "SHANGHAI",
    "SP_STATUS",
    "SP_STATUS_NAMES",
    "Control",
    "event_type",
    "form_from_contents",
    "template_controls",
    "to_contents",
    "to_instance",
    "to_summary",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""WeCom's local time: ``Date`` controls are read in it, and a ``date`` is sent as its midnight."""

SP_STATUS: Mapping[int, ApprovalStatus] = {
    1: ApprovalStatus.RUNNING, 2: ApprovalStatus.APPROVED, 3: ApprovalStatus.REFUSED, 4: ApprovalStatus.REVOKED,
    6: ApprovalStatus.REVERTED, 7: ApprovalStatus.REVOKED, 10: ApprovalStatus.APPROVED,
}
"""Instance ``sp_status`` → canonical status (contracts §2.2 enums)."""

SP_STATUS_NAMES: Mapping[int, str] = {1: "审批中", 2: "已通过", 3: "已驳回", 4: "已撤销", 6: "通过后撤销",
                                      7: "已删除", 10: "已支付"}

_DETAIL_STATUS = {1: "running", 2: "agreed", 3: "refused", 4: "transferred"}
_DETAIL_RESULT = {2: "agree", 3: "refuse"}

EVENT_TYPES: Mapping[ApprovalStatus, str] = {
    ApprovalStatus.RUNNING: "wecom.approval.started",
    ApprovalStatus.APPROVED: "wecom.approval.approved",
    ApprovalStatus.REFUSED: "wecom.approval.refused",
    ApprovalStatus.REVOKED: "wecom.approval.revoked",
    ApprovalStatus.REVERTED: "wecom.approval.reverted",
}
"""Canonical status → event type (``<system>.<entity>.<past-verb>``)."""

_SYSTEM = SystemName("wecom")
_LANG = "zh_CN"  # WeCom wants zh_CN, not zh-CN (contracts §2.2)
_MAX_SUMMARY_ROWS = 3
_FEN = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Control:
    """One control of an approval template, as the reverse mapping needs it.

    Attributes:
        id: the control id, e.g. ``Money-1569573763174``.
        control: the control type: ``Text``, ``Textarea``, ``Number``, ``Money``, ``Date``, ``Selector``,
            ``Contact``, ``File``, ``Table``, ``RelatedApproval`` …
        title: the title users see (zh_CN); canonical documents key their fields by it (or by id).
        children: a ``Table``'s column controls.
        options: a ``Selector``'s ``(key, text)`` pairs, so a document may name options by their text.
        multi: a ``Selector`` that takes several options.
    """

    id: str
    control: str
    title: str
    children: tuple[Control, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    multi: bool = False


def _fail(path: str, zh: str, en: str) -> MappingError:
    return MappingError(t(f"企业微信审批数据无法解析：{zh}", f"bad WeCom approval data: {en}"), where=path,
                        fix=t("数据与契约（contracts §2.2）不符；请附上原始 JSON 报告问题",
                              "the data does not match contracts §2.2; report it with the raw JSON"))


def _bad_doc(path: str, zh: str, en: str) -> MappingError:
    return MappingError(t(f"单据字段无法写入企业微信审批：{zh}",
                          f"document field cannot go into a WeCom approval: {en}"), where=path,
                        fix=t("按模板控件类型提供字段值（见 mapping.py 模块说明）",
                              "give each field a value of its control's type (see mapping.py)"))


def _zh_text(texts: Any) -> str | None:
    """The zh_CN entry of a ``[{text, lang}]`` list, else the first one."""
    if isinstance(texts, str):
        return texts
    if not isinstance(texts, list):
        return None
    entries = [e for e in texts if isinstance(e, Mapping) and isinstance(e.get("text"), str)]
    for entry in entries:
        if entry.get("lang") == _LANG:
            return str(entry["text"])
    return str(entries[0]["text"]) if entries else None


# ------------------------------------------------------------------ template


def _control_of(prop: Any, config: Any, path: str) -> Control:
    if not isinstance(prop, Mapping) or not isinstance(prop.get("id"), str) or not isinstance(
            prop.get("control"), str):
        raise _fail(path, "控件缺少 property.id 或 property.control", "control lacks property.id or property.control")
    cfg = config if isinstance(config, Mapping) else {}
    children: list[Control] = []
    # Where a Table keeps its columns in gettemplatedetail (config.table.children[]) is unconfirmed.
    table = cfg.get("table")
    for i, child in enumerate(table.get("children", []) if isinstance(table, Mapping) else []):
        if isinstance(child, Mapping):
            children.append(_control_of(child.get("property"), child.get("config"), f"{path}.children.{i}"))
    options: list[tuple[str, str]] = []
    selector = cfg.get("selector")
    multi = False
    if isinstance(selector, Mapping):
        multi = selector.get("type") == "multi"
        for option in selector.get("options", []):
            if isinstance(option, Mapping) and isinstance(option.get("key"), str):
                options.append((option["key"], _zh_text(option.get("value")) or option["key"]))
    return Control(prop["id"], prop["control"], _zh_text(prop.get("title")) or prop["id"], tuple(children),
                   tuple(options), multi)


def template_controls(template: Mapping[str, Any]) -> tuple[Control, ...]:
    """The controls of a ``gettemplatedetail`` reply (``template_content.controls[]{property, config}``)."""
    content = template.get("template_content")
    controls = content.get("controls") if isinstance(content, Mapping) else None
    if not isinstance(controls, list):
        raise _fail("template_content.controls", "模板缺少 controls", "template has no controls")
    return tuple(_control_of(c.get("property") if isinstance(c, Mapping) else None,
                             c.get("config") if isinstance(c, Mapping) else None,
                             f"template_content.controls.{i}") for i, c in enumerate(controls))


# ------------------------------------------------------------------ WeCom → canonical


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, float):
        raise _fail(path, "金额/数字不应是浮点数", "amounts and numbers must not be floats")
    try:
        return parse_amount(value, path)
    except ValueError:
        raise _fail(path, f"不是数字：{value!r}", f"not a number: {value!r}") from None


def _read_date(value: Mapping[str, Any], path: str) -> dt.datetime | None:
    date = value.get("date")
    if not isinstance(date, Mapping):
        raise _fail(path, "Date 控件缺少 date", "Date control has no date")
    stamp = date.get("s_timestamp")
    if stamp in (None, "", "0", 0):
        return None
    if not str(stamp).isdigit():
        raise _fail(f"{path}.date.s_timestamp", f"不是秒级时间戳：{stamp!r}", f"not epoch seconds: {stamp!r}")
    return dt.datetime.fromtimestamp(int(stamp), tz=SHANGHAI)


def _read_selector(value: Mapping[str, Any], path: str) -> str | list[str] | None:
    selector = value.get("selector")
    if not isinstance(selector, Mapping):
        raise _fail(path, "Selector 控件缺少 selector", "Selector control has no selector")
    picked: list[str] = []
    for option in selector.get("options") or []:
        if isinstance(option, Mapping) and option.get("key") is not None:
            picked.append(_zh_text(option.get("value")) or str(option["key"]))
    if selector.get("type") == "multi":
        return picked
    return picked[0] if picked else None


def _ids(items: Any, field: str) -> list[str]:
    return [str(item[field]) for item in items or [] if isinstance(item, Mapping) and item.get(field) is not None]


def _read_value(control: str, value: Mapping[str, Any], path: str) -> Any:
    if control in ("Text", "Textarea"):
        return str(value.get("text") or "")
    if control == "Number":
        number = value.get("new_number")
        return None if number in (None, "") else _decimal(number, f"{path}.new_number")
    if control == "Money":
        money = value.get("new_money")
        return None if money in (None, "") else _decimal(money, f"{path}.new_money")
    if control == "Date":
        return _read_date(value, path)
    if control == "Selector":
        return _read_selector(value, path)
    if control == "Contact":
        return {"members": _ids(value.get("members"), "userid"),
                "departments": _ids(value.get("departments"), "openapi_id")}
    if control == "File":
        return _ids(value.get("files"), "file_id")
    if control == "RelatedApproval":
        return _ids(value.get("related_approval"), "sp_no")
    if control == "Table":
        rows = value.get("children") or []
        if not isinstance(rows, list):
            raise _fail(f"{path}.children", "Table 的 children 不是数组", "Table children is not a list")
        return [form_from_contents(row.get("list") if isinstance(row, Mapping) else None,
                                   f"{path}.children.{i}.list") for i, row in enumerate(rows)]
    return dict(value)


def form_from_contents(contents: Any, path: str = "apply_data.contents") -> dict[str, Any]:
    """``apply_data.contents`` → a canonical form keyed by control title (its id when untitled).

    A repeated title keeps every field: the second is ``<title>#2``.

    Raises:
        MappingError: a control is malformed; ``where`` is its path, e.g. ``apply_data.contents.2.value``.
    """
    if contents is None:
        return {}
    if not isinstance(contents, list):
        raise _fail(path, "contents 不是数组", "contents is not a list")
    form: dict[str, Any] = {}
    for index, item in enumerate(contents):
        here = f"{path}.{index}"
        if not isinstance(item, Mapping) or not isinstance(item.get("control"), str):
            raise _fail(here, "控件缺少 control", "control item lacks control")
        value = item.get("value")
        if not isinstance(value, Mapping):
            raise _fail(f"{here}.value", "控件缺少 value 对象", "control item has no value object")
        title = _zh_text(item.get("title")) or str(item.get("id") or f"#{index}")
        label, n = title, 2
        while label in form:
            label, n = f"{title}#{n}", n + 1
        form[label] = _read_value(item["control"], value, f"{here}.value")
    return form


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _User(_Vendor):
    userid: str = ""
    partyid: str | None = None


class _Detail(_Vendor):
    approver: _User = _User()
    speech: str = ""
    sp_status: int
    sptime: int = 0


class _Node(_Vendor):
    sp_status: int
    approverattr: int = 1
    details: list[_Detail] = []


class _ApplyData(_Vendor):
    contents: list[dict[str, Any]] = []


class _Info(_Vendor):
    sp_no: str
    sp_name: str = ""
    sp_status: int
    template_id: str = ""
    apply_time: int
    applyer: _User
    sp_record: list[_Node] = []
    apply_data: _ApplyData = _ApplyData()


def _reference(contents: list[dict[str, Any]], control_id: str | None) -> str | None:
    if control_id is None:
        return None
    for item in contents:
        if item.get("id") == control_id and isinstance(item.get("value"), Mapping):
            text = item["value"].get("text")
            return str(text) if text else None
    return None


def to_instance(info: Mapping[str, Any], *, reference_control_id: str | None = None) -> ApprovalInstance:
    """Turn ``getapprovaldetail``'s ``info`` into an :class:`ApprovalInstance`.

    Args:
        info: the ``info`` object, as :meth:`WeComClient.get_detail` returns it.
        reference_control_id: the Text control carrying the hub's reference; its text becomes
            ``business_id`` (``None`` when absent).

    Raises:
        MappingError: a field is missing or has the wrong type, or ``sp_status`` is unknown; ``where`` is
            the field's path, e.g. ``info.sp_record.0.details.1.sp_status``.
    """
    path = "info"
    try:
        raw = _Info.model_validate(info)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"]
        raise _fail(f"{path}.{field}", f"字段 {field}：{message}", f"field {field}: {message}") from exc
    status = SP_STATUS.get(raw.sp_status)
    if status is None:
        raise _fail(f"{path}.sp_status", f"未知审批状态 {raw.sp_status}", f"unknown sp_status {raw.sp_status}")
    tasks: list[ApprovalTask] = []
    last_action = 0
    for n, node in enumerate(raw.sp_record):
        for i, detail in enumerate(node.details):
            tasks.append(ApprovalTask(f"{n}.{i}", detail.approver.userid,
                                      _DETAIL_STATUS.get(detail.sp_status, str(detail.sp_status)),
                                      _DETAIL_RESULT.get(detail.sp_status)))
            last_action = max(last_action, detail.sptime)
    finished = None
    if status is not ApprovalStatus.RUNNING and last_action > 0:
        finished = dt.datetime.fromtimestamp(last_action, tz=SHANGHAI)
    return ApprovalInstance(
        system=_SYSTEM, instance_id=InstanceId(raw.sp_no), process_code=raw.template_id, title=raw.sp_name,
        status=status, originator_user_id=raw.applyer.userid, originator_dept_id=raw.applyer.partyid or None,
        business_id=_reference(raw.apply_data.contents, reference_control_id),
        created_at=dt.datetime.fromtimestamp(raw.apply_time, tz=SHANGHAI), finished_at=finished,
        form=form_from_contents(raw.apply_data.contents, f"{path}.apply_data.contents"), tasks=tuple(tasks),
        attachments=_attachments(raw.apply_data.contents))


def _attachments(contents: Any) -> tuple[Attachment, ...]:
    """Files of ``File`` controls: WeCom gives media ids only (no names); the media API serves them."""
    found: list[Attachment] = []
    for item in contents if isinstance(contents, list) else ():
        if not isinstance(item, Mapping) or item.get("control") != "File" or not isinstance(item.get("value"), Mapping):
            continue
        title = _zh_text(item.get("title")) or str(item.get("id") or "")
        for file in item["value"].get("files") or ():
            if isinstance(file, Mapping) and file.get("file_id"):
                found.append(Attachment(title, str(file["file_id"]), f"wecom:media/{file['file_id']}"))
    return tuple(found)


def event_type(instance: ApprovalInstance) -> str:
    """``wecom.approval.started|approved|refused|revoked`` for the instance's status."""
    return EVENT_TYPES[instance.status]


# ------------------------------------------------------------------ canonical → WeCom


def _write_decimal(value: Any, path: str, *, money: bool) -> str:
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise _bad_doc(path, "须为 Decimal、整数或数字字符串（不接受浮点数）",
                       "must be a Decimal, an int or a numeric string (never a float)")
    try:
        number = parse_amount(value, path)
    except ValueError:
        raise _bad_doc(path, f"不是数字：{value!r}", f"not a number: {value!r}") from None
    if not money:
        return format(number, "f")
    if number != number.quantize(_FEN):
        raise _bad_doc(path, f"金额 {number} 精确到分以下", f"amount {number} is finer than a fen")
    return format(number.quantize(_FEN), "f")


def _write_date(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, str):  # ISO text from a JSON document: a date, or a time with an offset
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            raise _bad_doc(path, f"不是 ISO 日期或时间：{value!r}", f"not an ISO date or time: {value!r}") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _bad_doc(path, "时间须带时区", "the time must be timezone-aware")
        return {"date": {"type": "hour", "s_timestamp": str(int(value.timestamp()))}}
    if isinstance(value, dt.date):
        midnight = dt.datetime(value.year, value.month, value.day, tzinfo=SHANGHAI)
        return {"date": {"type": "day", "s_timestamp": str(int(midnight.timestamp()))}}
    raise _bad_doc(path, "须为带时区的 datetime 或 date", "must be a tz-aware datetime or a date")


def _write_selector(control: Control, value: Any, path: str) -> dict[str, Any]:
    picked = [value] if isinstance(value, str) else value
    if not isinstance(picked, list | tuple) or not all(isinstance(p, str) for p in picked):
        raise _bad_doc(path, "须为选项文本或键（多选为列表）", "must be an option text or key (a list for multi)")
    by_text = {text: key for key, text in control.options}
    keys = {key for key, _ in control.options}
    chosen: list[str] = []
    for option in picked:
        key: str = by_text.get(option) or option
        if control.options and key not in keys:
            raise _bad_doc(path, f"没有选项 {option!r}", f"no option {option!r}")
        chosen.append(key)
    kind = "multi" if control.multi or len(chosen) > 1 else "single"
    return {"selector": {"type": kind, "options": [{"key": key} for key in chosen]}}


def _strings(value: Any, path: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _bad_doc(path, "须为字符串列表", "must be a list of strings")
    return list(value)


def _write_value(control: Control, value: Any, path: str) -> dict[str, Any]:
    kind = control.control
    if kind in ("Text", "Textarea"):
        if not isinstance(value, str):
            raise _bad_doc(path, "须为字符串", "must be a string")
        return {"text": value}
    if kind in ("Number", "Money"):
        key = "new_money" if kind == "Money" else "new_number"
        return {key: _write_decimal(value, path, money=kind == "Money")}
    if kind == "Date":
        return _write_date(value, path)
    if kind == "Selector":
        return _write_selector(control, value, path)
    if kind == "Contact":
        if isinstance(value, Mapping):
            members, departments = value.get("members", []), value.get("departments", [])
        else:
            members, departments = value, []
        return {"members": [{"userid": u} for u in _strings(members, f"{path}.members")],
                "departments": [{"openapi_id": d} for d in _strings(departments, f"{path}.departments")]}
    if kind == "File":
        return {"files": [{"file_id": f} for f in _strings(value, path)]}
    if kind == "RelatedApproval":
        return {"related_approval": [{"sp_no": s} for s in _strings(value, path)]}
    if kind == "Table":
        if not isinstance(value, list | tuple) or not all(isinstance(row, Mapping) for row in value):
            raise _bad_doc(path, "明细须为行（字典）的列表", "a table must be a list of row mappings")
        return {"children": [{"list": to_contents(row, control.children, f"{path}.{i}")}
                             for i, row in enumerate(value)]}
    if not isinstance(value, Mapping):
        raise _bad_doc(path, f"{kind} 控件须给出 value 对象", f"a {kind} control needs a value object")
    return dict(value)


def to_contents(document: Mapping[str, Any], controls: Sequence[Control], path: str = "document"
                ) -> list[dict[str, Any]]:
    """A canonical document → ``apply_data.contents`` for ``applyevent``.

    Each field is matched to a control by title, else by id; fields left out are not sent (the template
    decides whether that is allowed). A field matching no control is an error rather than dropped.

    Raises:
        MappingError: an unknown field, or a value of the wrong type for its control (a float amount, a
            naive time, an amount finer than a fen …); ``where`` names the field.
    """
    by_key: dict[str, Control] = {}
    for control in controls:
        by_key.setdefault(control.id, control)
        by_key[control.title] = control
    unknown = [key for key in document if key not in by_key]
    if unknown:
        known = ", ".join(c.title for c in controls)
        raise MappingError(t(f"单据字段在审批模板中不存在：{', '.join(unknown)}",
                             f"document fields not in the approval template: {', '.join(unknown)}"),
                           where=f"{path}.{unknown[0]}",
                           fix=t(f"模板中的控件：{known}", f"the template's controls: {known}"))
    contents: list[dict[str, Any]] = []
    for key, value in document.items():
        control = by_key[key]
        contents.append({"control": control.control, "id": control.id,
                         "value": _write_value(control, value, f"{path}.{key}")})
    return contents


def to_summary(lines: Sequence[str]) -> list[dict[str, Any]]:
    """``summary_list`` rows for ``applyevent``: at most 3, each ``[{text, lang: "zh_CN"}]``.

    Raises:
        MappingError: more than 3 lines.
    """
    if len(lines) > _MAX_SUMMARY_ROWS:
        raise MappingError(t(f"摘要最多 3 行，收到 {len(lines)} 行", f"a summary has at most 3 rows, got {len(lines)}"),
                           where="summary_list", fix=t("合并或删减摘要行", "merge or drop summary rows"))
    return [{"summary_info": [{"text": line, "lang": _LANG}]} for line in lines]
