"""Feishu sandbox tenant state: approval definitions, instances, tasks, and the events they raise.

Owns: the ``_Definition`` / ``_Instance`` / ``_Task`` records and their ``GET instances/:id`` shape, the
API semantics the routes apply (token issue, create with ``uuid`` dedupe, get, list, subscribe), the
status machine PENDING → APPROVED / REJECTED / CANCELED (+ REVERTED after APPROVED, DELETED), and the v1
``approval_instance`` events it produces, for subscribed definitions only. Does not own: HTTP routing and
fault replies (:mod:`.app`) or getting events to the hub (:mod:`.callbacks`, which supplies ``_emit``).

Error codes other than 60012, 99991400, 99991661 and 99991663 are unconfirmed (contracts §3.5 did not read
Feishu's generic list); they are named once below.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from huiliu.model import Clock

__all__ = ["BAD_PARAMS_CODE", "BAD_SECRET_CODE", "DUPLICATE_UUID_CODE", "NOT_FOUND_CODE", "TenantState"]

DUPLICATE_UUID_CODE = 60012
"""Create with a uuid already used in the tenant (contracts §3.2, [D])."""

BAD_PARAMS_CODE = 99992402
"""A missing or malformed parameter. Unconfirmed code."""

NOT_FOUND_CODE = 60001
"""Unknown approval definition or instance. Unconfirmed code."""

BAD_SECRET_CODE = 10014
"""Wrong app_id / app_secret on the token endpoint. Unconfirmed code."""

_MAX_PAGE = 100  # the real maximum page_size is unconfirmed
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _form_dumps(value: Any) -> str:
    """JSON text of a form; a ``Decimal`` is written as a number with all its digits, as Feishu does."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return "[" + ",".join(_form_dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dumps(str(k))}:{_form_dumps(v)}" for k, v in value.items()) + "}"
    return _dumps(value)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class _ApiError(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _invalid(message: str) -> _ApiError:
    return _ApiError(BAD_PARAMS_CODE, message)


@dataclass(frozen=True)
class _Widget:
    id: str
    name: str
    type: str
    children: tuple[_Widget, ...] = ()


@dataclass
class _Definition:
    approval_code: str
    name: str
    widgets: tuple[_Widget, ...]
    subscribed: bool = False


@dataclass
class _Task:
    task_id: str
    open_id: str
    start_ms: int
    status: str = "PENDING"
    end_ms: int = 0


@dataclass
class _Instance:
    instance_code: str
    definition: _Definition
    uuid: str
    user_id: str
    open_id: str
    department_id: str
    serial_number: str
    start_ms: int
    form: list[dict[str, Any]]
    status: str = "PENDING"
    end_ms: int = 0
    reverted: bool = False
    tasks: list[_Task] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    last_event: dict[str, Any] | None = None

    def as_data(self) -> dict[str, Any]:
        """The ``data`` of ``GET instances/:id`` (contracts §3.2), widget names filled in from the definition."""
        return {
            "approval_name": self.definition.name, "approval_code": self.definition.approval_code,
            "instance_code": self.instance_code, "start_time": str(self.start_ms), "end_time": str(self.end_ms),
            "user_id": self.user_id, "open_id": self.open_id, "serial_number": self.serial_number,
            "department_id": self.department_id, "status": self.status, "uuid": self.uuid,
            "form": _form_dumps(_named(self.form, self.definition.widgets)),
            "task_list": [{"id": t.task_id, "open_id": t.open_id, "status": t.status, "node_name": "审批",
                           "start_time": str(t.start_ms), "end_time": str(t.end_ms)} for t in self.tasks],
            "comment_list": [], "timeline": self.timeline, "reverted": self.reverted,
        }


def _named(items: list[dict[str, Any]], widgets: Sequence[_Widget]) -> list[dict[str, Any]]:
    by_id = {w.id: w for w in widgets}
    out = []
    for item in items:
        widget = by_id.get(str(item.get("id")))
        value = item.get("value")
        if widget is not None and widget.type == "fieldList" and isinstance(value, list):
            value = [_named(row, widget.children) if isinstance(row, list) else row for row in value]
        out.append({**item, "value": value, **({"name": widget.name} if widget is not None else {})})
    return out


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"缺少必填参数 {name}")
    return value


