"""ERPNext sandbox HTTP surface: the Frappe REST API of contract §7.

Owns: :class:`ErpnextSandbox` (constructor, seeded masters, API keys, inspection, business helpers), the routes
``GET|POST /api/resource/<DocType>``, ``GET|PUT|DELETE /api/resource/<DocType>/<name>``,
``POST /api/method/frappe.client.submit`` and ``POST /api/method/frappe.client.cancel``, the envelopes
(``{"data": …}`` for resources, ``{"message": …}`` for methods, errors as their HTTP status with
``exception``/``exc_type``/``exc``/``_server_messages``), ``Authorization: token key:secret`` (and ``Basic``),
per-request fault injection and the ``/_sandbox/*`` control routes. Does not own: what a write does
(:mod:`.documents`).

Simulated where the contract is unconfirmed: the exact error body keys (Frappe's as remembered); a
throttled request is HTTP 429 with ``Retry-After`` and ``X-RateLimit-*`` headers (``frappe/rate_limiter.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.erpnext.accounting import Accounts
from huiliu.sandbox.erpnext.documents import FrappeError, Ledger
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan

__all__ = ["ErpnextSandbox"]


def _reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, ensure_ascii=False, default=str).encode(),
                        content_type="application/json", charset="utf-8", headers=headers)


def _error(exc: FrappeError) -> web.Response:
    return _reply(exc.body(), exc.status)


class ErpnextSandbox:
    """The simulated ERPNext site: an aiohttp application in :attr:`app` plus inspectable state.

    Args:
        api_key: the API user's key.
        api_secret: its secret.
        company: the one company (``Company`` record) orders belong to.
        time_zone: the site's time zone (System Settings → Time Zone); ``modified`` is in it.
        reference_field: the custom Purchase Order field holding the hub's reference.
        unique_reference: that field is marked unique.
        clock: where time comes from (a :class:`huiliu.testing.FakeClock` in tests).
        closed_until: the end of the closed accounting period: Payment and Journal Entries dated on or before it
            cannot be submitted or cancelled.
        faults: the fault plan drawn once per request, by operation ``<DocType>.<verb>`` (``list``, ``get``,
            ``insert``, ``update``, ``delete``) or ``submit`` / ``cancel``.
    """

    def __init__(self, *, api_key: str = "erp-key", api_secret: str = "erp-secret",  # noqa: S107 - a sandbox
                 company: str = "汇流科技有限公司",
                 time_zone: str = "Asia/Shanghai", reference_field: str = "custom_huiliu_ref",
                 unique_reference: bool = False, clock: Clock | None = None, faults: FaultPlan | None = None,
                 closed_until: date | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.faults = faults if faults is not None else FaultPlan()
        self.company = company
        self.ledger = Ledger(self.clock, time_zone, reference_field, unique_reference=unique_reference)
        self.accounts = Accounts(self.ledger, company, closed_until=closed_until)
        self.ledger.hooks = self.accounts
        self._keys: dict[str, str] = {api_key: api_secret}
        self.calls: Counter[str] = Counter()
        """Requests that reached the documents, by operation."""
        self._seed()
        self.app = web.Application()
        self.app.router.add_get("/api/resource/{doctype}", self._list)
        self.app.router.add_post("/api/resource/{doctype}", self._insert)
        self.app.router.add_get("/api/resource/{doctype}/{name}", self._get)
        self.app.router.add_put("/api/resource/{doctype}/{name}", self._update)
        self.app.router.add_delete("/api/resource/{doctype}/{name}", self._delete)
        self.app.router.add_post("/api/method/{method}", self._method)
        self.app.router.add_post("/_sandbox/faults", self._configure_faults)
        self.app.router.add_get("/_sandbox/state", self._state)

    def _seed(self) -> None:
        docs = self.ledger.docs
        for uom in ("Nos", "Unit", "Kg", "Gram", "Meter", "Litre", "Box", "Set"):
            docs["UOM"][uom] = {"name": uom, "uom_name": uom, "docstatus": 0}
        for code in ("CNY", "USD", "EUR"):
            docs["Currency"][code] = {"name": code, "currency_name": code, "enabled": 1, "docstatus": 0}
        docs["Company"][self.company] = {"name": self.company, "company_name": self.company,
                                         "default_currency": "CNY", "docstatus": 0}
        self.accounts.seed()

    # ----------------------------------------------------------------- keys, inspection, helpers

    def add_key(self, key: str, secret: str) -> None:
        """Generate keys for the API user (User → Settings → API Access)."""
        self._keys[key] = secret

    def revoke_key(self, key: str) -> None:
        """Remove a key, as regenerating it in the user's settings does."""
        self._keys.pop(key, None)

    def docs(self, doctype: str) -> dict[str, dict[str, Any]]:
        """Stored documents of ``doctype`` by name."""
        return self.ledger.docs[doctype]

    def orders(self) -> list[dict[str, Any]]:
        """Every Purchase Order, oldest first."""
        return list(self.ledger.docs["Purchase Order"].values())

    def receive(self, name: str) -> str:
        """Submit a Purchase Receipt for all of an order; returns the receipt's name."""
        order = self.ledger.get("Purchase Order", name)
        if order["docstatus"] != 1:
            raise ValueError(f"{name} is not submitted")
        receipt = self.ledger.insert("Purchase Receipt", {"supplier": order["supplier"], "purchase_order": name,
                                                          "posting_date": self.ledger.now().date().isoformat(),
                                                          "docstatus": 1})
        for item in order["items"]:
            item["received_qty"] = item["qty"]
        order.update(per_received=100.0, status="To Bill", modified=self.ledger.stamp())
        return str(receipt["name"])

    def state(self) -> dict[str, Any]:
        """A JSON summary, as served by ``GET /_sandbox/state``."""
        ref = self.ledger.reference_field
        return {"orders": [{"name": o["name"], "docstatus": o["docstatus"], "status": o["status"],
                            "reference": o.get(ref)} for o in self.orders()],
                "suppliers": len(self.docs("Supplier")), "items": len(self.docs("Item")),
                "calls": dict(self.calls), "faults_injected": dict(self.faults.injected)}

    # ----------------------------------------------------------------- plumbing

    async def _configure_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(await request.json())
        return _reply({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        return _reply(self.state())

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
        elif scheme.lower() != "token":
            return False
        key, _, secret = value.partition(":")
        expected = self._keys.get(key)
        return expected is not None and secrets.compare_digest(secret, expected)

    @staticmethod
    def _unauthorised() -> web.Response:
        return _error(FrappeError(401, "AuthenticationError", "Invalid Authentication Credentials", ""))

    async def _serve(self, request: web.Request, operation: str, apply: Callable[[Any], Any],
                     envelope: str = "data", *, needs_body: bool = False) -> web.StreamResponse:
        if not self._authorised(request):
            return self._unauthorised()
        fault: Fault | None = self.faults.draw(operation)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMIT:
                reset = self.clock.now() + timedelta(seconds=fault.retry_after)
                return web.Response(status=429, text="Too Many Requests", headers={
                    "Retry-After": f"{fault.retry_after:g}", "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset.timestamp()))})
            if fault.kind is FaultKind.SERVER_ERROR:
                return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
                                    content_type="text/html")
            if fault.kind is FaultKind.DROP:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            if fault.kind is FaultKind.EXPIRED_TOKEN:
                return self._unauthorised()
        body: Any = None
        if needs_body:
            try:
                body = await request.json()
            except ValueError:
                return _error(FrappeError(417, "ValidationError", "Invalid JSON body"))

        async def run() -> web.Response:
            if fault is not None and fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
            self.calls[operation] += 1
            try:
                return _reply({envelope: apply(body)})
            except FrappeError as exc:
                return _error(exc)

        # Shielded: the site finishes (and commits) a request whose client stopped waiting.
        response = await asyncio.shield(run())
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST and request.transport is not None:
            request.transport.close()
        return response

    # ----------------------------------------------------------------- routes

    async def _list(self, request: web.Request) -> web.StreamResponse:
        doctype = request.match_info["doctype"]
        query = request.query

        def apply(_: Any) -> Any:
            try:
                fields = json.loads(query.get("fields", '["name"]'))
                filters = json.loads(query.get("filters", "[]"))
                start = int(query.get("limit_start", "0"))
                length = int(query.get("limit_page_length", query.get("limit", "20")))
            except ValueError as exc:
                raise FrappeError(417, "ValidationError", f"Invalid query parameter: {exc}") from exc
            if not isinstance(fields, list) or fields == ["*"]:
                fields = ["name", *self.ledger.fields.get(doctype, {}), "docstatus", "modified", "creation"]
                fields = [f for f in fields if f != "items"]
            return self.ledger.get_list(doctype, fields, filters, query.get("order_by", "modified desc"), start,
                                        length)

        return await self._serve(request, f"{doctype}.list", apply)

    async def _insert(self, request: web.Request) -> web.StreamResponse:
        doctype = request.match_info["doctype"]

        def apply(body: Any) -> Any:
            if not isinstance(body, dict):
                raise FrappeError(417, "ValidationError", "Document must be a JSON object")
            if doctype in ("Purchase Order", "Payment Entry", "Journal Entry", "Project"):
                body.setdefault("company", self.company)
            return self.ledger.insert(doctype, body)

        return await self._serve(request, f"{doctype}.insert", apply, needs_body=True)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        doctype, name = request.match_info["doctype"], request.match_info["name"]
        return await self._serve(request, f"{doctype}.get", lambda _: self.ledger.get(doctype, name))

    async def _update(self, request: web.Request) -> web.StreamResponse:
        doctype, name = request.match_info["doctype"], request.match_info["name"]

        def apply(body: Any) -> Any:
            if not isinstance(body, dict):
                raise FrappeError(417, "ValidationError", "Document must be a JSON object")
            return self.ledger.update(doctype, name, body)

        operation = f"{doctype}.update"
        return await self._serve(request, operation, apply, needs_body=True)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        doctype, name = request.match_info["doctype"], request.match_info["name"]

        def apply(_: Any) -> Any:
            self.ledger.delete(doctype, name)
            return "ok"

        return await self._serve(request, f"{doctype}.delete", apply, envelope="message")

    async def _method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]

        def apply(body: Any) -> Any:
            if not isinstance(body, dict):
                raise FrappeError(417, "ValidationError", "Arguments must be a JSON object")
            if method == "frappe.client.cancel":
                return self.ledger.cancel(str(body.get("doctype")), str(body.get("name")))
            doc = body.get("doc")
            if isinstance(doc, str):
                doc = json.loads(doc)
            if not isinstance(doc, dict) or "doctype" not in doc or "name" not in doc:
                raise FrappeError(417, "ValidationError", "doc must carry doctype and name")
            current = self.ledger.get(str(doc["doctype"]), str(doc["name"]))
            if doc.get("modified") and doc["modified"] != current["modified"]:
                raise FrappeError(417, "TimestampMismatchError",
                                  "Error: Document has been modified after you have opened it "
                                  f"({current['modified']}, {doc['modified']}). Please refresh to get the latest "
                                  "document.")
            return self.ledger.update(str(doc["doctype"]), str(doc["name"]), {"docstatus": 1})

        if method not in ("frappe.client.cancel", "frappe.client.submit"):
            return _error(FrappeError(404, "DoesNotExistError", f"Method {method} not found"))
        operation = "cancel" if method.endswith("cancel") else "submit"
        return await self._serve(request, operation, apply, envelope="message", needs_body=True)
