"""The OA systems approvals come from, made alike: DingTalk, WeCom and Feishu.

Each :class:`OaSource` turns its vendor's decrypted event into a :class:`Trigger` (which instance, what
the event announces, the key that tells a redelivery from a new event), re-reads an instance (events
are only triggers: they carry no form data, and a late or reordered event must not decide the state),
and lists instance ids over a time range for catch-up polling. Everything after that — inbox, flows,
outbox — is the same for all three.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from huiliu.connectors import dingtalk, feishu, wecom
from huiliu.errors import MappingError, WebhookRejected
from huiliu.i18n import t
from huiliu.model import ApprovalInstance, ApprovalStatus

__all__ = ["DingTalkSource", "FeishuSource", "OaSource", "Trigger", "WeComSource"]

_DINGTALK_LIST_SPAN = timedelta(days=120)
"""DingTalk lists by submit time, in windows of at most 120 days starting at most 120 days ago (§1.2)."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A vendor event made vendor-neutral.

    Attributes:
        system: the OA it came from.
        instance_id: the approval instance it is about.
        dedupe_key: equal for a redelivery of the same event, different for any other event (a batch
            approval's events differ although they share a timestamp).
        announced: the event type the event announces (``wecom.approval.approved`` …) before any re-read,
            or ``None`` when it cannot tell (then the instance is re-read anyway).
        task: a task-level event (one approver's step): logged for process mining, not queued.
        activity: the event-log activity (``callback.received``, ``task.start`` …).
        actor: the OA user who acted, when the event says.
        hint: what the re-read needs besides the id (DingTalk's process code …).
        detail: what the event log keeps of it.
    """

    system: str
    instance_id: str
    dedupe_key: str
    announced: str | None
    task: bool = False
    activity: str = "callback.received"
    actor: str | None = None
    hint: Mapping[str, Any] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)


class OaSource(Protocol):
    """One OA system as the hub uses it."""

    system: str

    async def fetch(self, instance_id: str, hint: Mapping[str, Any]) -> ApprovalInstance:
        """Re-read the instance and map it to the canonical shape."""

    def event_type(self, instance: ApprovalInstance) -> str:
        """The event type of the instance's current state."""

    def list_ids(self, since: datetime, until: datetime) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        """Instance ids (and their re-read hint) submitted in ``[since, until]``, for catch-up polling."""


def _unknown_event(kind: object, fix: tuple[str, str]) -> WebhookRejected:
    return WebhookRejected("unknown_event", t(f"不支持的事件类型：{kind!r}", f"unsupported event type: {kind!r}"),
                           where="event", fix=t(*fix))


class DingTalkSource:
    """DingTalk: ``bpms_instance_change`` / ``bpms_task_change`` events; lists per process code."""

    system = "dingtalk"

    def __init__(self, client: dingtalk.DingTalkClient, settings: dingtalk.DingTalkSettings) -> None:
        self.client = client
        self.settings = settings

    @staticmethod
    def trigger(event: Mapping[str, Any]) -> Trigger | None:
        """The trigger of a decrypted event; ``None`` for the ``check_url`` handshake."""
        kind = event.get("EventType")
        if kind == "check_url":
            return None
        instance_id = event.get("processInstanceId")
        if kind not in ("bpms_instance_change", "bpms_task_change") or not isinstance(instance_id, str):
            raise _unknown_event(kind, ("只订阅 bpms_instance_change 与 bpms_task_change",
                                        "subscribe to bpms_instance_change and bpms_task_change only"))
        detail = {k: event.get(k) for k in ("type", "result", "taskId", "staffId", "processCode")}
        hint = {"processCode": event.get("processCode")}
        if kind == "bpms_task_change":
            return Trigger("dingtalk", instance_id, f"dingtalk:{instance_id}:task:{event.get('taskId')}:"
                           f"{event.get('type')}:{event.get('result')}", None, task=True,
                           activity=f"task.{event.get('type')}", actor=event.get("staffId"), hint=hint,
                           detail=detail)
        return Trigger("dingtalk", instance_id, f"dingtalk:{instance_id}:{event.get('type')}:{event.get('result')}",
                       dingtalk.announced_type(event), actor=event.get("staffId"), hint=hint, detail=detail)

    async def fetch(self, instance_id: str, hint: Mapping[str, Any]) -> ApprovalInstance:
        """``GetProcessInstance``, mapped."""
        raw = await self.client.get_instance(instance_id)
        return dingtalk.to_instance(raw, instance_id, process_code=hint.get("processCode"))

    def event_type(self, instance: ApprovalInstance) -> str:
        """``dingtalk.approval.*``."""
        return dingtalk.event_type(instance)

    async def list_ids(self, since: datetime, until: datetime) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        """Every instance of the polled process codes, window by window (≤ 120 days), page by page."""
        since = max(since, until - _DINGTALK_LIST_SPAN + timedelta(minutes=1))
        for code in self.settings.poll_process_codes:
            token: str | None = None
            while True:
                page = await self.client.list_instance_ids(code, int(since.timestamp() * 1000),
                                                           int(until.timestamp() * 1000), next_token=token)
                for instance_id in page.ids:
                    yield instance_id, {"processCode": code}
                if page.next_token is None:
                    break
                token = page.next_token


class WeComSource:
    """WeCom: ``sys_approval_change`` events (optional for new customers); polling is the main path."""

    system = "wecom"

    def __init__(self, client: wecom.WeComClient, settings: wecom.WeComSettings) -> None:
        self.client = client
        self.settings = settings

    @staticmethod
    def trigger(event: wecom.WeComEvent) -> Trigger:
        """The trigger of a decrypted approval event."""
        change = event.approval
        if change is None:
            raise _unknown_event(event.event or event.msg_type, (
                "只订阅审批状态变化事件 sys_approval_change", "subscribe to sys_approval_change only"))
        status = wecom.SP_STATUS.get(change.sp_status)
        announced = wecom.EVENT_TYPES.get(status) if status is not None else None
        return Trigger("wecom", change.sp_no, wecom.dedupe_key(event), announced, actor=change.applyer or None,
                       detail={"sp_status": change.sp_status, "change": change.change,
                               "template_id": change.template_id})

    async def fetch(self, instance_id: str, hint: Mapping[str, Any]) -> ApprovalInstance:
        """``getapprovaldetail``, mapped."""
        info = await self.client.get_detail(instance_id)
        return wecom.to_instance(info, reference_control_id=self.settings.reference_control_id)

    def event_type(self, instance: ApprovalInstance) -> str:
        """``wecom.approval.*``."""
        return wecom.event_type(instance)

    async def list_ids(self, since: datetime, until: datetime) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        """Every ``sp_no`` applied for in the range (the client splits it into 31-day windows)."""
        async for sp_no in self.client.iter_sp_nos(since, until):
            yield sp_no, {}


class FeishuSource:
    """Feishu: ``approval_instance`` (and ``approval_task``) events; lists per approval code."""

    system = "feishu"

    def __init__(self, client: feishu.FeishuClient, settings: feishu.FeishuSettings) -> None:
        self.client = client
        self.settings = settings

    @staticmethod
    def trigger(event: feishu.ApprovalEvent) -> Trigger:
        """The trigger of a decrypted, verified event."""
        hint = {"approval_code": event.approval_code}
        detail = {"status": event.status, "approval_code": event.approval_code, "event_id": event.event_id}
        if event.task_id:
            return Trigger("feishu", event.instance_code, feishu.dedupe_key(event), None, task=True,
                           activity=f"task.{event.status.lower()}", hint=hint, detail=detail)
        try:
            announced: str | None = feishu.EVENT_TYPES.get(feishu.status_of(event.status))
        except MappingError:
            announced = None  # a status this version does not know: re-read and let the mapping decide
        return Trigger("feishu", event.instance_code, feishu.dedupe_key(event), announced, hint=hint,
                       detail=detail)

    async def fetch(self, instance_id: str, hint: Mapping[str, Any]) -> ApprovalInstance:
        """The instance, mapped with the tenant's time zone and currency."""
        data = await self.client.get_instance(instance_id)
        return feishu.to_instance(data, timezone=self.settings.form_timezone,
                                  currency=self.settings.default_currency)

    def event_type(self, instance: ApprovalInstance) -> str:
        """``feishu.approval.*``."""
        return feishu.event_type(instance)

    async def list_ids(self, since: datetime, until: datetime) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        """Every instance of the configured approval codes started in the range."""
        for code in self.settings.approval_codes:
            async for instance_code in self.client.iter_instance_codes(code, since, until):
                yield instance_code, {"approval_code": code}


TERMINAL = frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REFUSED, ApprovalStatus.REVOKED,
                      ApprovalStatus.REVERTED})
"""States an instance does not leave, except approved → reverted (which is its own event)."""
