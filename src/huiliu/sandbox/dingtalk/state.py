"""DingTalk sandbox tenant state: approval instances, their tasks and records, and the events they raise.

Owns: the ``_Instance`` / ``_Task`` records and their GetProcessInstance shape, form building
(``_cell``, ``_table_value``), parameter checks, the API semantics the routes apply (token issue,
create, list, execute, terminate, comment) and the ``bpms_instance_change`` / ``bpms_task_change``
events they produce. Does not own: HTTP routing and fault replies (:mod:`.app`) or getting events to
the hub (:mod:`.callbacks`, which supplies ``_emit``).
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from huiliu.model import Clock
from huiliu.sandbox.company import Company

__all__ = ["COMMENT_RECORD_TYPE", "TASK_RESULT_AGREE", "TASK_RESULT_REFUSE", "TenantState"]

COMMENT_RECORD_TYPE = "ADD_REMARK"
"""``operationRecords[].type`` of a comment. Unconfirmed: no stored source names it; the connector's
``comment_record_type`` setting must match whatever a real tenant returns."""

TASK_RESULT_AGREE = "AGREE"
TASK_RESULT_REFUSE = "REFUSE"
"""``tasks[].result`` / ``operationRecords[].result`` values. The casing in the new API is unconfirmed
(legacy uses ``agree``/``refuse``); the connector compares case-insensitively."""

_DAY_MS = 86_400_000
_LIST_WINDOW_MS = 120 * _DAY_MS
_MAX_RESULTS = 20
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _utc_minute(ms: int) -> str:
    """The v1.0 API's time format, UTC ``yyyy-MM-ddTHH:mmZ`` (minute precision, per the SDK comment)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> _ApiError:
    # The exact code for a bad parameter in the v1.0 API is unconfirmed; the shape follows §1.6.
    return _ApiError(400, "InvalidParameter", message)


@dataclass
class _Task:
    task_id: int
    user_id: str
    create_ms: int
    status: str = "RUNNING"
    result: str = "NONE"
    finish_ms: int | None = None


@dataclass
class _Instance:
    instance_id: str
    process_code: str
    title: str
    business_id: str
    originator_user_id: str
    originator_dept_id: str
    create_ms: int
    form: list[dict[str, Any]]
    status: str = "RUNNING"
    result: str = ""
    finish_ms: int | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[_Task] = field(default_factory=list)
    last_event: dict[str, Any] | None = None

    def as_result(self) -> dict[str, Any]:
        """The ``result`` object of GetProcessInstance (§1.3)."""
        out: dict[str, Any] = {
            "title": self.title, "status": self.status, "result": self.result,
            "businessId": self.business_id, "bizAction": "NONE", "bizData": "",
            "createTime": _utc_minute(self.create_ms),
            "originatorUserId": self.originator_user_id, "originatorDeptId": self.originator_dept_id,
            "originatorDeptName": "", "approverUserIds": [t.user_id for t in self.tasks], "ccUserIds": [],
            "attachedProcessInstanceIds": [], "mainProcessInstanceId": "",
            "formComponentValues": self.form, "operationRecords": self.records,
            "tasks": [{"taskId": t.task_id, "userId": t.user_id, "status": t.status, "result": t.result,
                       "activityId": "approve", "processInstanceId": self.instance_id,
                       "createTime": _utc_minute(t.create_ms),
                       **({"finishTime": _utc_minute(t.finish_ms)} if t.finish_ms is not None else {})}
                      for t in self.tasks],
        }
        if self.finish_ms is not None:
            out["finishTime"] = _utc_minute(self.finish_ms)
        return out


