"""The DingTalk actions flows may call, each safe to retry (DESIGN.md, invariants 2 and 3).

``dingtalk.approval.create`` starts an approval instance from an ERP document (the ERP → OA direction).
``StartProcessInstance`` has no idempotency key (contracts §1.6), so the form carries the hub's reference
in a text field (``settings.reference_field``); from the second attempt on, and at once after a create
that got no answer, the action lists the originator's instances of the template
(``ListProcessInstanceIds``), reads them and adopts the one holding the reference. Not found after a lost
reply is :class:`AmbiguousOutcome`: the retry waits ``settings.ambiguous_wait`` and looks again first.

``dingtalk.approval.comment`` writes a comment back on an approval instance. DingTalk has no idempotency
key for comments, so the comment carries a hub-set marker ``[huiliu:<reference>]``; from the second
attempt on, the action first reads the instance and does not post again if a comment record already holds
the marker. A crash between "DingTalk stored it" and "the hub recorded it" therefore never doubles it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.dingtalk.client import DingTalkClient
from huiliu.connectors.dingtalk.errors import SYSTEM
from huiliu.connectors.dingtalk.settings import DingTalkSettings
from huiliu.errors import AmbiguousOutcome, MappingError, NoReply
from huiliu.i18n import t
from huiliu.model import Clock, SystemClock

__all__ = ["COMMENT_ACTION", "CREATE_ACTION", "comment_marker", "register_actions", "to_form_values"]

COMMENT_ACTION = "dingtalk.approval.comment"
CREATE_ACTION = "dingtalk.approval.create"


class _CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    process_code: str = Field(min_length=1)
    originator_user_id: str = Field(min_length=1)
    dept_id: str | int = -1
    document: dict[str, Any]
    approvers: list[str] = Field(default_factory=list)


def to_form_values(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A canonical document (field name → value) as ``formComponentValues``.

    Amounts (``Decimal``, or ``{"amount", "currency"}`` as stored) become their exact text; a list of
    rows becomes a table: ``details`` with one ``{name, value}`` cell per column, and the same rows as
    the JSON ``value``.

    Raises:
        MappingError: a float (amounts must be exact) or a value of another type, naming the field.
    """
    def text(name: str, value: Any) -> str:
        if isinstance(value, Mapping) and set(value) == {"amount", "currency"}:
            value = value["amount"]
        if isinstance(value, float):
            raise MappingError(t(f"字段 {name} 是浮点数，金额须为精确小数", f"field {name} is a float; amounts must "
                                 "be exact decimals"), where=f"{CREATE_ACTION} document.{name}",
                               fix=t("用 Decimal 或字符串", "use a Decimal or a string"))
        if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
            return str(value)
        if value is None:
            return ""
        raise MappingError(t(f"字段 {name} 的值类型 {type(value).__name__} 无法填入钉钉表单",
                             f"field {name}: a {type(value).__name__} cannot go into a DingTalk form"),
                           where=f"{CREATE_ACTION} document.{name}",
                           fix=t("使用文本、数字、金额或行的列表", "use text, numbers, amounts or a list of rows"))

    values: list[dict[str, Any]] = []
    for name, value in document.items():
        if isinstance(value, list):
            rows = [[{"name": col, "value": text(f"{name}.{i}.{col}", cell)} for col, cell in dict(row).items()]
                    for i, row in enumerate(value)]
            values.append({"name": name, "value": json.dumps(rows, ensure_ascii=False),
                           "componentType": "TableField", "details": [{"details": row} for row in rows]})
        else:
            values.append({"name": name, "value": text(name, value)})
    return values


def _bad_request(action: str, exc: ValidationError, fix: tuple[str, str]) -> MappingError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "request"
    message = first["msg"]
    return MappingError(t(f"{action} 的请求无效：{message}", f"bad {action} request: {message}"),
                        where=f"{action} request.{field}", fix=t(*fix))


class _CommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str = Field(min_length=1)
    text: str = Field(min_length=1)


