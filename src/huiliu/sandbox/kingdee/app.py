"""Kingdee sandbox HTTP surface: the K3Cloud service routes, sessions, login and fault replies.

Owns: :class:`KingdeeSandbox` itself (its constructor, the chart of accounts, the account books and all
state it holds), inspection, period closing (结账) and posting (过账) for tests, ``ValidateUser`` and the
``kdservice-sessionid`` session, routing a service name to an operation, per-request fault injection
and the ``/_sandbox/*`` control routes. Does not own: what
a write does to the vouchers (:mod:`.vouchers`) or how a query is answered (:mod:`.query`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import EXPENSE_ACCOUNTS, PAYABLE_ACCOUNT, Company, make_company
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.kingdee.bills import BILL_FORMS, BillBook, SandboxBill
from huiliu.sandbox.kingdee.org import ORG_FORMS, OrgBook
from huiliu.sandbox.kingdee.query import BillQuery
from huiliu.sandbox.kingdee.vouchers import (
    _OTHER_ACCOUNTS,
    DEFAULT_BOOKS,
    VOUCHER_FORM,
    SandboxVoucher,
    VoucherBook,
    _envelope,
    _key,
    _RejectedError,
    _status,
)

__all__ = ["SESSION_COOKIE", "SESSION_LOST_MESSAGE", "KingdeeSandbox"]

SESSION_COOKIE = "kdservice-sessionid"
"""The cookie (and header) carrying the session id handed out by ``ValidateUser``."""

SESSION_LOST_MESSAGE = "会话信息已丢失，请重新登录"
"""Kingdee's answer, with ``MsgCode`` 1, to a call without a valid session."""

_STUB = "kingdee.bos.webapi.servicesstub."
_OPERATIONS: dict[str, str] = {
    "authservice.validateuser": "login",
    "dynamicformservice.save": "save",
    "dynamicformservice.batchsave": "batch_save",
    "dynamicformservice.submit": "submit",
    "dynamicformservice.audit": "audit",
    "dynamicformservice.unaudit": "unaudit",
    "dynamicformservice.delete": "delete",
    "dynamicformservice.view": "view",
    "dynamicformservice.executebillquery": "query",
    "dynamicformservice.excuteoperation": "execute",
}
"""Service name (lower case, without the stub prefix) → operation name used for fault draws."""


def _reply(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, ensure_ascii=False).encode(),
                        content_type="application/json", charset="utf-8")


