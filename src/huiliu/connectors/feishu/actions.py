"""The Feishu actions flows may call, each safe to retry (DESIGN.md, invariants 2 and 3).

``feishu.approval.create`` creates an approval instance from an ERP document. Feishu is the one OA with a
native idempotency key (contracts §3.2, §10.3): every attempt sends the same ``uuid``, derived from the
hub's reference (:func:`~huiliu.connectors.feishu.client.instance_uuid`), so a retry after a lost reply
is the same request. Feishu refuses a used uuid with 60012; the action then adopts the instance that
holds it — named in the refusal if Feishu names it (unconfirmed), else found by listing the approval's
instances over ``adopt_lookback`` and matching ``uuid``. No lookup is needed before a retry: the create
itself is the lookup, and the list is read only when Feishu says the instance exists.

A create that gets no answer is :class:`AmbiguousOutcome` with ``retry_after = ambiguous_wait``: the
instance may exist, and Feishu must have finished it before the retry's 60012 can be adopted.

The contract has no comment (write-back) endpoint for Feishu, so there is no comment action here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from huiliu.connectors.base import ActionContext, ActionRegistry
from huiliu.connectors.feishu.client import FeishuClient, instance_uuid
from huiliu.connectors.feishu.errors import SYSTEM, DuplicateUuid
from huiliu.connectors.feishu.mapping import to_form
from huiliu.connectors.feishu.settings import FeishuSettings
from huiliu.errors import AmbiguousOutcome, ConfigError, MappingError, NoReply, VendorRejected
from huiliu.i18n import t
from huiliu.model import Clock

__all__ = ["CREATE_ACTION", "ApprovalCreate", "register_actions"]

CREATE_ACTION = "feishu.approval.create"

_FUTURE_SLACK = timedelta(minutes=5)  # instances stamped by a Feishu clock slightly ahead of ours


class _CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    approval_code: str = Field(min_length=1)
    open_id: str | None = None
    user_id: str | None = None
    department_id: str | None = None
    title: str | None = None
    form: dict[str, Any]
    node_approver_open_id_list: list[Any] = []
    node_approver_user_id_list: list[Any] = []

    @model_validator(mode="after")
    def _originator(self) -> _CreateRequest:
        if not (self.open_id or self.user_id):
            raise ValueError("one of open_id and user_id is required")
        return self


class ApprovalCreate:
    """The ``feishu.approval.create`` action.

    Request: ``{"approval_code", "open_id" | "user_id", "department_id"?, "title"?, "form": {label: value},
    "node_approver_open_id_list"?, "node_approver_user_id_list"?}``; ``form`` is written with
    ``settings.form_layouts[approval_code]``. Result: ``{"instance_code", "uuid", "adopted"}``; ``adopted``
    is true when an instance created by an earlier attempt was found and used.

    Args:
        client: the Feishu client.
        settings: the connector settings (form layouts, lookback, wait).
        clock: the time source for the adoption search window.
    """

    def __init__(self, client: FeishuClient, settings: FeishuSettings, clock: Clock) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Create (or adopt) the instance for ``ctx.reference``."""
        try:
            req = _CreateRequest.model_validate(dict(request))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "request"
            message = first["msg"]
            raise MappingError(t(f"创建审批动作的请求无效：{message}", f"bad create request: {message}"),
                               where=f"{CREATE_ACTION} request.{field}",
                               fix=t("请求需要 approval_code、open_id 或 user_id，以及 form 对象",
                                     "the request needs approval_code, open_id or user_id, and a form object")
                               ) from exc
        layout = self.settings.form_layouts.get(req.approval_code)
        if layout is None:
            raise ConfigError(t(f"审批定义 {req.approval_code} 没有配置表单布局",
                                f"no form layout for approval definition {req.approval_code}"),
                              fix=t("在 form_layouts 中为该 approval_code 配置字段到控件的对应",
                                    "add the approval_code to form_layouts, label → widget"))
        # Map before calling Feishu: a malformed form fails without any call.
        form = to_form(req.form, layout, timezone=self.settings.form_timezone,
                       currency=self.settings.default_currency)
        key = instance_uuid(ctx.reference)
        try:
            code = await self.client.create_instance(
                approval_code=req.approval_code, form=form, uuid=key, open_id=req.open_id, user_id=req.user_id,
                department_id=req.department_id, title=req.title,
                node_approver_open_id_list=req.node_approver_open_id_list,
                node_approver_user_id_list=req.node_approver_user_id_list)
        except NoReply as exc:  # a 5xx or a rate limit is an answer: nothing was created
            raise AmbiguousOutcome(
                t("创建审批实例未得到应答，可能已创建", "create got no answer; the instance may exist"),
                system=SYSTEM, operation="create_instance", retry_after=self.settings.ambiguous_wait,
                fix=t("重试时使用同一 uuid，飞书不会重复创建", "the retry sends the same uuid; Feishu will not "
                      "create a second instance")) from exc
        except DuplicateUuid as exc:
            return {"instance_code": await self._adopt(req.approval_code, key, exc), "uuid": key, "adopted": True}
        return {"instance_code": code, "uuid": key, "adopted": False}

    async def _adopt(self, approval_code: str, key: str, exc: DuplicateUuid) -> str:
        """The instance that holds ``key``: named by the refusal, else searched over ``adopt_lookback``."""
        if exc.instance_code:
            return exc.instance_code
        now = self.clock.now()
        found = await self.client.find_by_uuid(approval_code, key, now - self.settings.adopt_lookback,
                                               now + _FUTURE_SLACK)
        code = found.get("instance_code") if found is not None else None
        if not isinstance(code, str) or not code:
            raise VendorRejected(
                t(f"飞书称 uuid {key} 已被使用，但在审批 {approval_code} 中找不到该实例",
                  f"Feishu says uuid {key} is used, but no instance of {approval_code} holds it"),
                system=SYSTEM, operation="create_instance", vendor_code=exc.vendor_code,
                vendor_message=exc.vendor_message,
                fix=t("该实例可能早于 adopt_lookback 或属于另一审批定义：加大 adopt_lookback 后重试，或人工核对",
                      "the instance may be older than adopt_lookback or in another definition: widen "
                      "adopt_lookback and retry, or check by hand")) from exc
        return code


def register_actions(registry: ActionRegistry, client: FeishuClient, settings: FeishuSettings,
                     clock: Clock) -> None:
    """Register the Feishu actions on ``registry``: ``feishu.approval.create``."""
    registry.register(CREATE_ACTION, ApprovalCreate(client, settings, clock))