def comment_marker(reference: str) -> str:
    """The marker appended to a write-back comment: ``[huiliu:<reference>]``."""
    return f"[huiliu:{reference}]"


def _already_posted(instance: Mapping[str, Any], record_type: str, marker: str) -> bool:
    records = instance.get("operationRecords")
    if not isinstance(records, list):
        return False
    return any(isinstance(record, Mapping) and str(record.get("type", "")).upper() == record_type.upper()
               and marker in str(record.get("remark") or "") for record in records)


def register_actions(registry: ActionRegistry, client: DingTalkClient, settings: DingTalkSettings,
                     clock: Clock | None = None) -> None:
    """Register the DingTalk actions on ``registry``.

    Args:
        registry: where flows look actions up.
        client: the API client the actions call.
        settings: for the write-back user, the comment record type and the create's reference field.
        clock: the time a retried create lists back from.
    """
    clock = clock or SystemClock()

    async def comment(request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Post ``text`` on ``instance_id`` once; returns ``{"posted": bool, "already": bool}``."""
        try:
            req = _CommentRequest.model_validate(dict(request))
        except ValidationError as exc:
            raise _bad_request(COMMENT_ACTION, exc, ("请求需要非空字符串 instance_id 与 text",
                                                     "the request needs non-empty strings instance_id and text")
                               ) from exc
        marker = comment_marker(ctx.reference)
        if ctx.attempt > 1:
            instance = await client.get_instance(req.instance_id)
            if _already_posted(instance, settings.comment_record_type, marker):
                return {"posted": False, "already": True}
        await client.add_comment(req.instance_id, f"{req.text} {marker}", settings.writeback_user_id)
        return {"posted": True, "already": False}

    async def find(req: _CreateRequest, reference: str, since: datetime) -> str | None:
        """The originator's instance of the template holding ``reference``, created since ``since``."""
        token: str | None = None
        while True:
            page = await client.list_instance_ids(req.process_code, int(since.timestamp() * 1000),
                                                  next_token=token, user_ids=[req.originator_user_id])
            for instance_id in page.ids:
                raw = await client.get_instance(instance_id)
                for field in raw.get("formComponentValues") or ():
                    if (isinstance(field, Mapping) and field.get("name") == settings.reference_field
                            and str(field.get("value") or "") == reference):
                        return instance_id
            if page.next_token is None:
                return None
            token = page.next_token

    async def create(request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Start an instance once; returns ``{"instance_id", "adopted"}``."""
        try:
            req = _CreateRequest.model_validate(dict(request))
        except ValidationError as exc:
            raise _bad_request(CREATE_ACTION, exc, (
                "请求需要 process_code、originator_user_id 与 document（字段名 → 值）",
                "the request needs process_code, originator_user_id and document (field name → value)")) from exc
        form = to_form_values({**req.document, settings.reference_field: ctx.reference})
        now = clock.now()
        if ctx.attempt > 1:
            found = await find(req, ctx.reference, now - settings.lookup_window)
            if found is not None:
                return {"instance_id": found, "adopted": True}
        try:
            instance_id = await client.start_instance(process_code=req.process_code,
                                                      originator_user_id=req.originator_user_id,
                                                      form=form, dept_id=req.dept_id, approvers=req.approvers)
        except NoReply as exc:  # DingTalk may have created it: look at once, else wait and look again
            found = await find(req, ctx.reference, now - timedelta(minutes=5))
            if found is not None:
                return {"instance_id": found, "adopted": True}
            raise AmbiguousOutcome(t("钉钉未应答发起审批的请求，可能已创建", "DingTalk did not answer the create; it "
                                     "may have been made"), system=SYSTEM, operation="StartProcessInstance",
                                   retry_after=settings.ambiguous_wait,
                                   fix=t("稍后按引用号查找后再决定是否重建",
                                         "looked up by reference before any new create")) from exc
        return {"instance_id": instance_id, "adopted": False}

    registry.register(COMMENT_ACTION, comment)
    registry.register(CREATE_ACTION, create)