class TenantState:
    """The tenant half of :class:`~huiliu.sandbox.dingtalk.DingTalkSandbox`: instances, tasks, events.

    A mixin: the attributes below are set by ``DingTalkSandbox.__init__``.
    """

    app_key: str
    _app_secret: str
    corp_id: str
    company: Company | None
    token_ttl: int
    clock: Clock
    instances: dict[str, _Instance]
    comments: int
    _tokens: dict[str, float]
    _rng: random.Random
    _business_seq: int
    _task_seq: int

    if TYPE_CHECKING:  # supplied by CallbackDelivery, which DingTalkSandbox also inherits
        def _emit(self, event: dict[str, Any]) -> None: ...

    # ------------------------------------------------------------------ API semantics

    def _issue_token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("appKey") != self.app_key or body.get("appSecret") != self._app_secret:
            # Code and message as commonly reported for a wrong appKey/appSecret; unconfirmed (§1.1).
            raise _ApiError(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = secrets.token_hex(16)
        self._tokens[token] = self.clock.monotonic() + self.token_ttl
        return {"accessToken": token, "expireIn": self.token_ttl}

    def _instance(self, instance_id: str) -> _Instance:
        instance = self.instances.get(instance_id)
        if instance is None:
            # The v1.0 API's code for an unknown instance is unconfirmed.
            raise _invalid(f"流程实例不存在：{instance_id!r}")
        return instance

    def _create_from_api(self, body: Mapping[str, Any]) -> str:
        process_code = _text(body, "processCode")
        originator = _text(body, "originatorUserId")
        values = body.get("formComponentValues") or []
        if not isinstance(values, list) or not all(isinstance(v, dict) and v.get("name") for v in values):
            raise _invalid("formComponentValues 必须是 {name, value} 对象的数组")
        approvers: list[str] = []
        for group in body.get("approvers") or []:
            if isinstance(group, dict):
                approvers.extend(str(u) for u in group.get("userIds") or [])
        form = [{"id": str(v.get("id") or f"Field_{i}"), "name": str(v["name"]), "value": v.get("value", ""),
                 "componentType": str(v.get("componentType") or "TextField"),
                 "bizAlias": str(v.get("bizAlias") or ""), "extValue": str(v.get("extValue") or ""),
                 **({"details": v["details"]} if isinstance(v.get("details"), list) else {})}
                for i, v in enumerate(values)]
        employee = self.company.by_user_id.get(originator) if self.company else None
        who = employee.name if employee else originator
        dept = str(body.get("deptId", employee.department_number if employee else "-1"))
        return self._open(process_code, f"{who}提交的审批", originator, dept, form=form,
                          approvers=approvers or [self._default_approver(originator)])

    def _default_approver(self, originator: str) -> str:
        if self.company is not None:
            others = [e for e in self.company.employees if e.oa_user_id and e.oa_user_id != originator]
            finance = [e for e in others if e.department_number == "BM02"]
            chosen = (finance or others)[:1]
            if chosen and chosen[0].oa_user_id:
                return chosen[0].oa_user_id
        return "manager01"

    def _open(self, process_code: str, title: str, originator: str, dept: str, *, form: list[dict[str, Any]],
              approvers: Sequence[str]) -> str:
        now = _ms(self.clock.now())
        self._business_seq += 1
        instance = _Instance(
            instance_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            process_code=process_code, title=title,
            business_id=f"{self.clock.now():%Y%m%d}{self._business_seq:04d}",
            originator_user_id=originator, originator_dept_id=dept, create_ms=now, form=form)
        instance.records.append({"userId": originator, "date": _utc_minute(now),
                                 "type": "START_PROCESS_INSTANCE", "result": "NONE", "showName": "发起审批"})
        self.instances[instance.instance_id] = instance
        self._instance_event(instance, "start", originator)
        for user in approvers:
            self._task_seq += 1
            task = _Task(self._task_seq, user, now)
            instance.tasks.append(task)
            self._task_event(instance, task, "start")
        return instance.instance_id

    def _list_ids(self, body: Mapping[str, Any]) -> dict[str, Any]:
        process_code = _text(body, "processCode")
        now = _ms(self.clock.now())
        start, end = _int(body, "startTime"), int(body.get("endTime") or now)
        size = int(body.get("maxResults") or _MAX_RESULTS)
        offset = int(body.get("nextToken") or 0)
        if not 1 <= size <= _MAX_RESULTS:
            raise _invalid(f"maxResults 必须在 1 到 {_MAX_RESULTS} 之间")
        if start < now - _LIST_WINDOW_MS or end - start > _LIST_WINDOW_MS:
            raise _invalid("startTime 不能早于 120 天前，且时间窗口不能超过 120 天")
        users = set(body.get("userIds") or [])
        statuses = {str(s).upper() for s in body.get("statuses") or []}
        ids = [i.instance_id for i in self.instances.values()
               if i.process_code == process_code and start <= i.create_ms <= end
               and (not users or i.originator_user_id in users) and (not statuses or i.status in statuses)]
        page: dict[str, Any] = {"list": ids[offset:offset + size]}
        if offset + size < len(ids):
            page["nextToken"] = str(offset + size)
        return page

    def _execute_task(self, body: Mapping[str, Any]) -> None:
        instance = self._instance(_text(body, "processInstanceId"))
        actioner = _text(body, "actionerUserId")
        result = _text(body, "result").lower()
        if result not in ("agree", "refuse"):
            raise _invalid("result 必须是 agree 或 refuse")
        task = next((t for t in instance.tasks if str(t.task_id) == str(body.get("taskId"))), None)
        if task is None or task.status != "RUNNING" or instance.status != "RUNNING":
            raise _invalid(f"任务 {body.get('taskId')} 不存在或已处理")
        if task.user_id != actioner:
            raise _invalid(f"任务 {task.task_id} 不属于用户 {actioner}")
        self._decide(instance, task, result, str(body.get("remark") or ""))

    def _decide(self, instance: _Instance, task: _Task, result: str, remark: str) -> None:
        now = _ms(self.clock.now())
        task.status, task.result, task.finish_ms = "COMPLETED", result.upper(), now
        instance.records.append({"userId": task.user_id, "date": _utc_minute(now),
                                 "type": "EXECUTE_TASK_NORMAL", "result": result.upper(), "remark": remark,
                                 "showName": "审批人"})
        self._task_event(instance, task, "finish", result=result, remark=remark)
        if result == "agree" and any(t.status == "RUNNING" for t in instance.tasks):
            return  # 会签: every approver must agree
        for other in instance.tasks:
            if other.status == "RUNNING":
                other.status, other.finish_ms = "CANCELED", now
                self._task_event(instance, other, "cancel")
        instance.status, instance.result, instance.finish_ms = "COMPLETED", result, now
        self._instance_event(instance, "finish", task.user_id, result=result)

    def _terminate_instance(self, instance: _Instance, operator: str, remark: str) -> None:
        if instance.status != "RUNNING":
            raise _invalid(f"流程实例 {instance.instance_id} 已结束，无法撤销")
        now = _ms(self.clock.now())
        for task in instance.tasks:
            if task.status == "RUNNING":
                task.status, task.finish_ms = "CANCELED", now
                self._task_event(instance, task, "cancel")
        instance.records.append({"userId": operator or instance.originator_user_id, "date": _utc_minute(now),
                                 "type": "TERMINATE_PROCESS_INSTANCE", "result": "NONE", "remark": remark})
        instance.status, instance.finish_ms = "TERMINATED", now
        self._instance_event(instance, "terminate", operator or instance.originator_user_id)

    def _add_comment(self, body: Mapping[str, Any]) -> None:
        instance = self._instance(_text(body, "processInstanceId"))
        text, user = _text(body, "text"), _text(body, "commentUserId")
        instance.records.append({"userId": user, "date": _utc_minute(_ms(self.clock.now())),
                                 "type": COMMENT_RECORD_TYPE, "result": "NONE", "remark": text,
                                 "showName": "评论"})
        self.comments += 1

    # ------------------------------------------------------------------ events

    def _base_event(self, instance: _Instance, event_type: str, kind: str, staff: str) -> dict[str, Any]:
        return {"EventType": event_type, "processInstanceId": instance.instance_id, "corpId": self.corp_id,
                "processCode": instance.process_code, "title": instance.title, "type": kind, "staffId": staff,
                "createTime": instance.create_ms, "businessId": instance.business_id, "bizCategoryId": "",
                "url": f"https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm#/approval?procInstId="
                       f"{instance.instance_id}"}

    def _instance_event(self, instance: _Instance, kind: str, staff: str, result: str | None = None) -> None:
        event = self._base_event(instance, "bpms_instance_change", kind, staff)
        if result is not None:
            event["result"] = result
        if instance.finish_ms is not None:
            event["finishTime"] = instance.finish_ms
        instance.last_event = event
        self._emit(event)

    def _task_event(self, instance: _Instance, task: _Task, kind: str, result: str | None = None,
                    remark: str | None = None) -> None:
        event = self._base_event(instance, "bpms_task_change", kind, task.user_id)
        event["taskId"] = task.task_id
        event["createTime"] = task.create_ms
        if result is not None:
            event["result"] = result
        if remark is not None:
            event["remark"] = remark
        if task.finish_ms is not None:
            event["finishTime"] = task.finish_ms
        self._emit(event)


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise _invalid(f"缺少必填参数 {name}")
    return str(value)


def _int(body: Mapping[str, Any], name: str) -> int:
    try:
        return int(body[name])
    except (KeyError, TypeError, ValueError):
        raise _invalid(f"参数 {name} 必须是毫秒时间戳") from None


def _cell(field_id: str, name: str, value: str, component: str) -> dict[str, Any]:
    return {"id": field_id, "name": name, "value": value, "componentType": component, "bizAlias": "",
            "extValue": ""}


def _table_value(rows: Sequence[Sequence[Mapping[str, Any]]]) -> str:
    """The JSON string a TableField carries in ``value``.

    The real encoding inside ``value`` is unconfirmed (contracts §1.2); this guess follows the legacy
    ``rowValue``/``label``/``value`` shape. The connector reads ``details`` instead.
    """
    return _dumps([{"rowValue": [{"label": c["name"], "key": c["id"], "value": c["value"]} for c in row]}
                   for row in rows])