class TenantState:
    """The tenant half of :class:`~huiliu.sandbox.feishu.FeishuSandbox`: definitions, instances, events.

    A mixin: the attributes below are set by ``FeishuSandbox.__init__``.
    """

    app_id: str
    _app_secret: str
    tenant_key: str
    token_ttl: int
    clock: Clock
    verification_token: str
    definitions: dict[str, _Definition]
    instances: dict[str, _Instance]
    _by_uuid: dict[str, str]
    _tokens: dict[str, float]
    _rng: random.Random
    _serial: int
    _task_seq: int

    if TYPE_CHECKING:  # supplied by EventDelivery, which FeishuSandbox also inherits
        def _emit(self, event: dict[str, Any]) -> None: ...

    # ------------------------------------------------------------------ definitions

    def define_approval(self, approval_code: str, name: str, widgets: Sequence[Mapping[str, Any]]) -> None:
        """Add an approval definition: widgets ``{"id", "name", "type", "children"?: [...]}``."""
        def build(spec: Mapping[str, Any]) -> _Widget:
            return _Widget(str(spec["id"]), str(spec["name"]), str(spec["type"]),
                           tuple(build(c) for c in spec.get("children") or ()))
        self.definitions[approval_code] = _Definition(approval_code, name, tuple(build(w) for w in widgets))

    def subscribe_approval(self, approval_code: str) -> None:
        """Subscribe the app to a definition's events (what ``POST approvals/:code/subscribe`` does)."""
        self._definition(approval_code).subscribed = True

    def _definition(self, approval_code: str) -> _Definition:
        definition = self.definitions.get(approval_code)
        if definition is None:
            raise _ApiError(NOT_FOUND_CODE, f"审批定义不存在：{approval_code}")
        return definition

    # ------------------------------------------------------------------ API semantics

    def _issue_token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("app_id") != self.app_id or body.get("app_secret") != self._app_secret:
            raise _ApiError(BAD_SECRET_CODE, "app secret invalid")
        token = f"t-{secrets.token_hex(16)}"
        self._tokens[token] = self.clock.monotonic() + self.token_ttl
        return {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_ttl}

    def _instance(self, instance_code: str) -> _Instance:
        instance = self.instances.get(instance_code)
        if instance is None:
            raise _ApiError(NOT_FOUND_CODE, f"审批实例不存在：{instance_code}")
        return instance

    def _create_from_api(self, body: Mapping[str, Any]) -> str:
        definition = self._definition(_text(body, "approval_code"))
        user_id, open_id = body.get("user_id"), body.get("open_id")
        if not (isinstance(user_id, str) and user_id) and not (isinstance(open_id, str) and open_id):
            raise _invalid("user_id 与 open_id 至少填一个")
        raw_form = body.get("form")
        if not isinstance(raw_form, str):
            raise _invalid("form 必须是 JSON 字符串")
        try:
            form = json.loads(raw_form, parse_float=Decimal)
        except ValueError:
            raise _invalid("form 不是合法的 JSON") from None
        known = {w.id for w in definition.widgets}
        if not isinstance(form, list) or not all(
                isinstance(w, dict) and w.get("id") in known and isinstance(w.get("type"), str) for w in form):
            raise _invalid("form 必须是 {id, type, value} 数组，且 id 属于该审批定义")
        key = body.get("uuid")
        if key is not None and (not isinstance(key, str) or not key or len(key) > 64):
            raise _invalid("uuid 长度须为 1 到 64")
        if isinstance(key, str) and key.lower() in self._by_uuid:
            raise _ApiError(DUPLICATE_UUID_CODE, "uuid already exists")
        approvers = [str(a) for a in body.get("node_approver_open_id_list") or []
                     if isinstance(a, str)] or ["ou_manager01"]
        return self._open(definition, form, uuid_=key or "", user_id=str(user_id or ""), open_id=str(open_id or ""),
                          department_id=str(body.get("department_id") or ""), approvers=approvers)

    def _open(self, definition: _Definition, form: list[dict[str, Any]], *, uuid_: str, user_id: str, open_id: str,
              department_id: str, approvers: Sequence[str]) -> str:
        now = _ms(self.clock.now())
        self._serial += 1
        instance = _Instance(
            instance_code=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)).upper(),
            definition=definition, uuid=uuid_, user_id=user_id, open_id=open_id, department_id=department_id,
            serial_number=f"{self.clock.now():%Y%m%d}{self._serial:06d}", start_ms=now, form=form)
        instance.timeline.append({"type": "START", "create_time": str(now), "open_id": open_id})
        for approver in approvers:
            self._task_seq += 1
            instance.tasks.append(_Task(str(self._task_seq), approver, now))
        self.instances[instance.instance_code] = instance
        if uuid_:
            self._by_uuid[uuid_.lower()] = instance.instance_code
        self._instance_event(instance, "PENDING")
        return instance.instance_code

    def _list_codes(self, query: Mapping[str, str]) -> dict[str, Any]:
        definition = self._definition(_text(query, "approval_code"))
        try:
            start, end = int(query["start_time"]), int(query["end_time"])
            size = int(query.get("page_size") or _MAX_PAGE)
            offset = int(query.get("page_token") or 0)
        except (KeyError, ValueError):
            raise _invalid("start_time/end_time 须为毫秒时间戳，page_size/page_token 须为整数") from None
        if not 1 <= size <= _MAX_PAGE or end < start or offset < 0:
            raise _invalid(f"page_size 须在 1 到 {_MAX_PAGE} 之间，end_time 不能早于 start_time")
        codes = [i.instance_code for i in self.instances.values()
                 if i.definition is definition and start <= i.start_ms <= end]
        more = offset + size < len(codes)
        data: dict[str, Any] = {"instance_code_list": codes[offset:offset + size], "has_more": more}
        if more:
            data["page_token"] = str(offset + size)
        return data

    # ------------------------------------------------------------------ status machine

    def _move(self, instance: _Instance, status: str, task_status: str, operator: str) -> None:
        if instance.status != "PENDING":
            raise ValueError(f"instance {instance.instance_code} is {instance.status}, not PENDING")
        now = _ms(self.clock.now())
        for task in instance.tasks:
            if task.status == "PENDING":
                task.status, task.end_ms = task_status, now
        instance.status, instance.end_ms = status, now
        instance.timeline.append({"type": status, "create_time": str(now), "open_id": operator})
        self._instance_event(instance, status)

    def _revert(self, instance: _Instance) -> None:
        if instance.status != "APPROVED" or instance.reverted:
            raise ValueError(f"only an APPROVED instance can be reverted, {instance.instance_code} is "
                             f"{instance.status}{' (reverted)' if instance.reverted else ''}")
        instance.reverted = True
        instance.timeline.append({"type": "REVERTED", "create_time": str(_ms(self.clock.now())),
                                  "open_id": instance.open_id})
        self._instance_event(instance, "REVERTED")  # event-only status; get keeps APPROVED + reverted

    # ------------------------------------------------------------------ events

    def _instance_event(self, instance: _Instance, status: str) -> None:
        """A v1 ``approval_instance`` event (contracts §3.3), emitted only for subscribed definitions."""
        now = self.clock.now()
        operate = _ms(now)
        event = {"ts": f"{now.timestamp():.7f}", "uuid": secrets.token_hex(16), "token": self.verification_token,
                 "type": "event_callback",
                 "event": {"app_id": self.app_id, "tenant_key": self.tenant_key, "type": "approval_instance",
                           "approval_code": instance.definition.approval_code,
                           "instance_code": instance.instance_code, "status": status, "operate_time": operate,
                           "instance_operate_time": str(operate), "uuid": instance.uuid}}
        instance.last_event = event
        if instance.definition.subscribed:
            self._emit(event)
