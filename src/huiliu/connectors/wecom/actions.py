"""The WeCom actions flows may call, each safe to retry (DESIGN.md, invariants 2 and 3).

``wecom.approval.create`` submits an approval (``applyevent``) from an ERP document. WeCom has no
idempotency key for it (contracts §2.5), so the hub keeps its own: every submitted form carries the hub's
reference in a Text control (``settings.reference_control_id``), and

* from the second attempt on, the action first lists the creator's instances of the template over
  ``settings.lookup_window`` (``getapprovalinfo`` with ``template_id`` and ``creator`` filters), reads each
  (``getapprovaldetail``) and adopts the one carrying the reference — no second instance;
* a create that got no answer at all (timeout, dropped connection: WeCom may have applied it) is resolved
  at once by listing a short window around the attempt (± ``settings.ambiguous_margin``) the same way;
  if nothing is found yet, it is :class:`AmbiguousOutcome` and the retry, not before
  ``settings.ambiguous_wait``, looks again before creating.

A 5xx, a busy errcode or a rate limit is an answer: WeCom did not create anything, and the plain retry
looks up first anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.wecom.client import WeComClient
from huiliu.connectors.wecom.errors import SYSTEM
from huiliu.connectors.wecom.mapping import Control, template_controls, to_contents, to_summary
from huiliu.connectors.wecom.settings import WeComSettings
from huiliu.errors import AmbiguousOutcome, ConnectorError, MappingError, NoReply
from huiliu.i18n import t

__all__ = ["APPROVAL_CREATE", "ApprovalCreate", "register_actions"]

APPROVAL_CREATE = "wecom.approval.create"


class _Approver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attr: Literal[1, 2]
    userid: list[str] = Field(min_length=1)


class _CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    template_id: str = Field(min_length=1)
    creator_userid: str = Field(min_length=1)
    document: dict[str, Any]
    summary: list[str] = Field(default_factory=list, max_length=3)
    use_template_approver: Literal[0, 1] = 1
    approver: list[_Approver] = Field(default_factory=list)
    notifyer: list[str] = Field(default_factory=list)
    notify_type: Literal[1, 2, 3] | None = None
    choose_department: int | None = None


class ApprovalCreate:
    """The ``wecom.approval.create`` action.

    Request: ``{"template_id", "creator_userid", "document": {title or id: value}, "summary": [≤ 3 lines],
    "use_template_approver": 1, "approver": [{"attr", "userid": []}], "notifyer": [], "notify_type",
    "choose_department"}``. Result: ``{"sp_no", "adopted"}``; ``adopted`` is true when an instance made by
    an earlier attempt was found and used instead of creating another.

    Args:
        client: the WeCom client.
        settings: for the reference control and the lookup windows.
    """

    def __init__(self, client: WeComClient, settings: WeComSettings) -> None:
        self.client = client
        self.settings = settings
        self._templates: dict[str, tuple[Control, ...]] = {}

    async def controls(self, template_id: str) -> tuple[Control, ...]:
        """The template's controls (``gettemplatedetail``), fetched once per template."""
        controls = self._templates.get(template_id)
        if controls is None:
            controls = template_controls(await self.client.get_template(template_id))
            self._templates[template_id] = controls
        return controls

    async def find(self, reference: str, *, template_id: str, creator: str, start: datetime, end: datetime
                   ) -> str | None:
        """The ``sp_no`` of the instance carrying ``reference``, or ``None``.

        Looks at the creator's instances of the template submitted in ``[start, end]``; if an earlier
        failure let several carry the reference, the oldest is adopted so retries settle on one.
        """
        control_id = self.settings.reference_control_id
        found: list[tuple[int, str]] = []
        async for sp_no in self.client.iter_sp_nos(start, end, filters={"template_id": template_id,
                                                                       "creator": creator}):
            info = await self.client.get_detail(sp_no)
            contents = info.get("apply_data", {}).get("contents", []) if isinstance(info.get("apply_data"),
                                                                                    Mapping) else []
            for item in contents if isinstance(contents, list) else []:
                value = item.get("value") if isinstance(item, Mapping) else None
                if item.get("id") == control_id and isinstance(value, Mapping) and value.get("text") == reference:
                    apply_time = info.get("apply_time")
                    found.append((int(apply_time) if isinstance(apply_time, int | str) and str(apply_time).isdigit()
                                  else 0, sp_no))
                    break
        return min(found)[1] if found else None

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the approval instance for ``ctx.reference``."""
        req = self._validate(request)
        controls = await self.controls(req.template_id)
        # Map before creating anything: a bad document fails without a create.
        document = {k: v for k, v in req.document.items() if k != self.settings.reference_control_id}
        contents = [*to_contents(document, controls),
                    {"control": "Text", "id": self.settings.reference_control_id, "value": {"text": ctx.reference}}]
        summary = to_summary(req.summary)
        clock = self.client.clock
        if ctx.attempt > 1:
            now = clock.now()
            found = await self.find(ctx.reference, template_id=req.template_id, creator=req.creator_userid,
                                    start=now - self.settings.lookup_window, end=now + self.settings.ambiguous_margin)
            if found is not None:
                return {"sp_no": found, "adopted": True}
        started = clock.now()
        try:
            sp_no = await self.client.apply_event(
                creator_userid=req.creator_userid, template_id=req.template_id, contents=contents,
                use_template_approver=req.use_template_approver,
                approvers=[(a.attr, a.userid) for a in req.approver], notifyer=req.notifyer,
                notify_type=req.notify_type, summary=summary, choose_department=req.choose_department)
        except NoReply as exc:
            return await self._resolve(exc, ctx.reference, req, started)
        return {"sp_no": sp_no, "adopted": False}

    async def _resolve(self, exc: NoReply, reference: str, req: _CreateRequest, started: datetime
                       ) -> Mapping[str, Any]:
        """After a create got no answer: list around the attempt; adopt what is there, else stay ambiguous."""
        margin = self.settings.ambiguous_margin
        try:
            found = await self.find(reference, template_id=req.template_id, creator=req.creator_userid,
                                    start=started - margin, end=self.client.clock.now() + margin)
        except ConnectorError:
            found = None
        if found is not None:
            return {"sp_no": found, "adopted": True}
        raise AmbiguousOutcome(
            t("提交审批未得到应答，可能已生成", "applyevent got no answer; the approval may exist"),
            system=SYSTEM, operation="applyevent", retry_after=self.settings.ambiguous_wait,
            fix=t("稍后按引用查找并沿用，不会重复提交", "it is looked up by reference later, never submitted twice"),
        ) from exc

    @staticmethod
    def _validate(request: Mapping[str, Any]) -> _CreateRequest:
        try:
            return _CreateRequest.model_validate(dict(request))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "request"
            message = first["msg"]
            raise MappingError(t(f"创建审批动作的请求无效：{message}", f"bad approval create request: {message}"),
                               where=f"{APPROVAL_CREATE} request.{field}",
                               fix=t("请求需要 template_id、creator_userid 与 document（字段名为控件标题或 id）",
                                     "the request needs template_id, creator_userid and document (fields by "
                                     "control title or id)")) from exc


def register_actions(registry: ActionRegistry, client: WeComClient, settings: WeComSettings) -> None:
    """Register the WeCom actions on ``registry``: ``wecom.approval.create``."""
    registry.register(APPROVAL_CREATE, ApprovalCreate(client, settings))


