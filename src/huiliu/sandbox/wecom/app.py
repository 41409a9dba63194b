"""WeCom sandbox HTTP surface: the aiohttp routes, tokens on requests, fault replies, business helpers.

Owns: :class:`WeComSandbox` itself (its constructor and all state it holds), the ``/cgi-bin`` routes and
``/_sandbox/*`` control routes, per-request fault injection, errcode bodies, and the business methods
tests and the demo call (:meth:`WeComSandbox.submit`, :meth:`~WeComSandbox.approve`,
:meth:`~WeComSandbox.reject`, :meth:`~WeComSandbox.batch_approve`, :meth:`~WeComSandbox.revoke`,
:meth:`~WeComSandbox.revoke_approved`, :meth:`~WeComSandbox.comment`, :meth:`~WeComSandbox.start_claim`,
:meth:`~WeComSandbox.start_requisition`, :meth:`~WeComSandbox.start_payment`,
:meth:`~WeComSandbox.start_contract`, :meth:`~WeComSandbox.finish`). Does not own: what an operation does
to the corp (:mod:`.state`) or callback delivery (:mod:`.callbacks`).

WeCom answers business failures with HTTP 200 and ``{"errcode": …, "errmsg": …}`` (contracts §2.1).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

import aiohttp
from aiohttp import web

from huiliu.crypto import MsgCrypt
from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import ClaimSpec, Company, ContractSpec, PaymentSpec, RequisitionSpec
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.wecom.callbacks import CallbackDelivery
from huiliu.sandbox.wecom.directory import OrgDirectory
from huiliu.sandbox.wecom.state import (
    BUSY_ERRCODE,
    EXPENSE_TEMPLATE_ID,
    FREQ_LIMIT,
    REFERENCE_CONTROL_ID,
    TOKEN_EXPIRED,
    CorpState,
    _ApiError,
    _check_contents,
    _Detail,
    _dumps,
    _Instance,
    _Node,
    _Template,
)

__all__ = ["CONTRACT_TEMPLATE_ID", "PAYMENT_TEMPLATE_ID", "PURCHASE_TEMPLATE_ID", "WeComSandbox"]

_EXPENSE_CONTROLS: list[dict[str, Any]] = [
    {"control": "Textarea", "id": "Textarea-1569573760001", "title": "报销事由"},
    {"control": "Money", "id": "Money-1569573760002", "title": "报销总额"},
    {"control": "Table", "id": "Table-1569573760003", "title": "费用明细", "children": [
        {"control": "Text", "id": "Text-1569573760004", "title": "费用类型"},
        {"control": "Money", "id": "Money-1569573760005", "title": "金额"},
        {"control": "Text", "id": "Text-1569573760006", "title": "费用说明"}]},
    {"control": "Text", "id": REFERENCE_CONTROL_ID, "title": "汇流引用"},
]


PURCHASE_TEMPLATE_ID = "C4UCJS891Afmu1rE1ws6cvph7YHqebWtt7KRFqh8c"
"""The built-in 采购申请 template (purchase requisition)."""

_PURCHASE_CONTROLS: list[dict[str, Any]] = [
    {"control": "Textarea", "id": "Textarea-1600000000001", "title": "采购事由"},
    {"control": "Text", "id": "Text-1600000000002", "title": "供应商"},
    {"control": "Text", "id": "Text-1600000000003", "title": "供应商编码"},
    {"control": "Text", "id": "Text-1600000000004", "title": "统一社会信用代码"},
    {"control": "Money", "id": "Money-1600000000005", "title": "合计金额"},
    {"control": "Table", "id": "Table-1600000000006", "title": "采购明细", "children": [
        {"control": "Text", "id": "Text-1600000000007", "title": "物品名称"},
        {"control": "Text", "id": "Text-1600000000008", "title": "物品编码"},
        {"control": "Text", "id": "Text-1600000000009", "title": "单位"},
        {"control": "Number", "id": "Number-1600000000010", "title": "数量"},
        {"control": "Money", "id": "Money-1600000000011", "title": "单价"},
        {"control": "Text", "id": "Text-1600000000012", "title": "说明"}]},
]

PAYMENT_TEMPLATE_ID = "BsAfRWjX8hW3kQm4LnT2vYc9ZpE6uGd1oKs5rJx7yN"
"""The built-in 付款申请 template (payment request to a supplier)."""

_PAYMENT_CONTROLS: list[dict[str, Any]] = [
    {"control": "Textarea", "id": "Textarea-1700000000001", "title": "付款事由"},
    {"control": "Text", "id": "Text-1700000000002", "title": "供应商"},
    {"control": "Text", "id": "Text-1700000000003", "title": "供应商编码"},
    {"control": "Text", "id": "Text-1700000000004", "title": "统一社会信用代码"},
    {"control": "Money", "id": "Money-1700000000005", "title": "付款金额"},
    {"control": "Text", "id": "Text-1700000000006", "title": "发票号"},
    {"control": "Date", "id": "Date-1700000000007", "title": "付款日期"},
]

CONTRACT_TEMPLATE_ID = "3WLJGnS8vXb1kEp6Rt9yQcZ4hM2aFd7uKo5sTe0iN8"
"""The built-in 合同审批 template (purchase contract with a supplier)."""

_CURRENCY_OPTIONS = [("option-CNY", "人民币"), ("option-USD", "美元"), ("option-EUR", "欧元")]

_CONTRACT_CONTROLS: list[dict[str, Any]] = [
    {"control": "Text", "id": "Text-1800000000001", "title": "合同名称"},
    {"control": "Text", "id": "Text-1800000000002", "title": "合同编号"},
    {"control": "Text", "id": "Text-1800000000003", "title": "供应商名称"},
    {"control": "Text", "id": "Text-1800000000004", "title": "统一社会信用代码"},
    {"control": "Money", "id": "Money-1800000000005", "title": "合同金额"},
    {"control": "Selector", "id": "Selector-1800000000006", "title": "币种", "options": _CURRENCY_OPTIONS},
    {"control": "Date", "id": "Date-1800000000007", "title": "签订日期"},
    {"control": "Date", "id": "Date-1800000000008", "title": "开始日期"},
    {"control": "Date", "id": "Date-1800000000009", "title": "结束日期"},
    {"control": "Textarea", "id": "Textarea-1800000000010", "title": "付款条件"},
]

_SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def _text(control_id: str, value: str) -> dict[str, Any]:
    """A ``Text`` control's value as ``applyevent`` takes it."""
    return {"control": "Text", "id": control_id, "value": {"text": value}}


