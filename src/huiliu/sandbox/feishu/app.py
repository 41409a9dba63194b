"""Feishu sandbox HTTP surface: the aiohttp routes, tenant tokens on requests, fault and limit replies, helpers.

Owns: :class:`FeishuSandbox` itself (its constructor and all state it holds), the Approval v4 routes and
``/_sandbox/*`` control routes, per-request fault injection, the create limit of 100 a minute, the
``{"code", "msg", "data"}`` envelope, and the business helpers tests and the demo call
(:meth:`FeishuSandbox.start_claim`, :meth:`~FeishuSandbox.start_requisition`,
:meth:`~FeishuSandbox.start_payment`, :meth:`~FeishuSandbox.start_contract`,
:meth:`~FeishuSandbox.approve`, :meth:`~FeishuSandbox.reject`,
:meth:`~FeishuSandbox.cancel`, :meth:`~FeishuSandbox.revert`). Does not own: what an operation does to
the tenant (:mod:`.state`) or event delivery (:mod:`.callbacks`).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import ClaimSpec, Company, ContractSpec, PaymentSpec, RequisitionSpec
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.feishu.callbacks import EventDelivery
from huiliu.sandbox.feishu.directory import OrgDirectory
from huiliu.sandbox.feishu.state import TenantState, _ApiError, _Definition, _dumps, _Instance

__all__ = ["CLAIM_APPROVAL_CODE", "CONTRACT_APPROVAL_CODE", "CONTRACT_WIDGETS",
           "INVALID_TOKEN_CODE", "MISSING_TOKEN_CODE", "PAYMENT_APPROVAL_CODE",
           "PAYMENT_WIDGETS", "PURCHASE_APPROVAL_CODE", "PURCHASE_WIDGETS", "RATE_LIMIT_CODE", "FeishuSandbox"]

RATE_LIMIT_CODE = 99991400
INVALID_TOKEN_CODE = 99991663
MISSING_TOKEN_CODE = 99991661

CLAIM_APPROVAL_CODE = "7C468A54-8745-2245-9675-08B7C63E7A85"
"""The expense claim (报销) definition every sandbox starts with; see :data:`CLAIM_WIDGETS`."""

CLAIM_WIDGETS: tuple[dict[str, Any], ...] = (
    {"id": "widget_reason", "name": "报销事由", "type": "textarea"},
    {"id": "widget_total", "name": "报销总额", "type": "amount"},
    {"id": "widget_items", "name": "费用明细", "type": "fieldList", "children": [
        {"id": "widget_item_type", "name": "费用类型", "type": "radioV2"},
        {"id": "widget_item_amount", "name": "金额", "type": "amount"},
        {"id": "widget_item_desc", "name": "费用说明", "type": "input"}]},
)


PURCHASE_APPROVAL_CODE = "2E9B1C35-6A0D-4F7B-8C41-95D2E0A7B316"
"""The purchase requisition (采购申请) definition every sandbox starts with."""

PURCHASE_WIDGETS: tuple[dict[str, Any], ...] = (
    {"id": "widget_pr_reason", "name": "采购事由", "type": "textarea"},
    {"id": "widget_pr_supplier", "name": "供应商", "type": "input"},
    {"id": "widget_pr_supplier_code", "name": "供应商编码", "type": "input"},
    {"id": "widget_pr_tax_id", "name": "统一社会信用代码", "type": "input"},
    {"id": "widget_pr_total", "name": "合计金额", "type": "amount"},
    {"id": "widget_pr_lines", "name": "采购明细", "type": "fieldList", "children": [
        {"id": "widget_pr_item", "name": "物品名称", "type": "input"},
        {"id": "widget_pr_code", "name": "物品编码", "type": "input"},
        {"id": "widget_pr_unit", "name": "单位", "type": "input"},
        {"id": "widget_pr_qty", "name": "数量", "type": "number"},
        {"id": "widget_pr_price", "name": "单价", "type": "amount"},
        {"id": "widget_pr_note", "name": "说明", "type": "input"}]},
)

PAYMENT_APPROVAL_CODE = "9D4F2A71-3C8E-4B5A-A6D2-1E7F0B8C5A94"
"""The payment request (付款申请) definition every sandbox starts with."""

PAYMENT_WIDGETS: tuple[dict[str, Any], ...] = (
    {"id": "widget_pay_reason", "name": "付款事由", "type": "textarea"},
    {"id": "widget_pay_supplier", "name": "供应商", "type": "input"},
    {"id": "widget_pay_supplier_code", "name": "供应商编码", "type": "input"},
    {"id": "widget_pay_tax_id", "name": "统一社会信用代码", "type": "input"},
    {"id": "widget_pay_amount", "name": "付款金额", "type": "amount"},
    {"id": "widget_pay_invoice", "name": "发票号", "type": "input"},
    {"id": "widget_pay_date", "name": "付款日期", "type": "date"},
)


CONTRACT_APPROVAL_CODE = "5B8E3F60-2D7A-4C19-9E45-7A1C0D6B2F83"
"""The purchase contract (合同审批) definition every sandbox starts with."""

CONTRACT_WIDGETS: tuple[dict[str, Any], ...] = (
    {"id": "widget_ct_name", "name": "合同名称", "type": "input"},
    {"id": "widget_ct_number", "name": "合同编号", "type": "input"},
    {"id": "widget_ct_supplier", "name": "供应商名称", "type": "input"},
    {"id": "widget_ct_tax_id", "name": "统一社会信用代码", "type": "input"},
    {"id": "widget_ct_amount", "name": "合同金额", "type": "amount"},
    {"id": "widget_ct_currency", "name": "币种", "type": "radioV2"},
    {"id": "widget_ct_signed", "name": "签订日期", "type": "date"},
    {"id": "widget_ct_start", "name": "开始日期", "type": "date"},
    {"id": "widget_ct_end", "name": "结束日期", "type": "date"},
    {"id": "widget_ct_terms", "name": "付款条件", "type": "textarea"},
)


def _number(value: Decimal) -> Decimal:
    """An amount as the JSON number Feishu forms carry; written with all its digits by the form writer."""
    return value


class FeishuSandbox(TenantState, EventDelivery):
    """A Feishu tenant in memory, served as an aiohttp application (``.app``).

    Args:
        app_id: the app's App ID.
        app_secret: the app's App Secret.
        verification_token: the event subscription's Verification Token, put in every event.
        encrypt_key: the subscription's Encrypt Key; empty sends plain, unsigned events.
        tenant_key: the tenant, put in every event.
        company: master data for :meth:`start_claim`.
        token_ttl: seconds a tenant token lives (``expire``).
        clock: time source for token expiry, instance times and event timestamps.
        faults: the fault plan drawn once per request and once per delivery attempt.
        ack_timeout: seconds the hub has to answer an event. Feishu's value is unconfirmed.
        retry_schedule: seconds between delivery attempts; 15 s / 5 min / 1 h / 6 h is reported (§3.4,
            unconfirmed).
        max_concurrent_deliveries: events in flight at once.
        create_limit_per_minute: creates allowed per clock minute (100, contracts §3.2).
        auth_error_status: HTTP status of an invalid-token reply; 400 or 401 are both reported (unconfirmed).
        seed: seeds instance codes, so a run can be repeated.
    """

    def __init__(self, *, app_id: str, app_secret: str, verification_token: str, encrypt_key: str = "",
                 tenant_key: str = "sandbox-tenant", company: Company | None = None, token_ttl: int = 7200,
                 clock: Clock | None = None, faults: FaultPlan | None = None, ack_timeout: float = 3.0,
                 retry_schedule: Sequence[float] = (15, 300, 3600, 21600), max_concurrent_deliveries: int = 64,
                 create_limit_per_minute: int = 100, auth_error_status: int = 400, seed: int = 0) -> None:
        self.app_id = app_id
        self._app_secret = app_secret
        self.verification_token = verification_token
        self.encrypt_key = encrypt_key
        self.tenant_key = tenant_key
        self.company = company
        self.token_ttl = token_ttl
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.ack_timeout = ack_timeout
        self.retry_schedule = tuple(retry_schedule)
        self.create_limit_per_minute = create_limit_per_minute
        self.auth_error_status = auth_error_status
        self.definitions: dict[str, _Definition] = {}
        self.instances: dict[str, _Instance] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.callback_url: str | None = None
        self._by_uuid: dict[str, str] = {}
        self._tokens: dict[str, float] = {}
        self._creates: Counter[int] = Counter()
        self._rng = random.Random(seed)
        self._serial = 0
        self._task_seq = 7_000_000_000
        self._delivered = 0
        self._failed_attempts = 0
        self._gave_up = 0
        self._pending = 0
        self._backlog: list[dict[str, Any]] = []
        self._semaphore = asyncio.Semaphore(max_concurrent_deliveries)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.directory = OrgDirectory(company)
        """The organisation (通讯录) the contact v3 routes list."""
        self.define_approval(CLAIM_APPROVAL_CODE, "费用报销", CLAIM_WIDGETS)
        self.define_approval(PURCHASE_APPROVAL_CODE, "采购申请", PURCHASE_WIDGETS)
        self.define_approval(PAYMENT_APPROVAL_CODE, "付款申请", PAYMENT_WIDGETS)
        self.define_approval(CONTRACT_APPROVAL_CODE, "合同审批", CONTRACT_WIDGETS)
        self.app = self._build_app()

    # ------------------------------------------------------------------ HTTP plumbing

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        routes = [
            ("POST", "/open-apis/auth/v3/tenant_access_token/internal", "token"),
            ("POST", "/open-apis/approval/v4/instances", "create_instance"),
            ("GET", "/open-apis/approval/v4/instances", "list_instances"),
            ("GET", "/open-apis/approval/v4/instances/{instance_id}", "get_instance"),
            ("POST", "/open-apis/approval/v4/approvals/{approval_code}/subscribe", "subscribe"),
            ("GET", "/open-apis/contact/v3/departments/{department_id}/children", "department_children"),
            ("GET", "/open-apis/contact/v3/users/find_by_department", "find_by_department"),
        ]
        for method, path, operation in routes:
            app.router.add_route(method, path, self._handler(operation))
        app.router.add_post("/_sandbox/faults", self._configure_faults)
        app.router.add_get("/_sandbox/state", self._state)
        return app

    def _handler(self, operation: str) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._run(request, operation)
        return handle

    @staticmethod
    def _reply(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        return web.json_response(data, status=status, headers=headers, dumps=_dumps)

    def _error(self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        return self._reply({"code": code, "msg": message, "data": {}}, status, headers)

    def _rate_limited(self, reset: float) -> web.Response:
        return self._error(429, RATE_LIMIT_CODE, "request trigger frequency limit",
                           {"x-ogw-ratelimit-limit": str(self.create_limit_per_minute),
                            "x-ogw-ratelimit-reset": f"{max(reset, 0):g}"})

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)  # never written: the connection is gone

    async def _run(self, request: web.Request, operation: str) -> web.StreamResponse:
        self.calls[operation] += 1
        fault = self.faults.draw(operation)
        if fault is not None:
            early = await self._fault_reply(request, fault)
            if early is not None:
                return early
        if operation != "token":
            auth = request.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if not token:
                return self._error(self.auth_error_status, MISSING_TOKEN_CODE,
                                   "Missing access token for authorization.")
            expiry = self._tokens.get(token)
            if expiry is None or expiry <= self.clock.monotonic():
                return self._error(self.auth_error_status, INVALID_TOKEN_CODE,
                                   "Invalid access token for authorization. Please make a request with token "
                                   "attached.")
        body: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            try:
                parsed = await request.json(loads=json.loads)
            except ValueError:
                return self._error(400, 99992402, "request body is not valid JSON")
            if not isinstance(parsed, dict):
                return self._error(400, 99992402, "request body must be a JSON object")
            body = parsed
        if operation == "create_instance":
            minute = int(self.clock.now().timestamp() // 60)
            self._creates[minute] += 1
            if self._creates[minute] > self.create_limit_per_minute:
                return self._rate_limited(60 - self.clock.now().timestamp() % 60)
        try:
            data = self._apply(operation, request, body)
        except _ApiError as exc:
            return self._error(exc.status, exc.code, exc.message)
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            return self._drop(request)
        return self._reply(data)

    async def _fault_reply(self, request: web.Request, fault: Fault) -> web.Response | None:
        if fault.kind is FaultKind.EXPIRED_TOKEN:
            auth = request.headers.get("Authorization", "")
            self._tokens.pop(auth[7:] if auth.startswith("Bearer ") else "", None)
            return self._error(self.auth_error_status, INVALID_TOKEN_CODE,
                               "Invalid access token for authorization. Please make a request with token attached.")
        if fault.kind is FaultKind.RATE_LIMIT:
            return self._rate_limited(fault.retry_after)
        if fault.kind is FaultKind.SERVER_ERROR:
            return self._reply({"code": 1, "msg": "internal error"}, 503)
        if fault.kind is FaultKind.DROP:
            return self._drop(request)
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
        return None

    def _apply(self, operation: str, request: web.Request, body: dict[str, Any]) -> Any:
        if operation == "token":
            return self._issue_token(body)
        if operation == "create_instance":
            data: dict[str, Any] = {"instance_code": self._create_from_api(body)}
        elif operation == "get_instance":
            data = self._instance(request.match_info["instance_id"]).as_data()
        elif operation == "list_instances":
            data = self._list_codes(request.query)
        elif operation == "department_children":
            data = self.directory.children(request.match_info["department_id"], request.query)
        elif operation == "find_by_department":
            data = self.directory.find_by_department(request.query)
        else:
            self.subscribe_approval(request.match_info["approval_code"])
            data = {}
        return {"code": 0, "msg": "success", "data": data}

    async def _configure_faults(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise TypeError("spec must be a JSON object")
            self.faults.configure(spec)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._error(400, 99992402, f"bad fault spec: {exc}")
        return self._reply({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        return self._reply(self.state())

    # ------------------------------------------------------------------ business helpers

    def submit(self, approval_code: str, open_id: str, form: Sequence[Mapping[str, Any]], *, user_id: str = "",
               department_id: str = "", uuid: str = "", approvers: Sequence[str] = ("ou_manager01",)) -> str:
        """Submit an instance as a user would in the Feishu app; return its instance code.

        ``form`` items are ``{"id", "type", "value"}`` with ids of the definition's widgets.

        Raises:
            KeyError: unknown approval code.
            ValueError: ``uuid`` already used.
        """
        definition = self.definitions[approval_code]
        if uuid and uuid.lower() in self._by_uuid:
            raise ValueError(f"uuid {uuid} already used")
        return self._open(definition, [dict(w) for w in form], uuid_=uuid, user_id=user_id, open_id=open_id,
                          department_id=department_id, approvers=approvers)

    def start_claim(self, spec: ClaimSpec, approval_code: str = CLAIM_APPROVAL_CODE) -> str:
        """Submit a generated expense claim (报销单) as a PENDING instance; return its instance code."""
        employee = spec.employee
        rows = [[{"id": "widget_item_type", "type": "radioV2", "value": item.expense_type},
                 {"id": "widget_item_amount", "type": "amount", "value": _number(item.amount)},
                 {"id": "widget_item_desc", "type": "input", "value": item.description}] for item in spec.items]
        form: list[dict[str, Any]] = [{"id": "widget_reason", "type": "textarea", "value": spec.reason},
                {"id": "widget_total", "type": "amount", "value": _number(spec.total)},
                {"id": "widget_items", "type": "fieldList", "value": rows}]
        return self.submit(approval_code, f"ou_{employee.number.lower()}", form,
                           user_id=employee.oa_user_id or employee.number,
                           department_id=employee.department_number)

    def start_requisition(self, spec: RequisitionSpec, approval_code: str = PURCHASE_APPROVAL_CODE) -> str:
        """Submit a generated purchase requisition (采购申请) as a PENDING instance; return its instance code."""
        employee = spec.employee
        rows = [[{"id": "widget_pr_item", "type": "input", "value": line.item_name},
                 {"id": "widget_pr_code", "type": "input", "value": line.item_code},
                 {"id": "widget_pr_unit", "type": "input", "value": line.unit},
                 {"id": "widget_pr_qty", "type": "number", "value": _number(line.quantity)},
                 {"id": "widget_pr_price", "type": "amount", "value": _number(line.unit_price)},
                 {"id": "widget_pr_note", "type": "input", "value": line.description}] for line in spec.lines]
        form: list[dict[str, Any]] = [
            {"id": "widget_pr_reason", "type": "textarea", "value": spec.reason},
            {"id": "widget_pr_supplier", "type": "input", "value": spec.supplier_name},
            {"id": "widget_pr_supplier_code", "type": "input", "value": spec.supplier_code},
            {"id": "widget_pr_tax_id", "type": "input", "value": spec.supplier_tax_id},
            {"id": "widget_pr_total", "type": "amount", "value": _number(spec.total)},
            {"id": "widget_pr_lines", "type": "fieldList", "value": rows}]
        return self.submit(approval_code, f"ou_{employee.number.lower()}", form,
                           user_id=employee.oa_user_id or employee.number, department_id=employee.department_number)

    def start_payment(self, spec: PaymentSpec, approval_code: str = PAYMENT_APPROVAL_CODE) -> str:
        """Submit a generated payment request (付款申请) as a PENDING instance; return its instance code.

        The 付款日期 is a ``date`` widget holding RFC 3339 midnight in Beijing (``2026-11-26T00:00:00+08:00``).
        """
        employee = spec.employee
        form: list[dict[str, Any]] = [
            {"id": "widget_pay_reason", "type": "textarea", "value": spec.reason},
            {"id": "widget_pay_supplier", "type": "input", "value": spec.supplier_name},
            {"id": "widget_pay_supplier_code", "type": "input", "value": spec.supplier_code},
            {"id": "widget_pay_tax_id", "type": "input", "value": spec.supplier_tax_id},
            {"id": "widget_pay_amount", "type": "amount", "value": _number(spec.amount)},
            {"id": "widget_pay_invoice", "type": "input", "value": spec.invoice_number},
            {"id": "widget_pay_date", "type": "date", "value": f"{spec.pay_date.isoformat()}T00:00:00+08:00"}]
        return self.submit(approval_code, f"ou_{employee.number.lower()}", form,
                           user_id=employee.oa_user_id or employee.number, department_id=employee.department_number)

    def start_contract(self, spec: ContractSpec, approval_code: str = CONTRACT_APPROVAL_CODE) -> str:
        """Submit a generated contract approval (合同审批) as a PENDING instance; return its instance code.

        The dates are ``date`` widgets holding RFC 3339 midnight in Beijing; 币种 is a ``radioV2`` option.
        """
        employee = spec.employee

        def day(widget: str, value: date) -> dict[str, Any]:
            return {"id": widget, "type": "date", "value": f"{value.isoformat()}T00:00:00+08:00"}

        form: list[dict[str, Any]] = [
            {"id": "widget_ct_name", "type": "input", "value": spec.name},
            {"id": "widget_ct_number", "type": "input", "value": spec.contract_number or ""},
            {"id": "widget_ct_supplier", "type": "input", "value": spec.supplier_name},
            {"id": "widget_ct_tax_id", "type": "input", "value": spec.supplier_tax_id},
            {"id": "widget_ct_amount", "type": "amount", "value": _number(spec.amount)},
            {"id": "widget_ct_currency", "type": "radioV2", "value": spec.currency},
            day("widget_ct_signed", spec.signed_on), day("widget_ct_start", spec.start), day("widget_ct_end", spec.end),
            {"id": "widget_ct_terms", "type": "textarea", "value": spec.payment_terms}]
        return self.submit(approval_code, f"ou_{employee.number.lower()}", form,
                           user_id=employee.oa_user_id or employee.number, department_id=employee.department_number)

    def approve(self, instance_code: str) -> None:
        """Every pending approver agrees: PENDING → APPROVED. Raises ``ValueError`` if not PENDING."""
        self._move(self.instances[instance_code], "APPROVED", "APPROVED", "ou_manager01")

    def reject(self, instance_code: str) -> None:
        """An approver refuses: PENDING → REJECTED. Raises ``ValueError`` if not PENDING."""
        self._move(self.instances[instance_code], "REJECTED", "REJECTED", "ou_manager01")

    def cancel(self, instance_code: str) -> None:
        """The originator withdraws it (撤回): PENDING → CANCELED. Raises ``ValueError`` if not PENDING."""
        instance = self.instances[instance_code]
        self._move(instance, "CANCELED", "DONE", instance.open_id)

    def revert(self, instance_code: str) -> None:
        """An approved instance is revoked (撤销): ``reverted`` set, a REVERTED event.

        Raises:
            ValueError: the instance is not APPROVED, or was reverted already.
        """
        self._revert(self.instances[instance_code])

    def state(self) -> dict[str, Any]:
        """Counts for tests in other processes: instances by status, deliveries, calls, faults."""
        stats = self.stats
        return {"instances": dict(Counter(i.status for i in self.instances.values())),
                "callbacks": {"delivered": stats.delivered, "failed": stats.failed_attempts,
                              "pending": stats.pending, "gave_up": stats.gave_up},
                "calls": dict(self.calls), "faults_injected": dict(self.faults.injected)}
