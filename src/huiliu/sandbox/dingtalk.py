"""The DingTalk (钉钉) sandbox: the v1.0 workflow API and encrypted HTTP callbacks (contracts §1).

Owns: access tokens with expiry, approval instances (create, get, list, execute, terminate, comment), the
``bpms_instance_change`` / ``bpms_task_change`` events with their encrypted delivery and retries, fault
injection per request, and a few business helpers the demo uses (:meth:`DingTalkSandbox.start_claim`,
:meth:`DingTalkSandbox.finish`). Does not own: the hub's side of any of this — the connector in
``huiliu.connectors.dingtalk`` is tested against this sandbox and must not be imported here.

Handlers do dictionary work only, so a benchmark can push hundreds of approvals a second through it.
Business methods and handlers must run on the loop that serves the app; from another thread use
``SandboxServer.run_coroutine``.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from huiliu.crypto import CryptoError, MsgCrypt
from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import ClaimSpec, Company
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan

__all__ = [
    "COMMENT_RECORD_TYPE",
    "TASK_RESULT_AGREE",
    "TASK_RESULT_REFUSE",
    "THROTTLING_CODE",
    "DeliveryStats",
    "DingTalkSandbox",
]

AUTH_HEADER = "x-acs-dingtalk-access-token"

COMMENT_RECORD_TYPE = "ADD_REMARK"
"""``operationRecords[].type`` of a comment. Unconfirmed: no stored source names it; the connector's
``comment_record_type`` setting must match whatever a real tenant returns."""

THROTTLING_CODE = "Throttling"
"""``code`` of the new API's 429 body. Unconfirmed (contracts §1.6 found no name for it)."""

TASK_RESULT_AGREE = "AGREE"
TASK_RESULT_REFUSE = "REFUSE"
"""``tasks[].result`` / ``operationRecords[].result`` values. The casing in the new API is unconfirmed
(legacy uses ``agree``/``refuse``); the connector compares case-insensitively."""

