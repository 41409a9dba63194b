"""The DingTalk actions flows may call, each safe to retry (DESIGN.md, invariants 2 and 3).

``dingtalk.approval.comment`` writes a comment back on an approval instance. DingTalk has no idempotency
key for comments, so the comment carries a hub-set marker ``[huiliu:<reference>]``; from the second
attempt on, the action first reads the instance and does not post again if a comment record already holds
the marker. A crash between "DingTalk stored it" and "the hub recorded it" therefore never doubles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.dingtalk.client import DingTalkClient
from huiliu.connectors.dingtalk.settings import DingTalkSettings
from huiliu.errors import MappingError
from huiliu.i18n import t

__all__ = ["COMMENT_ACTION", "comment_marker", "register_actions"]

COMMENT_ACTION = "dingtalk.approval.comment"


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


def register_actions(registry: ActionRegistry, client: DingTalkClient, settings: DingTalkSettings) -> None:
    """Register the DingTalk actions on ``registry``.

    Args:
        registry: where flows look actions up.
        client: the API client the actions call.
        settings: for the write-back user and the comment record type.
    """

    async def comment(request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Post ``text`` on ``instance_id`` once; returns ``{"posted": bool, "already": bool}``."""
        try:
            req = _CommentRequest.model_validate(dict(request))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "request"
            message = first["msg"]
            raise MappingError(t(f"评论动作的请求无效：{message}", f"bad comment request: {message}"),
                               where=f"{COMMENT_ACTION} request.{field}",
                               fix=t("请求需要非空字符串 instance_id 与 text",
                                     "the request needs non-empty strings instance_id and text")) from exc
        marker = comment_marker(ctx.reference)
        if ctx.attempt > 1:
            instance = await client.get_instance(req.instance_id)
            if _already_posted(instance, settings.comment_record_type, marker):
                return {"posted": False, "already": True}
        await client.add_comment(req.instance_id, f"{req.text} {marker}", settings.writeback_user_id)
        return {"posted": True, "already": False}

    registry.register(COMMENT_ACTION, comment)
