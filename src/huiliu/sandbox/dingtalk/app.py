"""DingTalk sandbox HTTP surface: the aiohttp routes, tokens on requests, fault replies, demo helpers.

Owns: :class:`DingTalkSandbox` itself (its constructor and all state it holds), the v1.0 routes and
``/_sandbox/*`` control routes, per-request fault injection, error bodies, and the business helpers the
demo calls (:meth:`DingTalkSandbox.start_claim`, :meth:`DingTalkSandbox.finish`). Does not own: what
an operation does to the tenant (:mod:`.state`) or callback delivery (:mod:`.callbacks`).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from huiliu.crypto import MsgCrypt
from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import ClaimSpec, Company, ContractSpec, PaymentSpec, RequisitionSpec
from huiliu.sandbox.dingtalk.callbacks import CallbackDelivery
from huiliu.sandbox.dingtalk.directory import OrgDirectory
from huiliu.sandbox.dingtalk.state import TenantState, _ApiError, _cell, _dumps, _Instance, _table_value, _text
from huiliu.sandbox.dingtalk.stream import StreamDelivery
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan

__all__ = ["AUTH_HEADER", "CONTRACT_PROCESS_CODE", "PAYMENT_PROCESS_CODE", "THROTTLING_CODE", "DingTalkSandbox"]

AUTH_HEADER = "x-acs-dingtalk-access-token"

THROTTLING_CODE = "Throttling"
"""``code`` of the new API's 429 body. Unconfirmed (contracts §1.6 found no name for it)."""

PAYMENT_PROCESS_CODE = "PROC-PAYMENT"
"""The processCode of the demo's 付款申请 (payment request) template; see :meth:`DingTalkSandbox.start_payment`."""

CONTRACT_PROCESS_CODE = "PROC-CONTRACT"
"""The processCode of the demo's 合同审批 (purchase contract) template; see :meth:`DingTalkSandbox.start_contract`."""

_BAD_TOKEN = {"code": "InvalidAuthentication", "message": "不合法的access_token"}