_BAD_TOKEN = {"code": "InvalidAuthentication", "message": "不合法的access_token"}
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


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Callback delivery counters.

    Attributes:
        delivered: events acknowledged with a valid encrypted ``success``.
        failed_attempts: attempts that timed out, failed or got a bad reply (each retry counts).
        pending: events not yet delivered nor given up.
        gave_up: events dropped after the last retry.
    """

    delivered: int
    failed_attempts: int
    pending: int
    gave_up: int


class DingTalkSandbox:
    """A DingTalk tenant in memory, served as an aiohttp application (``.app``).

    Args:
        app_key: the app's appKey (``AppKey``/``clientId``).
        app_secret: the app's appSecret.
        corp_id: the tenant's corpId, put in every event.
        callback_token: the event subscription's token.
        aes_key: the subscription's 43-character EncodingAESKey.
        company: master data for :meth:`start_claim` (names, departments, approvers).
        token_ttl: seconds an access token lives (``expireIn``).
        clock: time source for token expiry, record times and callback timestamps.
        faults: the fault plan drawn once per request and once per callback attempt.
        ack_timeout: seconds the hub has to answer a callback.
        retry_schedule: seconds between callback attempts; DingTalk's real schedule is unconfirmed.
        max_concurrent_deliveries: callbacks in flight at once.
        receive_id: the id sealed into callbacks; appKey for 企业内部应用 event subscriptions (default),
            corpId for legacy ``register_call_back``, suiteKey for ISV apps (§1.4).
        seed: seeds instance ids, so a run can be repeated.
    """

    def __init__(self, *, app_key: str, app_secret: str, corp_id: str, callback_token: str, aes_key: str,
                 company: Company | None = None, token_ttl: int = 7200, clock: Clock | None = None,
                 faults: FaultPlan | None = None, ack_timeout: float = 1.5,
                 retry_schedule: Sequence[float] = (1, 2, 4, 8, 16, 32),
                 max_concurrent_deliveries: int = 64, receive_id: str | None = None, seed: int = 0) -> None:
        self.app_key = app_key
        self._app_secret = app_secret
        self.corp_id = corp_id
        self.company = company
        self.token_ttl = token_ttl
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.ack_timeout = ack_timeout
        self.retry_schedule = tuple(retry_schedule)
        self.crypt = MsgCrypt(callback_token, aes_key, receive_id or app_key)
        self.instances: dict[str, _Instance] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.comments = 0
        self.callback_url: str | None = None
        self._tokens: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._business_seq = 0
        self._task_seq = 60_000_000_000
        self._delivered = 0
        self._failed_attempts = 0
        self._gave_up = 0
        self._pending = 0
        self._backlog: list[dict[str, Any]] = []
        self._semaphore = asyncio.Semaphore(max_concurrent_deliveries)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = self._build_app()

    # ------------------------------------------------------------------ HTTP plumbing

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        routes = [
            ("POST", "/v1.0/oauth2/accessToken", self._token),
            ("POST", "/v1.0/workflow/processInstances", self._create),
            ("GET", "/v1.0/workflow/processInstances", self._get),
            ("POST", "/v1.0/workflow/processes/instanceIds/query", self._list),
            ("POST", "/v1.0/workflow/processInstances/execute", self._execute),
            ("POST", "/v1.0/workflow/processInstances/terminate", self._terminate),
            ("POST", "/v1.0/workflow/processInstances/comments", self._comment),
            ("POST", "/_sandbox/faults", self._configure_faults),
            ("GET", "/_sandbox/state", self._state),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @staticmethod
    def _reply(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        return web.json_response(data, status=status, headers=headers, dumps=_dumps)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)  # never written: the connection is gone

    def _error(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
               ) -> web.Response:
        return self._reply({"code": code, "requestid": secrets.token_hex(8), "message": message},
                           status, headers)

    async def _serve(self, request: web.Request, operation: str, *, auth: bool = True) -> tuple[
            dict[str, Any] | None, Fault | None, web.Response | None]:
        """Draw the fault, check the token, parse a POST body: ``(body, fault, early reply)``."""
        self.calls[operation] += 1
        fault = self.faults.draw(operation)
        if fault is not None:
            if fault.kind is FaultKind.EXPIRED_TOKEN:
                self._tokens.pop(request.headers.get(AUTH_HEADER, ""), None)
                return None, fault, self._error(400, _BAD_TOKEN["code"], _BAD_TOKEN["message"])
            if fault.kind is FaultKind.RATE_LIMIT:
                return None, fault, self._error(
                    429, THROTTLING_CODE, "请求被限流，请稍后重试",
                    {"Retry-After": f"{max(fault.retry_after, 0):g}"})
            if fault.kind is FaultKind.SERVER_ERROR:
                return None, fault, self._error(503, "ServiceUnavailable", "服务暂不可用")
            if fault.kind is FaultKind.DROP:
                return None, fault, self._drop(request)
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
        if auth:
            expiry = self._tokens.get(request.headers.get(AUTH_HEADER, ""))
            if expiry is None or expiry <= self.clock.monotonic():
                return None, fault, self._error(400, _BAD_TOKEN["code"], _BAD_TOKEN["message"])
        if request.method != "POST":
            return {}, fault, None
        try:
            body = await request.json(loads=json.loads)
        except ValueError:
            return None, fault, self._error(400, "InvalidParameter", "请求体不是合法的 JSON")
        if not isinstance(body, dict):
            return None, fault, self._error(400, "InvalidParameter", "请求体必须是 JSON 对象")
        return body, fault, None

    def _finish_reply(self, request: web.Request, fault: Fault | None, data: Any) -> web.Response:
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            return self._drop(request)
        return self._reply(data)

    async def _run(self, request: web.Request, operation: str, auth: bool = True) -> web.Response:
        body, fault, early = await self._serve(request, operation, auth=auth)
        if early is not None:
            return early
        assert body is not None
        try:
            data = self._apply(operation, request, body)
        except _ApiError as exc:
            return self._error(exc.status, exc.code, exc.message)
        return self._finish_reply(request, fault, data)

    def _apply(self, operation: str, request: web.Request, body: dict[str, Any]) -> Any:
        if operation == "token":
            return self._issue_token(body)
        if operation == "create_instance":
            return {"instanceId": self._create_from_api(body)}
        if operation == "get_instance":
            instance = self._instance(request.query.get("processInstanceId", ""))
            return {"success": True, "result": instance.as_result()}
        if operation == "list_instances":
            return {"success": True, "result": self._list_ids(body)}
        if operation == "execute":
            self._execute_task(body)
            return {"success": True, "result": True}
        if operation == "terminate":
            self._terminate_instance(self._instance(_text(body, "processInstanceId")),
                                     _text(body, "operatingUserId"), str(body.get("remark") or ""))
            return {"success": True, "result": True}
        self._add_comment(body)
        return {"result": True, "success": True}

    async def _token(self, request: web.Request) -> web.Response:
        return await self._run(request, "token", auth=False)

    async def _create(self, request: web.Request) -> web.Response:
        return await self._run(request, "create_instance")

    async def _get(self, request: web.Request) -> web.Response:
        return await self._run(request, "get_instance")

    async def _list(self, request: web.Request) -> web.Response:
        return await self._run(request, "list_instances")

    async def _execute(self, request: web.Request) -> web.Response:
        return await self._run(request, "execute")

    async def _terminate(self, request: web.Request) -> web.Response:
        return await self._run(request, "terminate")

    async def _comment(self, request: web.Request) -> web.Response:
        return await self._run(request, "comment")

    async def _configure_faults(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise TypeError("spec must be a JSON object")
            self.faults.configure(spec)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._error(400, "InvalidParameter", f"bad fault spec: {exc}")
        return self._reply({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        return self._reply(self.state())

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

    # ------------------------------------------------------------------ business helpers

    def start_claim(self, spec: ClaimSpec, process_code: str = "PROC-EXPENSE") -> str:
        """Submit a generated expense claim (报销单) as a RUNNING instance; return its instance id."""
        employee = spec.employee
        user = employee.oa_user_id or employee.number
        rows = [[_cell("DDSelectField_type", "费用类型", item.expense_type, "DDSelectField"),
                 _cell("MoneyField_amount", "金额", f"{item.amount:.2f}", "MoneyField"),
                 _cell("TextField_desc", "费用说明", item.description, "TextField")] for item in spec.items]
        table = _cell("TableField_items", "费用明细", _table_value(rows), "TableField")
        table["details"] = [{"details": row} for row in rows]
        form = [_cell("TextareaField_reason", "报销事由", spec.reason, "TextareaField"),
                _cell("MoneyField_total", "报销总额", f"{spec.total:.2f}", "MoneyField"), table]
        return self._open(process_code, f"{employee.name}提交的报销申请", user, employee.department_number,
                          form=form, approvers=[self._default_approver(user)])

    def finish(self, instance_id: str, outcome: str) -> None:
        """End a RUNNING instance: ``approved`` / ``refused`` by its approvers, ``revoked`` by its originator.

        Raises:
            KeyError: no such instance.
            ValueError: unknown outcome, or the instance has already ended.
        """
        instance = self.instances[instance_id]
        if instance.status != "RUNNING":
            raise ValueError(f"instance {instance_id} has already ended ({instance.status})")
        if outcome == "revoked":
            self._terminate_instance(instance, instance.originator_user_id, "撤销")
        elif outcome in ("approved", "refused"):
            result = "agree" if outcome == "approved" else "refuse"
            for task in list(instance.tasks):
                if task.status == "RUNNING" and instance.status == "RUNNING":
                    self._decide(instance, task, result, "同意" if result == "agree" else "不同意")
        else:
            raise ValueError(f"outcome must be approved, refused or revoked, not {outcome!r}")

    def state(self) -> dict[str, Any]:
        """Counts for tests in other processes: instances by status, comments, callbacks, tokens."""
        stats = self.stats
        return {"instances": dict(Counter(i.status for i in self.instances.values())),
                "comments": self.comments,
                "callbacks": {"delivered": stats.delivered, "failed": stats.failed_attempts,
                              "pending": stats.pending, "gave_up": stats.gave_up},
                "calls": dict(self.calls), "faults_injected": dict(self.faults.injected)}

    # ------------------------------------------------------------------ events and delivery

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

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.callback_url is None:
            return  # nobody subscribed: DingTalk does not deliver either
        self._pending += 1
        loop = self._loop
        if loop is None:
            self._backlog.append(event)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._spawn(event)
        else:
            loop.call_soon_threadsafe(self._spawn, event)

    def subscribe(self, url: str) -> None:
        """Set the hub's callback URL; events from now on are delivered there."""
        self.callback_url = url

    def redeliver(self, instance_id: str, times: int = 1) -> None:
        """Push the instance's last ``bpms_instance_change`` event again, ``times`` times."""
        event = self.instances[instance_id].last_event
        if event is None:
            raise ValueError(f"instance {instance_id} has no event yet")
        for _ in range(times):
            self._emit(dict(event))

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        return DeliveryStats(self._delivered, self._failed_attempts, self._pending, self._gave_up)

    async def start_delivery(self) -> None:
        """Start delivering callbacks from the running loop (events queued so far go first)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._loop = asyncio.get_running_loop()
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            self._spawn(event)

    async def stop_delivery(self) -> None:
        """Cancel deliveries in flight (they stop being pending, undelivered) and close the HTTP session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_delivered(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- API the demo uses
        """Wait until no callback is pending; ``False`` if some still are after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._pending:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def _spawn(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: dict[str, Any]) -> None:
        plaintext = _dumps(event)
        try:
            for attempt in range(len(self.retry_schedule) + 1):
                if attempt:
                    await asyncio.sleep(self.retry_schedule[attempt - 1])
                async with self._semaphore:
                    ok = await self._attempt(plaintext)
                if ok:
                    self._delivered += 1
                    return
                self._failed_attempts += 1
            self._gave_up += 1
        finally:
            self._pending -= 1

    async def _attempt(self, plaintext: str) -> bool:
        """One POST, re-signed with a fresh timestamp; true only for a valid encrypted ``success``."""
        session, url = self._session, self.callback_url
        if session is None or url is None:
            return False
        fault = self.faults.draw("callback")
        if fault is not None and fault.kind is not FaultKind.SLOW:
            return False  # the hub never sees this attempt
        if fault is not None:
            await asyncio.sleep(fault.delay)
        timestamp, nonce = str(_ms(self.clock.now())), secrets.token_urlsafe(6)
        envelope = self.crypt.seal(plaintext, timestamp, nonce)
        params = {"msg_signature": envelope["msg_signature"], "timeStamp": timestamp, "nonce": nonce}
        try:
            async with session.post(url, params=params, data=_dumps({"encrypt": envelope["encrypt"]}),
                                    headers={"Content-Type": "application/json"},
                                    timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as resp:
                if resp.status != 200:
                    return False
                reply = json.loads(await resp.read())
            answer = self.crypt.open(str(reply["msg_signature"]), str(reply["timeStamp"]),
                                     str(reply["nonce"]), str(reply["encrypt"]))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, CryptoError):
            return False
        return answer == "success"


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

