"""DingTalk approval payloads ⇄ canonical :class:`~huiliu.model.ApprovalInstance` (contracts §1.3).

Owns: the vendor's ``GetProcessInstance`` result shape (validated by pydantic at this edge), the status
table, form flattening (label → value, 明细 tables → rows read from ``details``) and the event type names.
Does not own: fetching (``client.py``).

=========================  ==================
DingTalk status / result   canonical status
=========================  ==================
RUNNING, NEW               running
COMPLETED + agree          approved
COMPLETED + refuse         refused
TERMINATED, CANCELED       revoked
=========================  ==================

``result`` casing in the v1.0 API is unconfirmed, so statuses and results compare case-insensitively.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import ApprovalInstance, ApprovalStatus, ApprovalTask, Attachment, InstanceId, SystemName

__all__ = ["EVENT_TYPES", "announced_type", "event_type", "to_instance"]

EVENT_TYPES: Mapping[ApprovalStatus, str] = {
    ApprovalStatus.RUNNING: "dingtalk.approval.started",
    ApprovalStatus.APPROVED: "dingtalk.approval.approved",
    ApprovalStatus.REFUSED: "dingtalk.approval.refused",
    ApprovalStatus.REVOKED: "dingtalk.approval.revoked",
}
"""Canonical status → event type (``<system>.<entity>.<past-verb>``)."""

_SYSTEM = SystemName("dingtalk")
_TABLE = "TableField"
_EMPTY_TABLE_VALUES = (None, "", "[]", "null")


class _Vendor(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              coerce_numbers_to_str=True)


class _Cell(_Vendor):
    name: str
    value: str | None = None


class _Row(_Vendor):
    details: list[_Cell] = []


class _Component(_Vendor):
    name: str
    value: str | None = None
    component_type: str | None = None
    details: list[_Row] | None = None


class _Task(_Vendor):
    task_id: str
    user_id: str
    status: str
    result: str | None = None


class _Result(_Vendor):
    title: str
    status: str
    result: str | None = None
    business_id: str | None = None
    process_code: str | None = None
    create_time: str | int
    finish_time: str | int | None = None
    originator_user_id: str
    originator_dept_id: str | None = None
    form_component_values: list[_Component] = []
    tasks: list[_Task] = []


def _fail(path: str, zh: str, en: str) -> MappingError:
    return MappingError(t(f"钉钉审批实例数据无法解析：{zh}", f"bad DingTalk approval instance: {en}"),
                        where=path,
                        fix=t("钉钉返回的数据与契约（contracts §1.3）不符；请附上该实例的原始 JSON 报告问题",
                              "the reply does not match contracts §1.3; report it with the raw JSON"))


def _time(value: str | int | None, path: str) -> datetime | None:
    """UTC ``yyyy-MM-ddTHH:mmZ`` (also with seconds or an offset), or epoch milliseconds (legacy)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) or value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(path, f"时间格式不对：{value!r}", f"bad time {value!r}") from None
    # The SDK documents these times as UTC; a value without an offset is read as UTC.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _status(raw: _Result, path: str) -> ApprovalStatus:
    status, result = raw.status.upper(), (raw.result or "").lower()
    if status in ("RUNNING", "NEW"):
        return ApprovalStatus.RUNNING
    if status in ("TERMINATED", "CANCELED"):
        return ApprovalStatus.REVOKED
    if status == "COMPLETED":
        if result == "agree":
            return ApprovalStatus.APPROVED
        if result == "refuse":
            return ApprovalStatus.REFUSED
        raise _fail(f"{path}.result", f"已完成实例的 result 未知：{raw.result!r}",
                    f"unknown result {raw.result!r} of a completed instance")
    raise _fail(f"{path}.status", f"未知状态 {raw.status!r}", f"unknown status {raw.status!r}")


def _form(components: list[_Component], path: str) -> dict[str, Any]:
    form: dict[str, Any] = {}
    for index, component in enumerate(components):
        value: Any = component.value
        if component.details or component.component_type == _TABLE:
            if not component.details and component.value not in _EMPTY_TABLE_VALUES:
                # The encoding of rows inside ``value`` is unconfirmed (contracts §1.2): refuse to guess.
                raise _fail(f"{path}.formComponentValues.{index}.details",
                            f"明细「{component.name}」没有 details",
                            f"table {component.name!r} has no details")
            value = [{cell.name: cell.value for cell in row.details} for row in component.details or []]
        label, n = component.name, 2
        while label in form:  # a template may repeat a label; keep every field
            label, n = f"{component.name}#{n}", n + 1
        form[label] = value
    return form


