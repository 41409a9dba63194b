"""A local Kingdee 金蝶云星空 (K3Cloud) WebAPI for tests and the demo (contracts README §4).

Owns: session login (``ValidateUser`` and the ``kdservice-sessionid`` cookie), the ``GL_VOUCHER`` form
(Save with the checks the ERP makes, Submit / Audit / UnAudit / Delete, View, ExecuteBillQuery), the
``{"Result":{"ResponseStatus":…}}`` envelope, and fault injection. Does not own: other forms, BOS
customisation, workflow (``WorkflowAudit``) or the signed-header login of the official SDK.

Simulated where the contract is unconfirmed, each said again at the place it matters:

* a wrong account-set id (数据中心) is answered with HTTP 404 (the contract only says "HTTP ≠ 200");
* rate limiting is a generic HTTP 429 with ``Retry-After`` (Kingdee's own throttling is unknown);
* the reference field (``F_HUILIU_REF`` by default) is a custom field customers add in BOS;
* which flex field (``FFLEX5`` …) holds which auxiliary dimension is set per account book.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import EXPENSE_ACCOUNTS, PAYABLE_ACCOUNT, Company, make_company
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan

__all__ = ["SESSION_COOKIE", "SESSION_LOST_MESSAGE", "KingdeeSandbox", "SandboxVoucher"]

SESSION_COOKIE = "kdservice-sessionid"
"""The cookie (and header) carrying the session id handed out by ``ValidateUser``."""

SESSION_LOST_MESSAGE = "会话信息已丢失，请重新登录"
"""Kingdee's answer, with ``MsgCode`` 1, to a call without a valid session."""

_STUB = "kingdee.bos.webapi.servicesstub."
_OPERATIONS: dict[str, str] = {
    "authservice.validateuser": "login",
    "dynamicformservice.save": "save",
    "dynamicformservice.submit": "submit",
    "dynamicformservice.audit": "audit",
    "dynamicformservice.unaudit": "unaudit",
    "dynamicformservice.delete": "delete",
    "dynamicformservice.view": "view",
    "dynamicformservice.executebillquery": "query",
}
"""Service name (lower case, without the stub prefix) → operation name used for fault draws."""

VOUCHER_FORM = "GL_VOUCHER"
_BOOKS = frozenset({"001"})
_ORGS = frozenset({"100"})
_CURRENCIES = frozenset({"PRE001", "PRE002", "PRE003"})
_GROUPS: dict[str, str] = {"记": "记", "收": "收", "付": "付", "转": "转",
                           "PRE001": "记", "PRE002": "收", "PRE003": "付", "PRE004": "转"}
"""凭证字 accepted in ``FVOUCHERGROUPID.FNumber`` → the word used in the bill number. Tenants number
them either by the word itself or ``PRE00n``; both are accepted here."""

_OTHER_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "1001.01": (), "1002.01": (), "2202.01": (), "2211.01": ("department", "employee"),
    "1221.01": ("employee",),
}
_DIMENSION_NAMES = {"department": "部门", "employee": "员工"}
_ENTRY_FIELDS = frozenset({"FENTRYID", "FEXPLANATION", "FACCOUNTID", "FDEBIT", "FCREDIT", "FDC", "FDETAILID"})
_HEADER_ALIASES = {"FVOUCHERID": "FVOUCHERID", "FID": "FVOUCHERID", "FBILLNO": "FBillNo",
                   "FDOCUMENTSTATUS": "FDocumentStatus"}
_FEN = Decimal("0.01")
_CONDITION = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)\s*=\s*"
    r"(?:'(?P<text>(?:[^']|'')*)'|(?P<number>-?\d+(?:\.\d+)?))\s*"
)
_AND = re.compile(r"and\b", re.IGNORECASE)


@dataclass
class SandboxVoucher:
    """One voucher the sandbox holds. Mutable: its status moves with Submit / Audit / UnAudit."""

    id: int
    number: str
    status: str
    reference: str | None
    model: dict[str, Any]