def _day(control_id: str, value: date) -> dict[str, Any]:
    """A ``Date`` control of type ``day``: the epoch seconds of that day's midnight in Beijing."""
    midnight = datetime(value.year, value.month, value.day, tzinfo=_SHANGHAI)
    return {"control": "Date", "id": control_id,
            "value": {"date": {"type": "day", "s_timestamp": str(int(midnight.timestamp()))}}}


class WeComSandbox(CorpState, CallbackDelivery):
    """A WeCom corp in memory, served as an aiohttp application (``.app``).

    Args:
        corp_id: the corpid (also the receiveId sealed into callbacks).
        corp_secret: the 审批 app secret accepted by ``gettoken``.
        callback_token: the callback Token.
        encoding_aes_key: the callback's 43-character EncodingAESKey.
        agent_id: the AgentID put into events.
        company: master data for :meth:`start_claim` and default approvers.
        token_ttl: seconds an access token lives (``expires_in``, 7200 in WeCom).
        clock: time source for token expiry, apply times, event CreateTime and callback timestamps.
        faults: the fault plan drawn once per request and once per callback attempt.
        ack_timeout: seconds the hub has to answer a callback.
        retry_schedule: seconds between callback attempts; WeCom's real schedule is unconfirmed.
        max_concurrent_deliveries: callbacks in flight at once.
        accepted_replies: callback reply bodies counted as an acknowledgement (unconfirmed, §2.3).
        cursor_style: ``next_cursor`` (numeric, as the Senparc contract test parses) or ``new_cursor``
            (string, newer doc revisions); which one a real tenant answers is unconfirmed (§2.2).
        seed: seeds random choices, so a run can be repeated.
    """

    def __init__(self, *, corp_id: str, corp_secret: str, callback_token: str, encoding_aes_key: str,
                 agent_id: int = 3010040, company: Company | None = None, token_ttl: int = 7200,
                 clock: Clock | None = None, faults: FaultPlan | None = None, ack_timeout: float = 5.0,
                 retry_schedule: Sequence[float] = (1, 2, 4),
                 max_concurrent_deliveries: int = 64, accepted_replies: frozenset[str] = frozenset({"", "success"}),
                 cursor_style: Literal["next_cursor", "new_cursor"] = "next_cursor", seed: int = 0) -> None:
        self.corp_id = corp_id
        self._corp_secret = corp_secret
        self.agent_id = agent_id
        self.company = company
        self.token_ttl = token_ttl
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.ack_timeout = ack_timeout
        self.retry_schedule = tuple(retry_schedule)
        self.accepted_replies = accepted_replies
        self.cursor_style = cursor_style
        self.crypt = MsgCrypt(callback_token, encoding_aes_key, corp_id)
        self.templates: dict[str, _Template] = {}
        self.instances: dict[str, _Instance] = {}
        self.events: list[str] = []
        self.calls: Counter[str] = Counter()
        self.callback_url: str | None = None
        self._tokens: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._seeded = seed != 0
        self._day_seq: dict[str, int] = {}
        self._comment_seq = 0
        self._delivered = 0
        self._failed_attempts = 0
        self._gave_up = 0
        self._pending = 0
        self._backlog: list[str] = []
        self._semaphore = asyncio.Semaphore(max_concurrent_deliveries)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.directory = OrgDirectory(company)
        """The organisation (通讯录) the ``department/list`` and ``user/list`` routes list."""
        self.add_template(EXPENSE_TEMPLATE_ID, "费用报销", _EXPENSE_CONTROLS)
        self.add_template(PURCHASE_TEMPLATE_ID, "采购申请", _PURCHASE_CONTROLS)
        self.add_template(PAYMENT_TEMPLATE_ID, "付款申请", _PAYMENT_CONTROLS)
        self.add_template(CONTRACT_TEMPLATE_ID, "合同审批", _CONTRACT_CONTROLS)
        self.app = self._build_app()

    # ------------------------------------------------------------------ HTTP plumbing

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/cgi-bin/gettoken", self._token)
        for operation in ("gettemplatedetail", "applyevent", "getapprovalinfo", "getapprovaldetail"):
            app.router.add_post(f"/cgi-bin/oa/{operation}", self._handler(operation))
        app.router.add_get("/cgi-bin/department/list", self._directory_handler("department_list"))
        app.router.add_get("/cgi-bin/user/list", self._directory_handler("user_list"))
        app.router.add_post("/_sandbox/faults", self._configure_faults)
        app.router.add_get("/_sandbox/state", self._state)
        return app

    @staticmethod
    def _reply(data: Mapping[str, Any]) -> web.Response:
        return web.json_response({"errcode": 0, "errmsg": "ok", **data}, dumps=_dumps)

    @staticmethod
    def _error(errcode: int, errmsg: str) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": errmsg}, dumps=_dumps)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)  # never written: the connection is gone

    async def _fault(self, request: web.Request, operation: str) -> tuple[Fault | None, web.Response | None]:
        self.calls[operation] += 1
        fault = self.faults.draw(operation)
        if fault is None:
            return None, None
        if fault.kind is FaultKind.EXPIRED_TOKEN:
            self._tokens.pop(request.query.get("access_token", ""), None)
            return fault, self._error(TOKEN_EXPIRED, "access_token expired")
        if fault.kind is FaultKind.RATE_LIMIT:
            return fault, self._error(FREQ_LIMIT, "api freq out of limit")
        if fault.kind is FaultKind.SERVER_ERROR:
            return fault, self._error(BUSY_ERRCODE, "system busy")
        if fault.kind is FaultKind.DROP:
            return fault, self._drop(request)
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
        return fault, None

    async def _token(self, request: web.Request) -> web.Response:
        fault, early = await self._fault(request, "gettoken")
        if early is not None:
            return early
        try:
            data = self._issue_token(request.query.get("corpid", ""), request.query.get("corpsecret", ""))
        except _ApiError as exc:
            return self._error(exc.errcode, exc.errmsg)
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            return self._drop(request)
        return self._reply(data)

    def _handler(self, operation: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            fault, early = await self._fault(request, operation)
            if early is not None:
                return early
            try:
                self._check_token(request.query.get("access_token", ""))
                try:
                    body = json.loads(await request.read())
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    return self._error(40058, "invalid parameter: the body must be a JSON object")
                data = self._operate(operation, body)
            except _ApiError as exc:
                return self._error(exc.errcode, exc.errmsg)
            if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
                return self._drop(request)
            return self._reply(data)
        return handle

    def _directory_handler(self, operation: str) -> Any:
        """A directory route (:mod:`.directory`): a ``GET`` with its parameters in the query."""
        async def handle(request: web.Request) -> web.Response:
            fault, early = await self._fault(request, operation)
            if early is not None:
                return early
            try:
                self._check_token(request.query.get("access_token", ""))
            except _ApiError as exc:
                return self._error(exc.errcode, exc.errmsg)
            if operation == "department_list":
                data = self.directory.list_departments(request.query)
            else:
                data = self.directory.list_users(request.query)
            if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
                return self._drop(request)
            return web.json_response(data, dumps=_dumps)
        return handle

    def _operate(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if operation == "gettemplatedetail":
            return self._template_detail(body)
        if operation == "applyevent":
            return {"sp_no": self._apply(body)}
        if operation == "getapprovalinfo":
            return self._list(body)
        return self._detail(body)

    async def _configure_faults(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise TypeError("spec must be a JSON object")
            self.faults.configure(spec)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._error(40058, f"bad fault spec: {exc}")
        return self._reply({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        return self._reply(self.state())

    # ------------------------------------------------------------------ business helpers

    def submit(self, creator: str, contents: Sequence[Mapping[str, Any]], *,
               template_id: str = EXPENSE_TEMPLATE_ID, approvers: Sequence[str] = (), attr: int = 1,
               at: int | None = None) -> str:
        """Submit an approval as ``creator`` (as the WeCom app would); return its ``sp_no``.

        Args:
            creator: the applicant's userid.
            contents: ``apply_data.contents`` in ``applyevent`` shape.
            template_id: one of :attr:`templates`.
            approvers: one node of approvers; the default approver when empty.
            attr: 1 或签 or 2 会签 for that node.
            at: the apply time (epoch seconds) instead of now, to fill history for list tests.

        Raises:
            ValueError: the contents do not fit the template.
        """
        template = self.templates[template_id]
        try:
            stored = _check_contents(list(contents), template.controls, "contents")
        except _ApiError as exc:
            raise ValueError(exc.errmsg) from None
        nodes = [_Node(attr, [_Detail(u) for u in approvers or [self._default_approver(creator)]])]
        sp_no = self._open(template, creator, stored, nodes, [])
        if at is not None:
            self.instances[sp_no].apply_time = at
        return sp_no

    def approve(self, sp_no: str, userid: str | None = None, speech: str = "同意") -> None:
        """``userid`` (or the first pending approver) agrees: the node or the whole approval may end 已通过."""
        self._act(self.instances[sp_no], userid, True, speech, self._now())

    def reject(self, sp_no: str, userid: str | None = None, speech: str = "驳回") -> None:
        """``userid`` (or the first pending approver) rejects: the approval ends 已驳回."""
        self._act(self.instances[sp_no], userid, False, speech, self._now())

    def batch_approve(self, sp_nos: Sequence[str], userid: str | None = None) -> int:
        """批量审批: approve several approvals in one action; every event shares one CreateTime.

        Returns:
            The CreateTime the events carry.
        """
        now = self._now()
        for sp_no in sp_nos:
            self._act(self.instances[sp_no], userid, True, "批量同意", now)
        return now

    def revoke(self, sp_no: str) -> None:
        """The applicant withdraws a running approval: 已撤销 (sp_status 4, StatuChangeEvent 6)."""
        self._revoke(self.instances[sp_no], self._now())

    def revoke_approved(self, sp_no: str) -> None:
        """An approved approval is revoked: 通过后撤销 (sp_status 6, StatuChangeEvent 8)."""
        self._revoke_approved(self.instances[sp_no], self._now())

    def comment(self, sp_no: str, userid: str, text: str) -> None:
        """添加备注: a comment on the approval (StatuChangeEvent 10; sp_status unchanged)."""
        self._comment(self.instances[sp_no], userid, text, self._now())

    def start_claim(self, spec: ClaimSpec, reference: str = "") -> str:
        """Submit a generated expense claim (报销单) on the built-in 费用报销 template; return its sp_no."""
        user = spec.employee.oa_user_id or spec.employee.number
        rows = [{"list": [
            {"control": "Text", "id": "Text-1569573760004", "value": {"text": item.expense_type}},
            {"control": "Money", "id": "Money-1569573760005", "value": {"new_money": f"{item.amount:.2f}"}},
            {"control": "Text", "id": "Text-1569573760006", "value": {"text": item.description}}]}
            for item in spec.items]
        contents = [{"control": "Textarea", "id": "Textarea-1569573760001", "value": {"text": spec.reason}},
                    {"control": "Money", "id": "Money-1569573760002", "value": {"new_money": f"{spec.total:.2f}"}},
                    {"control": "Table", "id": "Table-1569573760003", "value": {"children": rows}}]
        if reference:
            contents.append({"control": "Text", "id": REFERENCE_CONTROL_ID, "value": {"text": reference}})
        return self.submit(user, contents)

    def start_requisition(self, spec: RequisitionSpec) -> str:
        """Submit a generated purchase requisition (采购申请) on the built-in template; return its sp_no."""
        rows = [{"list": [
            _text("Text-1600000000007", line.item_name), _text("Text-1600000000008", line.item_code),
            _text("Text-1600000000009", line.unit),
            {"control": "Number", "id": "Number-1600000000010", "value": {"new_number": f"{line.quantity}"}},
            {"control": "Money", "id": "Money-1600000000011", "value": {"new_money": f"{line.unit_price:.2f}"}},
            _text("Text-1600000000012", line.description)]} for line in spec.lines]
        contents = [{"control": "Textarea", "id": "Textarea-1600000000001", "value": {"text": spec.reason}},
                    _text("Text-1600000000002", spec.supplier_name), _text("Text-1600000000003", spec.supplier_code),
                    _text("Text-1600000000004", spec.supplier_tax_id),
                    {"control": "Money", "id": "Money-1600000000005", "value": {"new_money": f"{spec.total:.2f}"}},
                    {"control": "Table", "id": "Table-1600000000006", "value": {"children": rows}}]
        return self.submit(spec.employee.oa_user_id or spec.employee.number, contents,
                           template_id=PURCHASE_TEMPLATE_ID)

    def start_payment(self, spec: PaymentSpec) -> str:
        """Submit a generated payment request (付款申请) on the built-in template; return its sp_no.

        The 付款日期 is a ``Date`` control of type ``day``: the epoch seconds of that day's midnight in Beijing.
        """
        contents = [{"control": "Textarea", "id": "Textarea-1700000000001", "value": {"text": spec.reason}},
                    _text("Text-1700000000002", spec.supplier_name), _text("Text-1700000000003", spec.supplier_code),
                    _text("Text-1700000000004", spec.supplier_tax_id),
                    {"control": "Money", "id": "Money-1700000000005", "value": {"new_money": f"{spec.amount:.2f}"}},
                    _text("Text-1700000000006", spec.invoice_number),
                    _day("Date-1700000000007", spec.pay_date)]
        return self.submit(spec.employee.oa_user_id or spec.employee.number, contents,
                           template_id=PAYMENT_TEMPLATE_ID)

    def start_contract(self, spec: ContractSpec) -> str:
        """Submit a generated contract approval (合同审批) on the built-in template; return its sp_no.

        The dates are ``Date`` controls of type ``day`` (midnight in Beijing); 币种 is a ``Selector``.
        """
        currency = next(key for key, label in _CURRENCY_OPTIONS if label == spec.currency)
        contents = [_text("Text-1800000000001", spec.name), _text("Text-1800000000002", spec.contract_number or ""),
                    _text("Text-1800000000003", spec.supplier_name), _text("Text-1800000000004", spec.supplier_tax_id),
                    {"control": "Money", "id": "Money-1800000000005", "value": {"new_money": f"{spec.amount:.2f}"}},
                    {"control": "Selector", "id": "Selector-1800000000006",
                     "value": {"selector": {"type": "single", "options": [{"key": currency}]}}},
                    _day("Date-1800000000007", spec.signed_on), _day("Date-1800000000008", spec.start),
                    _day("Date-1800000000009", spec.end),
                    {"control": "Textarea", "id": "Textarea-1800000000010", "value": {"text": spec.payment_terms}}]
        return self.submit(spec.employee.oa_user_id or spec.employee.number, contents,
                           template_id=CONTRACT_TEMPLATE_ID)

    def finish(self, sp_no: str, outcome: str) -> None:
        """End a running approval: ``approved`` / ``refused`` by its approvers, ``revoked`` by its applicant.

        Raises:
            KeyError: no such approval.
            ValueError: unknown outcome, or the approval has already ended.
        """
        instance = self.instances[sp_no]
        if outcome == "revoked":
            self.revoke(sp_no)
        elif outcome == "approved":
            while instance.sp_status == 1:
                self.approve(sp_no)
        elif outcome == "refused":
            self.reject(sp_no)
        else:
            raise ValueError(f"outcome must be approved, refused or revoked, not {outcome!r}")

    def state(self) -> dict[str, Any]:
        """Counts for tests in other processes: approvals by sp_status, callbacks, calls, faults."""
        return {"instances": {str(k): v for k, v in Counter(i.sp_status for i in self.instances.values()).items()},
                "callbacks": self._stats_dict(), "calls": dict(self.calls),
                "faults_injected": dict(self.faults.injected)}
