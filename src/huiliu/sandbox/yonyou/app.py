"""Yonyou sandbox HTTP surface: signed tokens (YonBIP), U8 tokens and trade ids, envelopes, faults.

Owns: :class:`YonyouSandbox` (constructor, inspection, business helpers for tests), the token endpoints and
their signature check, the ``access_token`` / U8 query check, routing a path to a :class:`~.ledger.Ledger`
operation, the ``{"code","message","data"}`` (YonBIP) and ``{"errcode","errmsg",…}`` (U8) envelopes, per-request
fault injection and the ``/_sandbox/*`` control routes. Does not own: what an operation does (:mod:`.ledger`).

Simulated where the contract (§5) is unconfirmed, each said again where it matters: an invalid or expired
token is answered ``{"code": "401", "message": "非法token"}`` with HTTP 200; throttling is HTTP 429 with
``Retry-After``; the token request's ``timestamp`` must be within 5 minutes of the server's clock; a signature
failure is code ``999``; U8 applies a ``tradeid`` once and answers a repeat with the first result.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import EXPENSE_ACCOUNTS, PAYABLE_ACCOUNT, Company, make_company
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.yonyou.ledger import Condition, Ledger, Refusal
from huiliu.sandbox.yonyou.payables import Payables

__all__ = ["EXPIRED_CODE", "YonyouSandbox"]

EXPIRED_CODE = "401"
"""The code of an invalid or expired token (unconfirmed)."""

_YONBIP: dict[str, str] = {
    "/yonbip/digitalModel/vendor/list": "vendor.list",
    "/yonbip/digitalModel/vendor/save": "vendor.save",
    "/yonbip/digitalModel/product/list": "product.list",
    "/yonbip/digitalModel/product/save": "product.save",
    "/yonbip/scm/purchaseorder/singleSave_v1": "purchase.save",
    "/yonbip/scm/purchaseorder/batchsubmit": "purchase.submit",
    "/yonbip/scm/purchaseorder/batchaudit": "purchase.audit",
    "/yonbip/scm/purchaseorder/batchunaudit": "purchase.unaudit",
    "/yonbip/scm/purchaseorder/batchdelete": "purchase.delete",
    "/yonbip/scm/purchaseorder/detail": "purchase.detail",
    "/yonbip/scm/purchaseorder/list": "purchase.list",
    "/yonbip/fi/ficloud/openapi/voucher/addVoucher": "voucher.add",
    "/yonbip/fi/ficloud/openapi/voucher/queryVouchers": "voucher.query",
    # Payments and projects: every path below is unconfirmed (no stored source names them).
    "/yonbip/fi/paybill/save": "payment.save",
    "/yonbip/fi/paybill/batchaudit": "payment.audit",
    "/yonbip/fi/paybill/detail": "payment.detail",
    "/yonbip/fi/paybill/list": "payment.list",
    "/yonbip/digitalModel/project/save": "project.save",
    "/yonbip/digitalModel/project/list": "project.list",
}
_U8_ENTITIES = {"vendor": "vendor", "inventory": "product", "purchaseorder": "purchase", "voucher": "voucher",
                "paybill": "payment", "project": "project"}  # the last two unconfirmed
_U8_VERBS = {"batch_get": "list", "get": "detail", "add": "save", "submit": "submit", "audit": "audit",
             "unaudit": "unaudit", "delete": "delete"}
_TOKEN_PATHS = ("/open-auth/selfAppAuth/getAccessToken", "/iuap-api-auth/open-auth/selfAppAuth/getAccessToken",
                "/open-auth/selfAppAuth/base/v1/getAccessToken")
_FAULT: web.RequestKey[Fault | None] = web.RequestKey("huiliu.sandbox.fault")
_WRITES = frozenset({"vendor.save", "product.save", "purchase.save", "purchase.submit", "purchase.audit",
                     "purchase.unaudit", "purchase.delete", "voucher.add", "voucher.save", "payment.save",
                     "payment.audit", "project.save"})


def _reply(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, ensure_ascii=False).encode(),
                        content_type="application/json", charset="utf-8", headers=headers)


class YonyouSandbox:
    """The simulated Yonyou tenant: an aiohttp application in :attr:`app` plus inspectable state.

    Both front ends are served at once: YonBIP (``/open-auth/…``, ``/yonbip/…``) and U8 (``/system/…``,
    ``/api/<entity>/<verb>``).

    Args:
        app_key: the self-built app's key (U8: ``app_key``).
        app_secret: its secret; the signature is checked with it.
        from_account: U8 ``from_account``.
        to_account: U8 ``to_account``.
        company: master data; its expense accounts are part of the chart.
        token_ttl: seconds a token is valid (``expire``; 7200 reported).
        clock: where time comes from (a :class:`huiliu.testing.FakeClock` in tests).
        faults: the fault plan, drawn once per request with the operation name (``token``, ``tradeid``,
            ``purchase.save`` …).
        org_code: the organisation orders must name.
        accbook_code: the account book vouchers must name.
        reference_field: the purchase order field holding the hub's reference (unconfirmed).
        closed_periods: ``YYYY-MM`` periods closed for vouchers.
        zone: the tenant's zone for ``pubts``.
    """

    def __init__(self, *, app_key: str, app_secret: str, from_account: str = "hub", to_account: str = "acme",
                 company: Company | None = None, token_ttl: float = 7200, clock: Clock | None = None,
                 faults: FaultPlan | None = None, org_code: str = "ORG01", accbook_code: str = "001",
                 reference_field: str = "memo", closed_periods: set[str] | None = None,
                 zone: str = "Asia/Shanghai") -> None:
        self.app_key = app_key
        self._secret = app_secret
        self.from_account = from_account
        self.to_account = to_account
        self.company = company or make_company()
        self.token_ttl = token_ttl
        self.clock: Clock = clock or SystemClock()
        self.faults = faults if faults is not None else FaultPlan()
        accounts = {acct: name for name, acct in {**EXPENSE_ACCOUNTS, **self.company.accounts}.items()}
        accounts.update({PAYABLE_ACCOUNT: "其他应付款-员工", "1002.01": "银行存款", "2202.01": "应付账款",
                         "1403": "原材料", "2221.01.01": "应交增值税-进项税额"})
        self.ledger = Ledger(org_code, accbook_code, accounts, set(closed_periods or set()), reference_field, zone,
                             self.clock.now)
        self.payables = Payables(self.ledger)
        self._tokens: dict[str, float] = {}
        self._trades: dict[str, Any] = {}
        self.token_calls = 0
        """Tokens handed out."""
        self.write_calls: dict[str, int] = {}
        """Per write operation, requests that reached the ledger (valid token, no fault before applying)."""
        self.app = web.Application()
        for path in _TOKEN_PATHS:
            self.app.router.add_get(path, self._token)
        self.app.router.add_get("/system/token", self._u8_token)
        self.app.router.add_get("/system/tradeid", self._u8_tradeid)
        self.app.router.add_route("*", "/yonbip/{tail:.*}", self._yonbip)
        self.app.router.add_route("*", "/api/{entity}/{verb}", self._u8)
        self.app.router.add_post("/_sandbox/faults", self._configure_faults)
        self.app.router.add_get("/_sandbox/state", self._state)

    # ----------------------------------------------------------------- inspection and business helpers

    def expire_tokens(self) -> None:
        """Invalidate every token, as a key rotation or a server restart would."""
        self._tokens.clear()

    def orders_by_reference(self, reference: str) -> list[dict[str, Any]]:
        """The purchase orders whose reference field equals ``reference``."""
        field = self.ledger.reference_field
        return [o for o in self.ledger.orders.values() if o.get(field) == reference]

    def receive(self, order_id: str, document: str = "采购入库单") -> None:
        """Record a downstream document (a goods receipt) on an order: it can no longer be un-audited."""
        self.ledger.order(order_id)
        self.ledger.downstream[order_id] = document

    def close_order(self, order_id: str) -> None:
        """Close an order (已关闭), as a buyer would in the UI."""
        self.ledger.order(order_id)["status"] = "2"

    def close_period(self, period: str) -> None:
        """Close a ``YYYY-MM`` period for vouchers and payments (结账)."""
        self.ledger.closed_periods.add(period)

    def payments_by_reference(self, reference: str) -> list[dict[str, Any]]:
        """The payments whose reference field equals ``reference``."""
        field = self.ledger.reference_field
        return [p for p in self.payables.payments.values() if p.get(field) == reference]

    def settle_payment(self, payment_id: str) -> None:
        """Settle (结算) an audited payment, as the cashier would: it reads back as paid."""
        self.payables.settle(payment_id)

    def state(self) -> dict[str, Any]:
        """A JSON summary of the state, as served by ``GET /_sandbox/state``."""
        return {"vendors": len(self.ledger.vendors), "products": len(self.ledger.products),
                "orders": [{"id": o["id"], "code": o["code"], "status": o["status"]}
                           for o in self.ledger.orders.values()],
                "vouchers": len(self.ledger.vouchers), "payments": len(self.payables.payments),
                "projects": len(self.payables.projects), "token_calls": self.token_calls,
                "write_calls": dict(self.write_calls), "faults_injected": dict(self.faults.injected)}

    async def _configure_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(await request.json())
        return _reply({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        return _reply(self.state())

    # ----------------------------------------------------------------- tokens

    def _issue(self) -> str:
        token = secrets.token_hex(16)
        self._tokens[token] = self.clock.monotonic() + self.token_ttl
        self.token_calls += 1
        return token

    def _token_valid(self, token: str | None) -> bool:
        expires = self._tokens.get(token or "")
        if expires is None or self.clock.monotonic() >= expires:
            self._tokens.pop(token or "", None)
            return False
        return True

    def expected_signature(self, params: Mapping[str, str]) -> str:
        """The contract's signature: Base64(HmacSHA256(appSecret, name+value of the sorted parameters))."""
        text = "".join(name + params[name] for name in sorted(params) if name != "signature")
        return base64.b64encode(hmac.new(self._secret.encode(), text.encode(), hashlib.sha256).digest()).decode()

    async def _token(self, request: web.Request) -> web.StreamResponse:
        early = await self._fault(request, "token")
        if early is not None:
            return early
        query = dict(request.query)  # already URL-decoded once, as the contract's URLEncode is undone
        if query.get("appKey") != self.app_key:
            return _reply({"code": "999", "message": f"appKey[{query.get('appKey')}]不存在"})
        try:
            stamp = int(query.get("timestamp", ""))
        except ValueError:
            return _reply({"code": "999", "message": "timestamp格式不正确"})
        # Unconfirmed window: 5 minutes either way, as common for signed requests.
        if abs(self.clock.now().timestamp() * 1000 - stamp) > 300_000:
            return _reply({"code": "999", "message": "timestamp已过期，请检查服务器时间"})
        if not hmac.compare_digest(query.get("signature", ""), self.expected_signature(query)):
            return _reply({"code": "999", "message": "签名校验失败"})
        return _reply({"code": "00000", "message": "成功！",
                       "data": {"access_token": self._issue(), "expire": int(self.token_ttl)}})

    async def _u8_token(self, request: web.Request) -> web.StreamResponse:
        early = await self._fault(request, "token")
        if early is not None:
            return early
        q = request.query
        if (q.get("from_account") != self.from_account or q.get("app_key") != self.app_key
                or not hmac.compare_digest(q.get("app_secret", "").encode(), self._secret.encode())):
            return _reply({"errcode": "40001", "errmsg": "app_key或app_secret不正确"})
        return _reply({"errcode": "0", "errmsg": "", "token": {"id": self._issue(),
                                                               "expiresIn": int(self.token_ttl)}})

    async def _u8_tradeid(self, request: web.Request) -> web.StreamResponse:
        early = await self._fault(request, "tradeid")
        if early is not None:
            return early
        if not self._token_valid(request.query.get("token")):
            return _reply({"errcode": EXPIRED_CODE, "errmsg": "token无效或已过期"})
        trade = secrets.token_hex(12)
        self._trades[trade] = None
        return _reply({"errcode": "0", "errmsg": "", "trade": {"id": trade}})

    # ----------------------------------------------------------------- faults

    async def _fault(self, request: web.Request, operation: str) -> web.StreamResponse | None:
        """Act on a fault drawn before the request is applied; ``None`` to go on (kept for :meth:`_applied`)."""
        fault = self.faults.draw(operation)
        request[_FAULT] = fault
        if fault is None or fault.kind in (FaultKind.SLOW, FaultKind.APPLIED_REPLY_LOST):
            return None
        if fault.kind is FaultKind.RATE_LIMIT:
            # Unconfirmed: Yonyou's throttling reply is not documented; a generic 429 is simulated.
            return _reply({"code": "429", "message": "请求过于频繁，请稍后再试"}, 429,
                          {"Retry-After": f"{fault.retry_after:g}"})
        if fault.kind is FaultKind.SERVER_ERROR:
            return web.Response(status=502, text="Bad Gateway")
        if fault.kind is FaultKind.DROP:
            self._drop(request)
            return web.Response(status=500)
        if operation in ("token", "tradeid"):
            return None
        return _reply({"code": EXPIRED_CODE, "message": "非法token"})  # EXPIRED_TOKEN

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()

    async def _applied(self, request: web.Request, work: Any) -> web.StreamResponse:
        fault = request.get(_FAULT)
        if fault is not None and fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
        response: web.StreamResponse = await asyncio.shield(work)
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            self._drop(request)
        return response

    # ----------------------------------------------------------------- YonBIP

    async def _yonbip(self, request: web.Request) -> web.StreamResponse:
        operation = _YONBIP.get(request.path)
        if operation is None:
            return _reply({"code": "404", "message": f"API不存在：{request.path}"}, 404)
        early = await self._fault(request, operation)
        if early is not None:
            return early
        if not self._token_valid(request.query.get("access_token")):
            return _reply({"code": EXPIRED_CODE, "message": "非法token"})
        body: Any = {}
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                return _reply({"code": "999", "message": "请求体不是JSON"})
        return await self._applied(request, self._run_yonbip(operation, request, body))

    async def _run_yonbip(self, operation: str, request: web.Request, body: Any) -> web.Response:
        try:
            data = self._dispatch(operation, body if isinstance(body, Mapping) else {}, dict(request.query))
        except Refusal as exc:
            return _reply({"code": exc.code, "message": exc.message})
        return _reply({"code": "200", "message": "操作成功", "data": data})

    def _dispatch(self, operation: str, body: Mapping[str, Any], query: Mapping[str, str]) -> Any:
        ledger = self.ledger
        data = body.get("data")
        if operation in _WRITES:
            self.write_calls[operation] = self.write_calls.get(operation, 0) + 1
        if operation.endswith(".list"):
            rows = self._tables()[operation].values()
            conditions = [Condition(str(c.get("field")), str(c.get("op", "eq")), str(c.get("value1")))
                          for c in body.get("simpleVOs") or [] if isinstance(c, Mapping)]
            return ledger.page(list(rows), conditions, int(body.get("pageIndex", 1)), int(body.get("pageSize", 10)))
        if operation == "purchase.detail":
            return ledger.order(query.get("id", ""))
        if operation == "payment.detail":
            return self.payables.payment(query.get("id", ""))
        if operation == "voucher.query":
            return ledger.query_vouchers(body)
        if operation == "voucher.add":
            return ledger.add_voucher(body, body.get("resubmitCheckKey"))
        if not isinstance(data, Mapping | list):
            raise Refusal("参数data不能为空")
        if operation == "vendor.save" and isinstance(data, Mapping):
            return ledger.save_vendor(data)
        if operation == "product.save" and isinstance(data, Mapping):
            return ledger.save_product(data)
        if operation == "purchase.save" and isinstance(data, Mapping):
            return ledger.save_order(data, data.get("resubmitCheckKey"))
        if operation == "payment.save" and isinstance(data, Mapping):
            return self.payables.save_payment(data, data.get("resubmitCheckKey"))
        if operation == "project.save" and isinstance(data, Mapping):
            return self.payables.save_project(data)
        if operation == "payment.audit":
            return self.payables.audit(data)
        return ledger.move(operation.split(".")[1], data)

    def _tables(self) -> dict[str, dict[str, dict[str, Any]]]:
        ledger, payables = self.ledger, self.payables
        return {"vendor.list": ledger.vendors, "product.list": ledger.products, "purchase.list": ledger.orders,
                "payment.list": payables.payments, "project.list": payables.projects}

    # ----------------------------------------------------------------- U8

    async def _u8(self, request: web.Request) -> web.StreamResponse:
        entity = _U8_ENTITIES.get(request.match_info["entity"])
        verb = _U8_VERBS.get(request.match_info["verb"])
        if entity is None or verb is None:
            return _reply({"errcode": "404", "errmsg": f"API不存在：{request.path}"}, 404)
        operation = f"{entity}.{verb}"
        early = await self._fault(request, operation)
        if early is not None:
            return early
        q = request.query
        if q.get("from_account") != self.from_account or q.get("to_account") != self.to_account:
            return _reply({"errcode": "20001", "errmsg": "from_account或to_account不正确"})
        if not self._token_valid(q.get("token")):
            return _reply({"errcode": EXPIRED_CODE, "errmsg": "token无效或已过期"})
        body: Any = {}
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                return _reply({"errcode": "999", "errmsg": "请求体不是JSON"})
        return await self._applied(request, self._run_u8(operation, dict(q), body))

    async def _run_u8(self, operation: str, query: dict[str, str], body: Any) -> web.Response:
        trade = query.get("tradeid")
        if operation in _WRITES and operation.endswith((".save", ".add")):
            if trade is None or trade not in self._trades:
                return _reply({"errcode": "30001", "errmsg": "tradeid不存在或已失效"})
            if self._trades[trade] is not None:
                return _reply(self._trades[trade])  # a trade is applied once; a repeat gets the first answer
        try:
            payload = self._u8_dispatch(operation, query, body if isinstance(body, Mapping) else {})
        except Refusal as exc:
            payload = {"errcode": exc.code, "errmsg": exc.message}
        if trade is not None and trade in self._trades:
            self._trades[trade] = payload
        return _reply(payload)

    def _u8_dispatch(self, operation: str, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        ledger = self.ledger
        if operation.endswith(".list"):
            reserved = {"from_account", "to_account", "app_key", "token", "tradeid", "page_index", "rows_per_page"}
            conditions = [Condition(k, "egt" if k == "pubts" else "eq", v) for k, v in query.items()
                          if k not in reserved]
            tables = self._tables()
            if operation not in tables:
                raise Refusal(f"不支持的查询：{operation}")
            rows = tables[operation].values()
            page = ledger.page(list(rows), conditions, int(query.get("page_index", "1")),
                               int(query.get("rows_per_page", "20")))
            return {"errcode": "0", "errmsg": "", "list": page["recordList"], "row_count": page["recordCount"]}
        if operation == "purchase.detail":
            return {"errcode": "0", "errmsg": "", "purchaseorder": ledger.order(query.get("id", ""))}
        if operation == "payment.detail":
            return {"errcode": "0", "errmsg": "", "paybill": self.payables.payment(query.get("id", ""))}
        mapped = {"voucher.save": "voucher.add"}.get(operation, operation)
        result = self._dispatch(mapped, body, query)
        return {"errcode": "0", "errmsg": "", **(result if isinstance(result, Mapping) else {"data": result})}