@dataclass
class _Outcome:
    """Errors and successes of one write operation, in Kingdee's shape."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    successes: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, field_name: str | None, message: str, index: int = 0) -> None:
        self.errors.append({"FieldName": field_name, "Message": message, "DIndex": index})


class _RejectedError(Exception):
    """A request the sandbox answers with ``IsSuccess: false``; never leaves this module."""

    def __init__(self, field_name: str | None, message: str, msg_code: int = 0) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message
        self.msg_code = msg_code


def _status(errors: list[dict[str, Any]], successes: list[dict[str, Any]],
            msg_code: int = 0) -> dict[str, Any]:
    ok = not errors
    return {"ErrorCode": 0 if ok else 500, "IsSuccess": ok, "Errors": errors,
            "SuccessEntitys": successes, "SuccessMessages": [], "MsgCode": msg_code}


def _envelope(status: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Result": {"ResponseStatus": status, **extra}}


def _reply(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, ensure_ascii=False).encode(),
                        content_type="application/json", charset="utf-8")


def _key(mapping: Mapping[str, Any], name: str) -> Any:
    """Field keys are case-insensitive in Kingdee (``FNumber`` and ``FNUMBER`` both occur)."""
    if name in mapping:
        return mapping[name]
    upper = name.upper()
    for key, value in mapping.items():
        if key.upper() == upper:
            return value
    return None


def _number_of(value: Any) -> str | None:
    """The ``FNumber`` of a base-data reference ``{"FNumber": …}``; bare strings are not references."""
    if isinstance(value, Mapping):
        found = _key(value, "FNumber")
        return None if found is None else str(found)
    return None


def _amount(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise InvalidOperation
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    if not result.is_finite():
        raise InvalidOperation
    return result


class KingdeeSandbox:
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
    """

    def __init__(self, *, acct_id: str, username: str, password: str, company: Company | None = None,
                 session_ttl: float = 1800, clock: Clock | None = None, faults: FaultPlan | None = None,
                 reference_field: str = "F_HUILIU_REF",
                 aux_fields: Mapping[str, str] | None = None) -> None:
        self.acct_id = acct_id
        self.username = username
        self._password = password
        self.company = company or make_company()
        self.session_ttl = session_ttl
        self.clock: Clock = clock or SystemClock()
        self.faults = faults if faults is not None else FaultPlan()
        self.reference_field = reference_field
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
        self._by_reference: dict[str, list[int]] = {}
        self._by_number: dict[str, list[int]] = {}
        self._sequence: Counter[tuple[str, str]] = Counter()
        self._next_id = 100001
        self.save_calls = 0
        """Save requests that reached the voucher logic (valid session, no fault before applying)."""
        self.login_calls = 0
        """Successful logins."""
        self.app = web.Application()
        self.app.router.add_post("/k3cloud/{service}.common.kdsvc", self._handle)
        self.app.router.add_post("/_sandbox/faults", self._configure_faults)
        self.app.router.add_get("/_sandbox/state", self._state)

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
            "save_calls": self.save_calls,
            "login_calls": self.login_calls,
            "faults_injected": dict(self.faults.injected),
        }

    # ----------------------------------------------------------------- HTTP plumbing

    async def _configure_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(await request.json())
        return _reply({"ok": True})

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
        response = self._login(body) if operation == "login" else self._dispatch(operation, request, body)
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            self._drop(request)
        return response

    async def _early_fault(self, request: web.Request, fault: Fault, operation: str) -> web.Response | None:
        """Act on a fault that happens before the request is applied; ``None`` to go on."""
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
            return None
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
            if str(form).upper() != VOUCHER_FORM:
                raise _RejectedError("formid", f"业务对象“{form}”不存在", 4)
            if operation == "save":
                self.save_calls += 1
                return _reply(self._save(data))
            if operation == "view":
                return _reply(self._view(data))
        except _RejectedError as exc:
            status = _status([{"FieldName": exc.field_name, "Message": exc.message, "DIndex": 0}], [],
                             exc.msg_code)
            return _reply(_envelope(status))
        outcome = self._transition(operation, data)
        return _reply(_envelope(_status(outcome.errors, outcome.successes)))

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

    # ----------------------------------------------------------------- Save

    def _save(self, data: Mapping[str, Any]) -> dict[str, Any]:
        model = _key(data, "Model")
        if not isinstance(model, dict):
            raise _RejectedError("Model", "参数Model不能为空", 8)
        outcome = _Outcome()
        period, group_word = self._check_header(model, outcome)
        self._check_entries(model, outcome)
        if outcome.errors:
            return _envelope(_status(outcome.errors, []))
        existing = _key(model, "FVOUCHERID")
        if existing not in (None, 0, "0", ""):
            return self._update(model, existing)
        voucher_id = self._next_id
        self._next_id += 1
        self._sequence[(group_word, period)] += 1
        number = f"{group_word}-{self._sequence[(group_word, period)]:04d}"
        stored = dict(model)
        year, month = period.split("-")
        stored.update({"FVOUCHERID": voucher_id, "FBillNo": number, "FDocumentStatus": "A",
                       "FYEAR": int(year), "FPERIOD": int(month)})
        reference = _key(model, self.reference_field)
        voucher = SandboxVoucher(voucher_id, number, "A", None if reference is None else str(reference),
                                 stored)
        self._vouchers[voucher_id] = voucher
        self._by_number.setdefault(number, []).append(voucher_id)
        if voucher.reference is not None:
            self._by_reference.setdefault(voucher.reference, []).append(voucher_id)
        entity = {"Id": voucher_id, "Number": number, "DIndex": 0}
        return _envelope(_status([], [entity]), Id=voucher_id, Number=number, NeedReturnData=[{}])

    def _update(self, model: Mapping[str, Any], existing: Any) -> dict[str, Any]:
        """Save with an id overwrites the voucher, as the ERP does, while it is still editable."""
        voucher = self._vouchers.get(int(existing)) if str(existing).isdigit() else None
        if voucher is None:
            raise _RejectedError("FVOUCHERID", f"内码为“{existing}”的凭证不存在")
        if voucher.status not in ("A", "D"):
            raise _RejectedError("FDocumentStatus", f"凭证{voucher.number}已提交或已审核，不能修改")
        old_reference = voucher.reference
        voucher.model = {**dict(model), "FVOUCHERID": voucher.id, "FBillNo": voucher.number,
                         "FDocumentStatus": voucher.status}
        reference = _key(model, self.reference_field)
        voucher.reference = None if reference is None else str(reference)
        if old_reference != voucher.reference:
            if old_reference is not None:
                self._by_reference[old_reference].remove(voucher.id)
            if voucher.reference is not None:
                self._by_reference.setdefault(voucher.reference, []).append(voucher.id)
        entity = {"Id": voucher.id, "Number": voucher.number, "DIndex": 0}
        return _envelope(_status([], [entity]), Id=voucher.id, Number=voucher.number, NeedReturnData=[{}])

    def _check_header(self, model: Mapping[str, Any], outcome: _Outcome) -> tuple[str, str]:
        """Check the header fields; return the period ``YYYY-MM`` and the 凭证字 word."""
        book = _number_of(_key(model, "FAccountBookID"))
        if book is None:
            outcome.fail("FAccountBookID", "字段“账簿”是必填项")
        elif book not in _BOOKS:
            outcome.fail("FAccountBookID", f"账簿“{book}”不存在")
        org = _key(model, "FACCBOOKORGID")
        if org is not None and _number_of(org) not in _ORGS:
            outcome.fail("FACCBOOKORGID", f"核算组织“{_number_of(org)}”不存在")
        period = "0000-00"
        raw_date = _key(model, "FDate")
        if not raw_date:
            outcome.fail("FDate", "字段“日期”是必填项")
        else:
            try:
                period = date.fromisoformat(str(raw_date)[:10]).isoformat()[:7]
            except ValueError:
                outcome.fail("FDate", f"日期“{raw_date}”格式不正确")
        group = _number_of(_key(model, "FVOUCHERGROUPID"))
        word = _GROUPS.get(group or "")
        if group is None:
            outcome.fail("FVOUCHERGROUPID", "字段“凭证字”是必填项")
        elif word is None:
            outcome.fail("FVOUCHERGROUPID", f"凭证字“{group}”不存在")
        currency = _number_of(_key(model, "FCURRENCYID"))
        if currency is None:
            outcome.fail("FCURRENCYID", "字段“币别”是必填项")
        elif currency not in _CURRENCIES:
            outcome.fail("FCURRENCYID", f"币别“{currency}”不存在")
        return period, word or "记"

    def _check_entries(self, model: Mapping[str, Any], outcome: _Outcome) -> None:
        entries = _key(model, "FEntity")
        if not isinstance(entries, list) or not entries:
            outcome.fail("FEntity", "凭证分录不能为空")
            return
        debit = credit = Decimal(0)
        for index, entry in enumerate(entries):
            row = index + 1
            if not isinstance(entry, dict):
                outcome.fail("FEntity", f"第{row}行分录格式不正确", index)
                continue
            account = _number_of(_key(entry, "FACCOUNTID"))
            if account is None:
                outcome.fail("FACCOUNTID", f"第{row}行分录：字段“科目编码”是必填项", index)
            elif account not in self.chart:
                outcome.fail("FACCOUNTID", f"第{row}行分录：科目“{account}”不存在", index)
            else:
                self._check_aux(account, entry, row, index, outcome)
            try:
                dr, cr = _amount(_key(entry, "FDEBIT")), _amount(_key(entry, "FCREDIT"))
            except (InvalidOperation, ValueError):
                outcome.fail("FDEBIT", f"第{row}行分录：金额格式不正确", index)
                continue
            if dr < 0 or cr < 0 or (dr > 0) == (cr > 0):
                outcome.fail("FDEBIT", f"第{row}行分录：借方金额和贷方金额必须且只能录入一个正数", index)
                continue
            if dr != dr.quantize(_FEN) or cr != cr.quantize(_FEN):
                outcome.fail("FDEBIT" if dr else "FCREDIT", f"第{row}行分录：金额精度不能超过2位小数", index)
                continue
            debit += dr
            credit += cr
        if not outcome.errors and debit != credit:
            outcome.fail("FEntity", f"借贷不平衡：借方合计{debit:.2f}，贷方合计{credit:.2f}")

    def _check_aux(self, account: str, entry: Mapping[str, Any], row: int, index: int,
                   outcome: _Outcome) -> None:
        detail = _key(entry, "FDetailID")
        detail = detail if isinstance(detail, dict) else {}
        known: dict[str, frozenset[str]] = {"department": self._departments, "employee": self._employees}
        for dimension in self.chart[account]:
            flex = self.aux_fields.get(dimension)
            if flex is None:
                continue
            label = _DIMENSION_NAMES.get(dimension, dimension)
            value = _number_of(_key(detail, flex))
            if not value:
                outcome.fail("FDetailID",
                             f"第{row}行分录：科目“{account}”的核算维度“{label}”({flex})不能为空", index)
            elif value not in known.get(dimension, frozenset({value})):
                outcome.fail("FDetailID", f"第{row}行分录：核算维度“{label}”({flex})的值“{value}”不存在",
                             index)

    # ----------------------------------------------------------------- other write operations and View

    def _resolve(self, data: Mapping[str, Any], outcome: _Outcome) -> list[tuple[int, SandboxVoucher]]:
        """The vouchers named by ``Numbers`` or ``Ids`` (``"1,2"`` or a list), in request order."""
        found: list[tuple[int, SandboxVoucher]] = []
        numbers = _key(data, "Numbers") or []
        ids: Any = _key(data, "Ids") or []
        if isinstance(ids, str):
            ids = [part.strip() for part in ids.split(",") if part.strip()]
        if not numbers and not ids:
            outcome.fail("Numbers", "参数Numbers和Ids不能同时为空")
            return found
        for index, number in enumerate(numbers):
            matches = self._by_number.get(str(number), [])
            if len(matches) != 1:
                why = "不存在" if not matches else "不唯一，请按内码（Ids）操作"
                outcome.fail("Numbers", f"编号为“{number}”的凭证{why}", index)
            else:
                found.append((index, self._vouchers[matches[0]]))
        for index, raw in enumerate(ids, start=len(numbers)):
            voucher = self._vouchers.get(int(raw)) if str(raw).isdigit() else None
            if voucher is None:
                outcome.fail("Ids", f"内码为“{raw}”的凭证不存在", index)
            else:
                found.append((index, voucher))
        return found

    def _transition(self, operation: str, data: Mapping[str, Any]) -> _Outcome:
        outcome = _Outcome()
        rules: dict[str, tuple[tuple[str, ...], str | None, Callable[[SandboxVoucher], str]]] = {
            "submit": (("A", "D"), "B", lambda v: f"凭证{v.number}不是创建或重新审核状态，不能提交"),
            "audit": (("B",), "C", lambda v: (f"凭证{v.number}未提交，不能审核" if v.status in ("A", "D")
                                             else f"凭证{v.number}已经审核，不能重复审核")),
            "unaudit": (("C",), "D", lambda v: f"凭证{v.number}不是已审核状态，不能反审核"),
            "delete": (("A", "D"), None, lambda v: f"凭证{v.number}已提交或已审核，不能删除"),
        }
        allowed, target, refusal = rules[operation]
        for index, voucher in self._resolve(data, outcome):
            if voucher.status not in allowed:
                outcome.fail("FDocumentStatus", refusal(voucher), index)
                continue
            if target is None:
                self._remove(voucher)
            else:
                voucher.status = target
                voucher.model["FDocumentStatus"] = target
            outcome.successes.append({"Id": voucher.id, "Number": voucher.number, "DIndex": index})
        return outcome

    def _remove(self, voucher: SandboxVoucher) -> None:
        del self._vouchers[voucher.id]
        self._by_number[voucher.number].remove(voucher.id)
        if voucher.reference is not None:
            self._by_reference[voucher.reference].remove(voucher.id)

    def _view(self, data: Mapping[str, Any]) -> dict[str, Any]:
        number, raw_id = _key(data, "Number"), _key(data, "Id")
        voucher: SandboxVoucher | None = None
        if raw_id not in (None, "", 0, "0"):
            voucher = self._vouchers.get(int(raw_id)) if str(raw_id).isdigit() else None
        elif number:
            matches = self._by_number.get(str(number), [])
            voucher = self._vouchers[matches[-1]] if matches else None
        else:
            raise _RejectedError("Number", "参数Number和Id不能同时为空", 8)
        if voucher is None:
            raise _RejectedError(None, f"单据“{number or raw_id}”不存在或已被删除")
        return _envelope(_status([], [{"Id": voucher.id, "Number": voucher.number, "DIndex": 0}]),
                         Result=json.loads(json.dumps(voucher.model, ensure_ascii=False)))

    # ----------------------------------------------------------------- ExecuteBillQuery

    def _query(self, data: Mapping[str, Any] | None) -> list[list[Any]]:
        try:
            if data is None:
                raise _RejectedError("data", "参数data不能为空", 8)
            form = str(_key(data, "FormId") or "")
            if form.upper() != VOUCHER_FORM:
                raise _RejectedError("FormId", f"业务对象“{form}”不存在", 4)
            keys = [k.strip() for k in str(_key(data, "FieldKeys") or "").split(",") if k.strip()]
            if not keys:
                raise _RejectedError("FieldKeys", "参数FieldKeys不能为空", 8)
            for key in keys:
                self._check_field(key)
            conditions = self._parse_filter(str(_key(data, "FilterString") or ""))
            per_entry = any(k.split(".")[0].upper() in _ENTRY_FIELDS for k in keys)
            rows = [self._row(v, keys, entry) for v in self._candidates(conditions)
                    if all(self._matches(v, f, want) for f, want in conditions)
                    for entry in (self._entries(v) if per_entry else [{}])]
        except _RejectedError as exc:
            status = _status([{"FieldName": exc.field_name, "Message": exc.message, "DIndex": 0}], [],
                             exc.msg_code)
            return [[_envelope(status)]]
        top, start, limit = (int(_key(data, k) or 0) for k in ("TopRowCount", "StartRow", "Limit"))
        if top > 0:
            rows = rows[:top]  # TopRowCount is an absolute end row, not a page size (contract §4.3)
        end = start + limit if limit > 0 else None
        return rows[start:end]

    def _check_field(self, key: str) -> None:
        head = key.split(".", maxsplit=1)[0].upper()
        if head in _HEADER_ALIASES or head in _ENTRY_FIELDS or head == self.reference_field.upper():
            return
        if head in {"FDATE", "FACCOUNTBOOKID", "FACCBOOKORGID", "FVOUCHERGROUPID", "FCURRENCYID",
                    "FEXCHANGERATE", "FYEAR", "FPERIOD", "FVOUCHERGROUPNO", "FISADJUSTVOUCHER",
                    "FISREDWRITEOFF", "FSOURCEBILLKEY", "FHASATTACHMENTS"}:
            return
        raise _RejectedError("FieldKeys", f"字段“{key}”在业务对象GL_VOUCHER中不存在", 9)

    def _parse_filter(self, text: str) -> list[tuple[str, str | Decimal]]:
        """Parse ``Field='value' and Field2=12``; anything richer is refused with a clear message."""
        conditions: list[tuple[str, str | Decimal]] = []
        position = 0
        if not text.strip():
            return conditions
        while True:
            match = _CONDITION.match(text, position)
            if match is None:
                raise _RejectedError("FilterString", f"过滤条件“{text}”无法解析（第{position + 1}个字符附近）"
                                     "，仅支持 字段='值' 或 字段=数字，以 and 连接")
            self._check_field(match["field"])
            if match["field"].split(".")[0].upper() in _ENTRY_FIELDS:
                raise _RejectedError("FilterString",
                                     f"过滤条件中的分录字段“{match['field']}”本模拟器不支持")
            value: str | Decimal = (match["text"].replace("''", "'") if match["text"] is not None
                                    else Decimal(match["number"]))
            conditions.append((match["field"], value))
            position = match.end()
            if position == len(text):
                return conditions
            joiner = _AND.match(text, position)
            if joiner is None:
                raise _RejectedError("FilterString", f"过滤条件“{text}”无法解析（第{position + 1}个字符附近）"
                                     "，仅支持 字段='值' 或 字段=数字，以 and 连接")
            position = joiner.end()

    def _candidates(self, conditions: Iterable[tuple[str, str | Decimal]]) -> list[SandboxVoucher]:
        for name, want in conditions:
            if name.upper() == self.reference_field.upper() and isinstance(want, str):
                return [self._vouchers[i] for i in self._by_reference.get(want, [])]
        return list(self._vouchers.values())

    def _value(self, voucher: SandboxVoucher, key: str, entry: Mapping[str, Any]) -> Any:
        head, _, sub = key.partition(".")
        upper = head.upper()
        if upper in _HEADER_ALIASES:
            return {"FVOUCHERID": voucher.id, "FBillNo": voucher.number,
                    "FDocumentStatus": voucher.status}[_HEADER_ALIASES[upper]]
        value = _key(entry, head) if upper in _ENTRY_FIELDS else _key(voucher.model, head)
        if isinstance(value, Mapping):
            return _key(value, sub or "FNumber")
        return value

    def _matches(self, voucher: SandboxVoucher, key: str, want: str | Decimal) -> bool:
        value = self._value(voucher, key, {})
        if isinstance(want, Decimal):
            try:
                return _amount(value) == want
            except (InvalidOperation, ValueError):
                return False
        return value is not None and str(value) == want

    @staticmethod
    def _entries(voucher: SandboxVoucher) -> list[Mapping[str, Any]]:
        entries = _key(voucher.model, "FEntity")
        return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []

    def _row(self, voucher: SandboxVoucher, keys: list[str], entry: Mapping[str, Any]) -> list[Any]:
        return [self._value(voucher, key, entry) for key in keys]