class DingTalkSandbox(TenantState, StreamDelivery, CallbackDelivery):
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
        self.stream_enabled = False
        self.stream_acks_of_system = 0
        self._stream_tickets: set[str] = set()
        self._stream_sockets: list[web.WebSocketResponse] = []
        self._stream_unacked: dict[str, dict[str, Any]] = {}
        self._stream_acked: dict[str, asyncio.Event] = {}
        self.directory = OrgDirectory(company)
        """The organisation (通讯录) the legacy ``topapi`` directory routes list."""
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
            ("POST", "/v1.0/gateway/connections/open", self._open_connection),
            ("GET", "/_stream/connect", self._connect),
            ("POST", "/topapi/v2/department/listsub", self._legacy_handler("department_listsub")),
            ("POST", "/topapi/v2/user/list", self._legacy_handler("user_list")),
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

    def _legacy_handler(self, operation: str) -> Any:
        """A legacy ``oapi`` route: token in the query, HTTP 200 with ``errcode`` for every refusal."""
        async def handle(request: web.Request) -> web.Response:
            self.calls[operation] += 1
            fault = self.faults.draw(operation)
            if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
                return self._reply({"errcode": 90018, "errmsg": "当前接口调用过于频繁"})
            if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
                return self._error(503, "ServiceUnavailable", "服务暂不可用")
            expiry = self._tokens.get(request.query.get("access_token", ""))
            if expiry is None or expiry <= self.clock.monotonic():
                return self._reply({"errcode": 40014, "errmsg": "不合法的access_token"})
            try:
                body = await request.json(loads=json.loads)
            except ValueError:
                return self._reply({"errcode": 40035, "errmsg": "不合法的参数：请求体不是 JSON"})
            if not isinstance(body, dict):
                return self._reply({"errcode": 40035, "errmsg": "不合法的参数：请求体必须是 JSON 对象"})
            if operation == "department_listsub":
                return self._reply(self.directory.list_sub(body))
            return self._reply(self.directory.list_users(body))

        return handle

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

    def start_requisition(self, spec: RequisitionSpec, process_code: str = "PROC-PURCHASE") -> str:
        """Submit a generated purchase requisition (采购申请) as a RUNNING instance; return its instance id."""
        employee = spec.employee
        user = employee.oa_user_id or employee.number
        rows = [[_cell("TextField_item", "物品名称", line.item_name, "TextField"),
                 _cell("TextField_code", "物品编码", line.item_code, "TextField"),
                 _cell("TextField_unit", "单位", line.unit, "TextField"),
                 _cell("NumberField_qty", "数量", f"{line.quantity}", "NumberField"),
                 _cell("MoneyField_price", "单价", f"{line.unit_price:.2f}", "MoneyField"),
                 _cell("TextField_note", "说明", line.description, "TextField")] for line in spec.lines]
        table = _cell("TableField_lines", "采购明细", _table_value(rows), "TableField")
        table["details"] = [{"details": row} for row in rows]
        form = [_cell("TextareaField_reason", "采购事由", spec.reason, "TextareaField"),
                _cell("TextField_supplier", "供应商", spec.supplier_name, "TextField"),
                _cell("TextField_supplier_code", "供应商编码", spec.supplier_code, "TextField"),
                _cell("TextField_tax_id", "统一社会信用代码", spec.supplier_tax_id, "TextField"),
                _cell("MoneyField_total", "合计金额", f"{spec.total:.2f}", "MoneyField"), table]
        return self._open(process_code, f"{employee.name}提交的采购申请", user, employee.department_number,
                          form=form, approvers=[self._default_approver(user)])

    def start_payment(self, spec: PaymentSpec, process_code: str = PAYMENT_PROCESS_CODE) -> str:
        """Submit a generated payment request (付款申请) as a RUNNING instance; return its instance id.

        The 付款日期 is a ``DDDateField`` holding ``yyyy-MM-dd``, as a date-only field shows it.
        """
        employee = spec.employee
        user = employee.oa_user_id or employee.number
        form = [_cell("TextareaField_reason", "付款事由", spec.reason, "TextareaField"),
                _cell("TextField_supplier", "供应商", spec.supplier_name, "TextField"),
                _cell("TextField_supplier_code", "供应商编码", spec.supplier_code, "TextField"),
                _cell("TextField_tax_id", "统一社会信用代码", spec.supplier_tax_id, "TextField"),
                _cell("MoneyField_amount", "付款金额", f"{spec.amount:.2f}", "MoneyField"),
                _cell("TextField_invoice", "发票号", spec.invoice_number, "TextField"),
                _cell("DDDateField_pay_date", "付款日期", spec.pay_date.isoformat(), "DDDateField")]
        return self._open(process_code, f"{employee.name}提交的付款申请", user, employee.department_number,
                          form=form, approvers=[self._default_approver(user)])

    def start_contract(self, spec: ContractSpec, process_code: str = CONTRACT_PROCESS_CODE) -> str:
        """Submit a generated contract approval (合同审批) as a RUNNING instance; return its instance id.

        The dates are ``DDDateField`` values ``yyyy-MM-dd``; 币种 is a ``DDSelectField`` showing ``人民币``; an
        unnumbered contract leaves 合同编号 empty, as a form with an optional field left blank does.
        """
        employee = spec.employee
        user = employee.oa_user_id or employee.number
        form = [_cell("TextField_name", "合同名称", spec.name, "TextField"),
                _cell("TextField_contract_no", "合同编号", spec.contract_number or "", "TextField"),
                _cell("TextField_supplier", "供应商名称", spec.supplier_name, "TextField"),
                _cell("TextField_tax_id", "统一社会信用代码", spec.supplier_tax_id, "TextField"),
                _cell("MoneyField_amount", "合同金额", f"{spec.amount:.2f}", "MoneyField"),
                _cell("DDSelectField_currency", "币种", spec.currency, "DDSelectField"),
                _cell("DDDateField_signed", "签订日期", spec.signed_on.isoformat(), "DDDateField"),
                _cell("DDDateField_start", "开始日期", spec.start.isoformat(), "DDDateField"),
                _cell("DDDateField_end", "结束日期", spec.end.isoformat(), "DDDateField"),
                _cell("TextareaField_terms", "付款条件", spec.payment_terms, "TextareaField")]
        return self._open(process_code, f"{employee.name}提交的合同审批", user, employee.department_number,
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