def to_instance(raw_result: Mapping[str, Any], instance_id: str, *,
                process_code: str | None = None) -> ApprovalInstance:
    """Turn the ``result`` of ``GetProcessInstance`` into an :class:`ApprovalInstance`.

    Args:
        raw_result: the ``result`` object, as :meth:`DingTalkClient.get_instance` returns it.
        instance_id: the instance id (the result does not repeat it).
        process_code: the template's processCode, e.g. from the callback event; the v1.0 result does not
            carry it, so without it ``processCode`` is read from the result if present, else left empty.

    Raises:
        MappingError: a field is missing or has the wrong type; ``where`` is its path, e.g.
            ``result.formComponentValues.2.name``.
    """
    path = "result"
    try:
        raw = _Result.model_validate(raw_result)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"]
        raise _fail(f"{path}.{field}", f"字段 {field}：{message}", f"field {field}: {message}") from exc
    created = _time(raw.create_time, f"{path}.createTime")
    if created is None:
        raise _fail(f"{path}.createTime", "缺少 createTime", "createTime is empty")
    return ApprovalInstance(
        system=_SYSTEM, instance_id=InstanceId(instance_id),
        process_code=process_code or raw.process_code or "", title=raw.title, status=_status(raw, path),
        originator_user_id=raw.originator_user_id, originator_dept_id=raw.originator_dept_id or None,
        business_id=raw.business_id or None, created_at=created,
        finished_at=_time(raw.finish_time, f"{path}.finishTime"),
        form=_form(raw.form_component_values, path),
        tasks=tuple(ApprovalTask(task.task_id, task.user_id, task.status, task.result) for task in raw.tasks),
        attachments=_attachments(raw.form_component_values))


def _attachments(components: list[_Component]) -> tuple[Attachment, ...]:
    """Files of ``DDAttachment`` (``[{fileName, fileId, spaceId}]``) and ``DDPhotoField`` (``[url]``) fields.

    Both encodings are JSON text in ``value`` and unconfirmed in the contract (§1.3 names the component
    types only): what does not parse is left in the form as it came, never an error.
    """
    found: list[Attachment] = []
    for component in components:
        if component.component_type not in ("DDAttachment", "DDPhotoField") or not component.value:
            continue
        try:
            items = json.loads(component.value)
        except ValueError:
            continue
        for item in items if isinstance(items, list) else ():
            if isinstance(item, str) and item:
                found.append(Attachment(component.name, item.rsplit("/", 1)[-1] or item, item))
            elif isinstance(item, Mapping) and item.get("fileId"):
                ref = f"dingtalk:space/{item.get('spaceId', '')}/file/{item['fileId']}"
                found.append(Attachment(component.name, str(item.get("fileName") or item["fileId"]), ref))
    return tuple(found)


def event_type(instance: ApprovalInstance) -> str:
    """``dingtalk.approval.started|approved|refused|revoked`` for the instance's status."""
    return EVENT_TYPES[instance.status]


_ANNOUNCED: Mapping[tuple[str, str | None], str] = {
    ("start", None): EVENT_TYPES[ApprovalStatus.RUNNING],
    ("finish", "agree"): EVENT_TYPES[ApprovalStatus.APPROVED],
    ("finish", "refuse"): EVENT_TYPES[ApprovalStatus.REFUSED],
    ("terminate", None): EVENT_TYPES[ApprovalStatus.REVOKED],
}


def announced_type(event: Mapping[str, Any]) -> str | None:
    """The event type a ``bpms_instance_change`` callback announces (contracts §1.4), before any re-read.

    ``start`` → started, ``finish`` + ``agree``/``refuse`` → approved/refused, ``terminate`` → revoked;
    ``None`` for anything else, so the caller re-reads rather than guess.
    """
    kind = event.get("type")
    result = event.get("result") if kind == "finish" else None
    return _ANNOUNCED.get((str(kind), None if result is None else str(result)))
