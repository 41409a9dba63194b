"""SAP sandbox HTTP surface and state: auth, the CSRF token flow, OData V2 / V4 envelopes, documents, faults.

Owns: :class:`SapSandbox` (constructor, inspection, business helpers), basic / bearer auth, CSRF tokens bound
to a session cookie, a small ``$filter`` / ``$orderby`` / ``$skip`` / ``$top`` / ``$expand`` reader, business
partners, products, purchase orders (create with items, release, delete flag), journal entries (payments
among them, with the checks of :mod:`.finance`, which also owns enterprise projects and the item view) and the
OData error bodies. Handlers work on dictionaries only.

Simulated where the contract (§8) is unconfirmed, each said again where it matters: a write without a valid
token gets 403, ``x-csrf-token: Required`` and the text "CSRF token validation failed"; error bodies are the
common OData shapes; throttling is HTTP 429 with ``Retry-After``; ``PurchasingProcessingStatus`` 03 (in
release) → 05 (released) through a ``Release`` function import; a deleted order keeps its number with
``PurchasingDocumentDeletionCode`` ``L``; journal entries are posted as JSON to ``A_JournalEntry``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import itertools
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.company import EXPENSE_ACCOUNTS, PAYABLE_ACCOUNT, Company, make_company
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.sap.finance import Finance
from huiliu.sandbox.sap.refusal import Refused, decimal_of

__all__ = ["CSRF_FAILED", "SESSION_COOKIE", "SapSandbox"]

SESSION_COOKIE = "SAP_SESSIONID_HUB_100"
CSRF_FAILED = "CSRF token validation failed"
_FAULT: web.RequestKey[Fault | None] = web.RequestKey("huiliu.sandbox.sap.fault")
_PRIVATE = frozenset({"_items", "_description"})
"""Keys the sandbox keeps for itself and never serves."""
_CONDITION = re.compile(r"^(\w+) (eq|ge) (?:'((?:[^']|'')*)'|datetimeoffset'([^']*)'|(\S+))$")


class SapSandbox:
    """The simulated S/4HANA system: an aiohttp application in :attr:`app` plus inspectable state.

    Args:
        username: the communication user for basic auth.
        password: its password.
        bearer_tokens: tokens accepted as ``Authorization: Bearer``.
        odata_version: ``v2`` or ``v4`` envelopes, dates and error bodies.
        company: master data; its expense accounts are part of the chart.
        clock: where time comes from (a :class:`huiliu.testing.FakeClock` in tests).
        faults: the fault plan, drawn per request as ``<entity>.<verb>`` (``A_PurchaseOrder.create``,
            ``csrf.fetch`` …); ``expired_token`` invalidates the CSRF tokens.
        company_code / plant: the organisation documents must name.
        release_required: new orders wait in release (03) until the ``Release`` function import; else 05.
        closed_periods: ``YYYY-MM`` posting periods that are closed.
    """

    def __init__(self, *, username: str, password: str,
                 bearer_tokens: frozenset[str] = frozenset(), odata_version: str = "v2",
                 company: Company | None = None, clock: Clock | None = None, faults: FaultPlan | None = None,
                 company_code: str = "1010", plant: str = "1010", release_required: bool = True,
                 closed_periods: set[str] | None = None) -> None:
        self.username = username
        self._password = password
        self.bearer_tokens = bearer_tokens
        self.v4 = odata_version == "v4"
        self.company = company or make_company()
        self.clock: Clock = clock or SystemClock()
        self.faults = faults if faults is not None else FaultPlan()
        self.company_code, self.plant = company_code, plant
        self.release_required = release_required
        self.closed_periods = set(closed_periods or set())
        self.accounts = {*EXPENSE_ACCOUNTS.values(), *self.company.accounts.values(), PAYABLE_ACCOUNT,
                         "1002.01", "2202.01"}
        self.partners: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.received: set[str] = set()
        self.finance = Finance(company_code)
        self._sessions: dict[str, str] = {}
        self._ids = {"bp": itertools.count(10300001), "po": itertools.count(4500000001),
                     "je": itertools.count(100000001)}
        self.csrf_fetches = 0
        self.create_calls: dict[str, int] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/sap/opu/odata/sap/{service}/{tail:.*}", self._handle)
        self.app.router.add_post("/_sandbox/faults", self._configure_faults)

    # ----------------------------------------------------------------- helpers for tests

    def expire_csrf(self) -> None:
        """Invalidate every CSRF token (a session timeout on the server)."""
        self._sessions.clear()

    def receive(self, order: str) -> None:
        """Post a goods receipt for an order: it can no longer be deleted."""
        self.received.add(order)

    def reverse_entry(self, document: str) -> None:
        """Reverse a posted journal entry (as FB08 would): its items read back ``IsReversed``."""
        for row in self.finance.items.values():
            if row.get("AccountingDocument") == document:
                row["IsReversed"] = True

    def payments(self) -> list[dict[str, Any]]:
        """The posted payment entries (document type ``KZ``)."""
        return [e for e in self.entries.values() if e.get("AccountingDocumentType") == "KZ"]

    def orders_by_reference(self, value: str, field: str = "CorrespncExternalReference") -> list[dict[str, Any]]:
        """Orders whose ``field`` equals ``value``."""
        return [o for o in self.orders.values() if o.get(field) == value]

    async def _configure_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(await request.json())
        return web.json_response({"ok": True})

    # ----------------------------------------------------------------- envelopes

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _date(self, ms: int) -> str:
        if self.v4:
            return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"/Date({ms})/"

    def _render(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, raw in row.items():
            if key in _PRIVATE:
                continue
            value: Any = raw
            if key in ("LastChangeDateTime", "CreationDate", "PostingDate") and isinstance(raw, int):
                value = self._date(raw)
            if isinstance(raw, list):
                rendered = [self._render(v) for v in raw]
                value = rendered if self.v4 else {"results": rendered}
            out[key] = value
        return out

    def _ok(self, payload: Any, status: int = 200) -> web.Response:
        if isinstance(payload, list):
            rows = [self._render(r) for r in payload]
            body: Any = {"value": rows} if self.v4 else {"d": {"results": rows}}
        else:
            body = self._render(payload) if self.v4 else {"d": self._render(payload)}
        return web.Response(status=status, body=json.dumps(body, ensure_ascii=False).encode(),
                            content_type="application/json", charset="utf-8")

    def _error(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        if self.v4:
            body: Any = {"error": {"code": code, "message": message, "details": [{"code": code, "message": message}]}}
        else:
            body = {"error": {"code": code, "message": {"lang": "zh", "value": message},
                              "innererror": {"errordetails": [{"code": code, "message": message,
                                                               "severity": "error"}]}}}
        return web.Response(status=status, body=json.dumps(body, ensure_ascii=False).encode(),
                            content_type="application/json", charset="utf-8", headers=headers)

    # ----------------------------------------------------------------- HTTP plumbing

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:] in self.bearer_tokens
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == self.username and hmac.compare_digest(password.encode(), self._password.encode())
        return False

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.Response(status=401, text="Logon failed", headers={"WWW-Authenticate": "Basic"})
        tail = request.match_info["tail"]
        entity, _, key = tail.partition("(")
        key = key.rstrip(")").strip("'").replace("''", "'")
        fetch = request.method == "GET" and request.headers.get("x-csrf-token", "").lower() == "fetch"
        verb = {"GET": "read" if key else "query", "POST": "create", "DELETE": "delete"}.get(request.method, "x")
        operation = "csrf.fetch" if fetch else f"{entity}.{verb}"
        fault = self.faults.draw(operation)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMIT:
                return self._error(429, "/IWFND/CM_BEC/026", "请求过多", {"Retry-After": f"{fault.retry_after:g}"})
            if fault.kind is FaultKind.SERVER_ERROR:
                return self._error(503, "/IWFND/CM_BEC/076", "服务暂时不可用")
            if fault.kind is FaultKind.DROP:
                self._drop(request)
                return web.Response(status=500)
            if fault.kind is FaultKind.EXPIRED_TOKEN:
                self._sessions.clear()
        if fetch:
            return self._fetch(request)
        if request.method != "GET":
            session = request.cookies.get(SESSION_COOKIE, "")
            token = request.headers.get("x-csrf-token", "")
            if not token or not hmac.compare_digest(self._sessions.get(session, "-"), token):
                # Unconfirmed shape (contract §8): 403, "x-csrf-token: Required", this text.
                return web.Response(status=403, text=CSRF_FAILED, headers={"x-csrf-token": "Required"})
        body: Any = None
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return self._error(400, "/IWFND/CM_MGW/004", "请求体不是有效的 JSON")
        request[_FAULT] = fault
        return await asyncio.shield(self._apply(request, entity, key, body))

    async def _apply(self, request: web.Request, entity: str, key: str, body: Any) -> web.StreamResponse:
        fault = request.get(_FAULT)
        if fault is not None and fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
        try:
            response = self._route(request, entity, key, body)
        except Refused as exc:
            response = self._error(exc.status, exc.code, exc.message)
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            self._drop(request)
        return response

    def _fetch(self, request: web.Request) -> web.Response:
        session = request.cookies.get(SESSION_COOKIE) or secrets.token_hex(12)
        token = secrets.token_urlsafe(18)
        self._sessions[session] = token
        self.csrf_fetches += 1
        response = web.json_response({"d": {"EntitySets": ["A_PurchaseOrder"]}} if not self.v4 else {"value": []},
                                     headers={"x-csrf-token": token})
        response.set_cookie(SESSION_COOKIE, session, path="/", httponly=True)
        return response

    # ----------------------------------------------------------------- routing

    def _route(self, request: web.Request, entity: str, key: str, body: Any) -> web.Response:
        tables = {"A_BusinessPartner": self.partners, "A_Product": self.products, "A_PurchaseOrder": self.orders,
                  "A_JournalEntryItemBasic": self.finance.items, "A_EnterpriseProject": self.finance.projects}
        method = request.method
        if method == "POST" and entity == "Release":
            return self._ok(self._release(request.query.get("PurchaseOrder", "").strip("'")))
        if method == "POST":
            if not isinstance(body, Mapping):
                raise Refused(400, "/IWFND/CM_MGW/004", "请求体必须是一个实体")
            self.create_calls[entity] = self.create_calls.get(entity, 0) + 1
            creator = {"A_BusinessPartner": self._create_partner, "A_Product": self._create_product,
                       "A_PurchaseOrder": self._create_order, "A_JournalEntry": self._post_entry,
                       "A_EnterpriseProject": self.finance.create_project}.get(entity)
            if creator is None:
                raise Refused(404, "/IWFND/CM_MGW/020", f"资源 {entity} 不存在")
            return self._ok(creator(dict(body)), 201)
        table = tables.get(entity)
        if table is None:
            raise Refused(404, "/IWFND/CM_MGW/020", f"资源 {entity} 不存在")
        if method == "DELETE":
            self._delete_order(key)
            return web.Response(status=204)
        if key:
            row = table.get(key)
            if row is None:
                raise Refused(404, "/IWBEP/CM_MGW_RT/020", f"未找到键为 {key} 的资源")
            return self._ok(self._expand(row, request.query.get("$expand", "")))
        return self._ok(self._query(list(table.values()), request.query))

    @staticmethod
    def _expand(row: Mapping[str, Any], expand: str) -> dict[str, Any]:
        names = {n.strip() for n in expand.split(",") if n.strip()}
        return {k: v for k, v in row.items() if not isinstance(v, list) or k in names}

    def _query(self, rows: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
        conditions = []
        text = query.get("$filter", "")
        for part in filter(None, text.split(" and ")):
            match = _CONDITION.match(part.strip())
            if match is None:
                raise Refused(400, "/IWBEP/CM_MGW_RT/000", f"无法解析 $filter：{part}")
            field, op, quoted, stamp, bare = match.groups()
            value: Any = quoted.replace("''", "'") if quoted is not None else stamp or bare
            if field == "LastChangeDateTime":
                value = int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
            conditions.append((field, op, value))

        def keep(row: Mapping[str, Any]) -> bool:
            for field, op, value in conditions:
                actual = row.get(field)
                if actual is None or (op == "eq" and actual != value) or (op == "ge" and actual < value):
                    return False
            return True

        matched = [r for r in rows if keep(r)]
        order = [f.strip().split(" ")[0] for f in query.get("$orderby", "").split(",") if f.strip()]
        matched.sort(key=lambda r: tuple(str(r.get(f, "")).zfill(20) for f in order))
        skip, top = int(query.get("$skip", "0")), int(query.get("$top", "1000"))
        return [{k: v for k, v in r.items() if not isinstance(v, list)} for r in matched[skip:skip + top]]

    # ----------------------------------------------------------------- documents

    def _create_partner(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("BusinessPartnerCategory") != "2" or not body.get("OrganizationBPName1"):
            raise Refused(400, "R11/401", "组织类业务伙伴需要名称 OrganizationBPName1")
        number = str(next(self._ids["bp"]))
        row = {k: v for k, v in body.items() if not isinstance(v, Mapping)}
        row.update({"BusinessPartner": number, "Supplier": number})
        self.partners[number] = row
        return row

    def _create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        code = str(body.get("Product") or "")
        if not code or code in self.products:
            raise Refused(400, "M3/351", f"物料 {code} 已存在或编号为空")
        if not body.get("BaseUnit"):
            raise Refused(400, "M3/349", f"物料 {code} 缺少基本计量单位")
        row = {k: v for k, v in body.items() if not isinstance(v, Mapping)}
        descriptions = body.get("to_Description", {})
        descriptions = descriptions.get("results", []) if isinstance(descriptions, Mapping) else descriptions
        row["_description"] = descriptions[0].get("ProductDescription") if descriptions else ""
        self.products[code] = row
        return row

    def _create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("CompanyCode") != self.company_code:
            raise Refused(400, "ME/083", f"公司代码 {body.get('CompanyCode')} 不存在")
        supplier = str(body.get("Supplier") or "")
        if supplier not in self.partners:
            raise Refused(400, "ME/047", f"供应商 {supplier} 不存在")
        raw = body.get("to_PurchaseOrderItem", body.get("_PurchaseOrderItem"))
        items = raw.get("results") if isinstance(raw, Mapping) else raw
        if not isinstance(items, list) or not items:
            raise Refused(400, "ME/039", "采购订单没有行项目")
        stored = []
        for item in items:
            material = str(item.get("Material") or "")
            if material not in self.products:
                raise Refused(400, "ME/062", f"物料 {material} 不存在")
            if item.get("Plant") != self.plant:
                raise Refused(400, "ME/063", f"工厂 {item.get('Plant')} 不存在")
            if decimal_of(item.get("OrderQuantity"), "OrderQuantity") <= 0:
                raise Refused(400, "ME/064", "数量必须大于零")
            decimal_of(item.get("NetPriceAmount"), "NetPriceAmount")
            stored.append(dict(item))
        number = str(next(self._ids["po"]))
        now = self._now_ms()
        row = {k: v for k, v in body.items() if not isinstance(v, Mapping | list)}
        row.update({"PurchaseOrder": number, "PurchasingProcessingStatus": "03" if self.release_required else "05",
                    "PurchasingDocumentDeletionCode": "", "CreationDate": now, "LastChangeDateTime": now,
                    "to_PurchaseOrderItem" if not self.v4 else "_PurchaseOrderItem": stored})
        self.orders[number] = row
        return {k: v for k, v in row.items() if not isinstance(v, list)}

    def _order(self, number: str) -> dict[str, Any]:
        order = self.orders.get(number)
        if order is None:
            raise Refused(404, "ME/006", f"采购订单 {number} 不存在")
        return order

    def _release(self, number: str) -> dict[str, Any]:
        order = self._order(number)
        if order["PurchasingProcessingStatus"] != "03":
            raise Refused(400, "ME/179", f"采购订单 {number} 不在审批中，无法审批")
        order["PurchasingProcessingStatus"] = "05"
        order["LastChangeDateTime"] = self._now_ms()
        return {k: v for k, v in order.items() if not isinstance(v, list)}

    def _delete_order(self, number: str) -> None:
        order = self._order(number)
        if number in self.received:
            raise Refused(400, "ME/040", f"采购订单 {number} 已有收货，不能删除；请先冲销收货（物料凭证）")
        order["PurchasingDocumentDeletionCode"] = "L"
        order["LastChangeDateTime"] = self._now_ms()

    def _post_entry(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("CompanyCode") != self.company_code:
            raise Refused(400, "F5/165", f"公司代码 {body.get('CompanyCode')} 不存在")
        posting = str(body.get("PostingDate") or "")
        if posting[:7] in self.closed_periods:
            raise Refused(400, "F5/201", f"过账期间 {posting[:7]} 未打开")
        raw = body.get("to_Item")
        items = raw.get("results") if isinstance(raw, Mapping) else raw
        if not isinstance(items, list) or len(items) < 2:
            raise Refused(400, "F5/702", "凭证至少需要两个行项目")
        self.finance.check(body, items, self.partners)
        total = Decimal(0)
        for item in items:
            if item.get("GLAccount") not in self.accounts:
                raise Refused(400, "F5/153",
                               f"总账科目 {item.get('GLAccount')} 在公司代码 {self.company_code} 中不存在")
            amount = decimal_of(item.get("AmountInTransactionCurrency"), "AmountInTransactionCurrency")
            if (amount > 0) != (item.get("DebitCreditCode") == "S"):
                raise Refused(400, "F5/703", "借贷标识与金额符号不一致")
            total += amount
        if total != 0:
            raise Refused(400, "F5/702", f"余额不为零：借贷差额 {total}")
        number = str(next(self._ids["je"]))
        row = {k: v for k, v in body.items() if not isinstance(v, Mapping | list)}
        row.update({"AccountingDocument": number, "FiscalYear": posting[:4], "_items": items})
        self.entries[number] = row
        self.finance.index(row, items)
        return {k: v for k, v in row.items() if k not in _PRIVATE}