class KingdeeSandbox(VoucherBook, BillBook, OrgBook, BillQuery):
    """The simulated K3Cloud server: an aiohttp application in :attr:`app` plus inspectable state.

    Args:
        acct_id: the account-set id (数据中心 ID) a login must name.
        username: the one user that may log in.
        password: that user's password.
        company: master data; department and employee numbers used as auxiliary dimensions must exist
            here, and its expense accounts are part of the chart. Defaults to :func:`make_company`.
        session_ttl: seconds a session stays valid after its last use.
        clock: where time comes from (a :class:`huiliu.testing.FakeClock` in tests).
        faults: the fault plan drawn once per request; a fresh empty one by default.
        reference_field: the custom header field holding the hub's reference. Unconfirmed: a field
            customers add in BOS, so its key differs per tenant.
        aux_fields: canonical dimension name → flex field inside ``FDetailID``. Configured per account
            book in the real ERP.
        unique_reference: refuse a Save whose reference field value another voucher already has, as a
            field marked unique in BOS does. The message wording is unconfirmed; it names the field.
        books: account book (账簿) number → its accounting organisation (核算组织) number (多组织: one
            book per organisation here). Defaults to ``{"001": "100"}``.
    """

    def __init__(self, *, acct_id: str, username: str, password: str, company: Company | None = None,
                 session_ttl: float = 1800, clock: Clock | None = None, faults: FaultPlan | None = None,
                 reference_field: str = "F_HUILIU_REF",
                 aux_fields: Mapping[str, str] | None = None, unique_reference: bool = False,
                 books: Mapping[str, str] | None = None) -> None:
        self.acct_id = acct_id
        self.username = username
        self._password = password
        self.company = company or make_company()
        self.session_ttl = session_ttl
        self.clock: Clock = clock or SystemClock()
        self.faults = faults if faults is not None else FaultPlan()
        self.reference_field = reference_field
        self.unique_reference = unique_reference
        self.books: dict[str, str] = dict(books or DEFAULT_BOOKS)
        self.closed_through: dict[str, str] = {}
        """Account book → the last closed period ``YYYY-MM`` (结账 closes every period up to it)."""
        self.aux_fields: dict[str, str] = dict(aux_fields or {"department": "FFLEX5", "employee": "FFLEX7"})
        self.chart: dict[str, tuple[str, ...]] = {
            **{acct: ("department", "employee") for acct in {*EXPENSE_ACCOUNTS.values(),
                                                             *self.company.accounts.values()}},
            PAYABLE_ACCOUNT: ("employee",),
            **_OTHER_ACCOUNTS,
        }
        """Account number → required auxiliary dimensions (canonical names)."""
        self._departments = frozenset(d.number for d in self.company.departments)
        self._employees = frozenset(e.number for e in self.company.employees)
        self._sessions: dict[str, float] = {}
        self._vouchers: dict[int, SandboxVoucher] = {}
        self.bills: dict[str, dict[int, SandboxBill]] = {}
        """Upper-case form id → records of the other forms (付款单, suppliers, projects, departments, employees)."""
        self.org_saved: Counter[str] = Counter()
        """Upper-case form id → department / employee models sent by Save and BatchSave (saved or refused)."""
        self._by_reference: dict[str, list[int]] = {}
        self._by_number: dict[str, list[int]] = {}
        self._sequence: Counter[tuple[str, str, str]] = Counter()
        self._next_id = 100001
        self.save_calls = 0
        """Save requests that reached the voucher logic (valid session, no fault before applying)."""
        self.batch_save_calls = 0
        """BatchSave requests that reached the voucher logic."""
        self.saved_models = 0
        """Models sent by Save and BatchSave that reached the voucher logic (saved or refused)."""
        self.login_calls = 0
        """Successful logins."""
        self.app = web.Application()
        self.app.router.add_post("/k3cloud/{service}.common.kdsvc", self._handle)
        self.app.router.add_post("/_sandbox/faults", self._configure_faults)
        self.app.router.add_get("/_sandbox/state", self._state)
        self.app.router.add_post("/_sandbox/periods", self._close_period)

    # ----------------------------------------------------------------- inspection

    @property
    def vouchers(self) -> dict[int, SandboxVoucher]:
        """Every voucher held, by id."""
        return self._vouchers

    def count(self) -> int:
        """How many vouchers exist."""
        return len(self._vouchers)

    def find_by_reference(self, reference: str) -> list[SandboxVoucher]:
        """The vouchers whose reference field equals ``reference``, oldest first."""
        return [self._vouchers[i] for i in self._by_reference.get(reference, [])]

    def close_period(self, book: str, period: str) -> None:
        """结账: close ``period`` (``YYYY-MM``) of ``book`` and every period before it.

        Afterwards Save refuses vouchers dated in those periods, and UnAudit / Delete refuse the vouchers
        in them. Unlike the ERP, vouchers left unposted do not block the closing.
        """
        if book not in self.books:
            raise ValueError(f"unknown account book {book!r}; known: {sorted(self.books)}")
        if len(period) != 7 or period[4] != "-" or not (period[:4] + period[5:]).isdigit():
            raise ValueError(f"period must be YYYY-MM, got {period!r}")
        self.closed_through[book] = max(period, self.closed_through.get(book, period))

    def post(self, voucher_id: int) -> None:
        """过账: post an audited voucher; a posted voucher can no longer be unaudited."""
        voucher = self._vouchers[voucher_id]
        if voucher.status != "C":
            raise ValueError(f"voucher {voucher.number} is in status {voucher.status}; only 已审核 (C) posts")
        voucher.posted = True

    def expire_sessions(self) -> None:
        """Forget every session, as a server restart would."""
        self._sessions.clear()

    def state(self) -> dict[str, Any]:
        """A JSON summary of the state, as served by ``GET /_sandbox/state``."""
        return {
            "vouchers": len(self._vouchers),
            "by_status": dict(Counter(v.status for v in self._vouchers.values())),
            "list": [{"id": v.id, "number": v.number, "reference": v.reference, "status": v.status}
                     for v in self._vouchers.values()],
            "closed_through": dict(self.closed_through),
            "save_calls": self.save_calls,
            "batch_save_calls": self.batch_save_calls,
            "login_calls": self.login_calls,
            "faults_injected": dict(self.faults.injected),
        }

    # ----------------------------------------------------------------- HTTP plumbing

    async def _configure_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(await request.json())
        return _reply({"ok": True})

    async def _close_period(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.close_period(str(body.get("book")), str(body.get("period")))
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        return _reply({"ok": True, "closed_through": self.closed_through})

    async def _state(self, request: web.Request) -> web.Response:
        return _reply(self.state())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        service = request.match_info["service"].lower()
        operation = _OPERATIONS.get(service.removeprefix(_STUB)) if service.startswith(_STUB) else None
        if operation is None:
            return web.Response(status=404, text=f"service not found: {request.match_info['service']}")
        fault = self.faults.draw(operation)
        if fault is not None:
            early = await self._early_fault(request, fault, operation)
            if early is not None:
                return early
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="request body is not JSON")
        if not isinstance(body, dict):
            return web.Response(status=400, text="request body must be a JSON object")
        # Shielded: like a real server, the ERP finishes a request whose client has given up waiting
        # (a slow Save still creates its voucher after the hub's timeout).
        response = await asyncio.shield(self._apply(request, operation, body, fault))
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            self._drop(request)
        return response

    async def _apply(self, request: web.Request, operation: str, body: dict[str, Any],
                     fault: Fault | None) -> web.Response:
        if fault is not None and fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
        return self._login(body) if operation == "login" else self._dispatch(operation, request, body)

    async def _early_fault(self, request: web.Request, fault: Fault, operation: str) -> web.Response | None:
        """Act on a fault that happens before the request is applied; ``None`` to go on."""
        if fault.kind is FaultKind.SLOW:
            return None  # slow, but applied all the same: see _apply
        if fault.kind is FaultKind.RATE_LIMIT:
            # Unconfirmed: Kingdee's throttling reply is not documented; a generic 429 is simulated.
            return web.Response(status=429, text="Too Many Requests",
                                headers={"Retry-After": f"{fault.retry_after:g}"})
        if fault.kind is FaultKind.SERVER_ERROR:
            return web.Response(status=500, text="Internal Server Error")
        if fault.kind is FaultKind.DROP:
            self._drop(request)
            return web.Response(status=500)
        if fault.kind is FaultKind.EXPIRED_TOKEN:
            if operation == "login":
                return None  # a login has no session to lose; random plans may still draw this
            session = self._session_id(request)
            if session is not None:
                self._sessions.pop(session, None)
            return self._session_lost()
        return None  # APPLIED_REPLY_LOST: applied first, dropped afterwards

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()

    @staticmethod
    def _session_lost() -> web.Response:
        status = _status([{"FieldName": None, "Message": SESSION_LOST_MESSAGE, "DIndex": 0}], [], msg_code=1)
        return _reply(_envelope(status))

    @staticmethod
    def _session_id(request: web.Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE) or request.headers.get(SESSION_COOKIE)

    def _session_valid(self, request: web.Request) -> bool:
        session = self._session_id(request)
        if session is None:
            return False
        expires = self._sessions.get(session)
        now = self.clock.monotonic()
        if expires is None or now >= expires:
            self._sessions.pop(session, None)
            return False
        self._sessions[session] = now + self.session_ttl  # sliding: each use extends the session
        return True

    def _login(self, body: Mapping[str, Any]) -> web.Response:
        params = body.get("parameters")
        if not isinstance(params, list) or len(params) < 3:
            return web.Response(status=400, text="parameters must be [acctID, username, password, lcid]")
        acct, user, password = (str(p) for p in params[:3])
        if acct != self.acct_id:
            # Unconfirmed status code: the contract only says a wrong acct id is "HTTP ≠ 200".
            return web.Response(status=404, text=f"数据中心不存在：{acct}")
        lcid = params[3] if len(params) > 3 else 2052
        if user != self.username or not secrets.compare_digest(password, self._password):
            return _reply({"Message": "用户名或密码错误！", "MessageCode": "CheckPasswordPolicy",
                           "LoginResultType": 0, "KDSVCSessionId": None, "Context": None,
                           "IsSuccessByAPI": False, "Lcid": lcid})
        session = secrets.token_hex(16)
        self._sessions[session] = self.clock.monotonic() + self.session_ttl
        self.login_calls += 1
        response = _reply({"Message": None, "MessageCode": "CheckPasswordPolicy", "LoginResultType": 1,
                           "KDSVCSessionId": session, "IsSuccessByAPI": True, "Lcid": lcid,
                           "Context": {"UserName": user, "DBid": acct, "SessionId": session,
                                       "UserLocale": "zh-CN"}})
        response.set_cookie(SESSION_COOKIE, session, path="/", httponly=True)
        return response

    def _dispatch(self, operation: str, request: web.Request, body: Mapping[str, Any]) -> web.Response:
        if not self._session_valid(request):
            return self._session_lost()
        formid, data = self._unpack(body)
        if operation == "query":
            return _reply(self._query(data))
        try:
            if data is None:
                raise _RejectedError("data", "参数data不能为空", 8)
            form = formid or _key(data, "FormId")
            if str(form).upper() in ORG_FORMS:
                self._count_saves(operation, data)
                op_number = body.get("opNumber")
                return _reply(self._org_dispatch(str(form).upper(), operation, data,
                                                 None if op_number is None else str(op_number)))
            if operation == "execute":
                raise _RejectedError("formid", f"本模拟器不支持对“{form}”执行{body.get('opNumber')}", 4)
            if str(form).upper() in BILL_FORMS:
                return self._bill_dispatch(str(form).upper(), operation, data)
            if str(form).upper() != VOUCHER_FORM:
                raise _RejectedError("formid", f"业务对象“{form}”不存在", 4)
            self._count_saves(operation, data)
            if operation == "save":
                return _reply(self._save(data))
            if operation == "batch_save":
                return _reply(self._batch_save(data))
            if operation == "view":
                return _reply(self._view(data))
        except _RejectedError as exc:
            status = _status([{"FieldName": exc.field_name, "Message": exc.message, "DIndex": 0}], [],
                             exc.msg_code)
            return _reply(_envelope(status))
        outcome = self._transition(operation, data)
        return _reply(_envelope(_status(outcome.errors, outcome.successes)))

    def _count_saves(self, operation: str, data: Mapping[str, Any]) -> None:
        """Count a Save (one model) or BatchSave (its models) of a voucher, department or employee."""
        if operation == "save":
            self.save_calls += 1
            self.saved_models += 1
        elif operation == "batch_save":
            self.batch_save_calls += 1
            models = _key(data, "Model")
            self.saved_models += len(models) if isinstance(models, list) else 0

    def _bill_dispatch(self, form: str, operation: str, data: dict[str, Any]) -> web.Response:
        if operation == "save":
            self.save_calls += 1
            _, outcome = self._bill_save(form, data)
            if not outcome.successes:
                return _reply(_envelope(_status(outcome.errors, [])))
            entity = outcome.successes[0]
            return _reply(_envelope(_status([], outcome.successes), Id=entity["Id"], Number=entity["Number"]))
        if operation in ("submit", "audit", "unaudit", "delete"):
            outcome = self._bill_transition(form, operation, data)
            return _reply(_envelope(_status(outcome.errors, outcome.successes)))
        raise _RejectedError("formid", f"本模拟器不支持对“{form}”执行{operation}", 4)

    @staticmethod
    def _unpack(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """``{"formid", "data"}`` with data as an object or a JSON string; or the older ``parameters``."""
        formid = body.get("formid")
        data: Any = body.get("data")
        params = body.get("parameters")
        if data is None and isinstance(params, list) and params:
            if len(params) == 1:
                data = params[0]
            else:
                formid, data = params[0], params[1]
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        return (None if formid is None else str(formid)), (data if isinstance(data, dict) else None)
