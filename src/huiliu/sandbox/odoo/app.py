"""Odoo sandbox HTTP surface: ``/jsonrpc`` (≤ 18) and the JSON-2 API ``/json/2/<model>/<method>`` (19+).

Owns: :class:`OdooSandbox` (constructor, seeded master data, API keys, inspection), the JSON-RPC 2.0
envelope (``{"jsonrpc", "id", "result"}`` or ``{"error": {"code": 200, "message": "Odoo Server Error",
"data": {name, message, arguments, context, debug}}}`` with HTTP 200), the JSON-2 replies (the result as the
body; errors as 4xx/5xx with ``{name, message, arguments, context, debug}``; a bad key **401**
``werkzeug.exceptions.Unauthorized`` "Invalid apikey", contract §6.2), per-request fault injection and the
``/_sandbox/*`` control routes. Does not own: what a method does (:mod:`.purchase`, :mod:`.records`).

Simulated where the contract is unconfirmed:

* JSON-2 status codes other than 401 and 422 (unexpected keyword): ``UserError``/``ValidationError`` → 422,
  ``AccessError`` → 403, ``MissingError`` → 404, anything else → 500;
* a JSON-2 call naming another database in ``X-Odoo-Database`` → 404;
* rate limiting (Odoo documents none): a generic HTTP 429 with ``Retry-After`` on either API;
* XML-RPC (``/xmlrpc/2``) is not served; ``/jsonrpc`` offers the same ``common``/``object`` services.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.faults import Fault, FaultKind, FaultPlan
from huiliu.sandbox.odoo.accounting import Accounting
from huiliu.sandbox.odoo.purchase import RECORD_METHODS, OdooBook
from huiliu.sandbox.odoo.records import OdooError, RecordStore

__all__ = ["ACCESS_DENIED", "INVALID_APIKEY", "OdooSandbox"]

ACCESS_DENIED = "Access Denied"
"""``odoo.exceptions.AccessDenied``'s message for a wrong uid/key pair in ``execute_kw``."""

INVALID_APIKEY = "Invalid apikey"
"""The JSON-2 API's 401 message for a bad bearer key (contract §6.2)."""

_JSON2_STATUS = {
    "odoo.exceptions.UserError": 422, "odoo.exceptions.ValidationError": 422, "builtins.TypeError": 422,
    "builtins.ValueError": 422, "odoo.exceptions.AccessError": 403, "odoo.exceptions.MissingError": 404,
    "builtins.AttributeError": 404, "builtins.KeyError": 404,
}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # Odoo's monetary and float fields travel as JSON numbers
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _reply(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, ensure_ascii=False, default=_default).encode(),
                        content_type="application/json", charset="utf-8")


class OdooSandbox:
    """The simulated Odoo server: an aiohttp application in :attr:`app` plus inspectable state.

    Args:
        database: the one database served.
        login: the API user's login.
        api_key: that user's API key (also accepted as its password by ``authenticate``).
        uid: the API user's id.
        key_ttl: seconds an API key stays valid from its creation; ``None`` never expires (Odoo caps keys at
            3 months, contract §6.2).
        clock: where time comes from (a :class:`huiliu.testing.FakeClock` in tests).
        faults: the fault plan drawn once per call, by operation ``authenticate`` or ``<model>.<method>``.
        approval_threshold: orders whose total reaches it stop in ``to approve`` at confirmation.
        lock_date: the company's lock date: entries and payments dated on or before it are not posted.
        paid_state: the state a payment settled by the bank statement moves to (``paid`` in Odoo 18); ``None``
            keeps ``posted`` and sets ``is_matched`` only (Odoo ≤ 17).
    """

    def __init__(self, *, database: str = "hub", login: str = "api", api_key: str = "odoo-key", uid: int = 2,
                 key_ttl: float | None = None, clock: Clock | None = None, faults: FaultPlan | None = None,
                 approval_threshold: Decimal | None = None, lock_date: date | None = None,
                 paid_state: str | None = None) -> None:
        self.database = database
        self.login = login
        self.uid = uid
        self.clock: Clock = clock or SystemClock()
        self.faults = faults if faults is not None else FaultPlan()
        self.store = RecordStore(self.clock)
        self.book = OdooBook(self.store, approval_threshold,
                             Accounting(self.store, lock_date=lock_date, paid_state=paid_state))
        self._keys: dict[str, float | None] = {}
        self.key_ttl = key_ttl
        self.add_key(api_key)
        self.calls: Counter[str] = Counter()
        """Calls that reached the model layer, by ``<model>.<method>`` (``authenticate`` too)."""
        self._seed()
        self.app = web.Application()
        self.app.router.add_post("/jsonrpc", self._jsonrpc)
        self.app.router.add_post("/json/2/{model}/{method}", self._json2)
        self.app.router.add_post("/_sandbox/faults", self._configure_faults)
        self.app.router.add_get("/_sandbox/state", self._state)

    def _seed(self) -> None:
        self.store.insert("res.partner", {"name": "My Company", "is_company": True, "active": True})
        for name in ("Units", "Dozens", "kg", "g", "m", "L", "Hours"):
            self.store.insert("uom.uom", {"name": name, "active": True})
        for code, symbol in (("CNY", "¥"), ("USD", "$"), ("EUR", "€")):
            self.store.insert("res.currency", {"name": code, "symbol": symbol, "active": True})
        self.book.accounting.seed()

    # ----------------------------------------------------------------- keys and inspection

    def add_key(self, key: str) -> None:
        """Accept another API key for the API user (``res.users.apikeys``)."""
        self._keys[key] = None if self.key_ttl is None else self.clock.monotonic() + self.key_ttl

    def revoke_key(self, key: str) -> None:
        """Revoke a key, as a user does in their preferences."""
        self._keys.pop(key, None)

    def _key_valid(self, key: str) -> bool:
        if key not in self._keys:
            return False
        expires = self._keys[key]
        return expires is None or self.clock.monotonic() < expires

    def records(self, model: str) -> dict[int, dict[str, Any]]:
        """The stored records of ``model`` by id (stored values, not read formats)."""
        return self.store.table(model)

    def orders(self) -> list[dict[str, Any]]:
        """Every purchase order, oldest first."""
        return list(self.store.table("purchase.order").values())

    def order_lines(self, order_id: int) -> list[dict[str, Any]]:
        """The stored lines of an order."""
        return [self.store.get("purchase.order.line", i) for i in self.store.get("purchase.order", order_id)
                ["order_line"]]

    def state(self) -> dict[str, Any]:
        """A JSON summary, as served by ``GET /_sandbox/state``."""
        return {
            "orders": [{"id": o["id"], "name": o["name"], "state": o["state"],
                        "origin": o.get("origin"), "partner_ref": o.get("partner_ref")} for o in self.orders()],
            "partners": len(self.store.table("res.partner")),
            "products": len(self.store.table("product.product")),
            "calls": dict(self.calls),
            "faults_injected": dict(self.faults.injected),
        }

    # ----------------------------------------------------------------- HTTP plumbing

    async def _configure_faults(self, request: web.Request) -> web.Response:
        self.faults.configure(await request.json())
        return _reply({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        return _reply(self.state())

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()

    async def _with_faults(self, request: web.Request, operation: str, apply: Any, expired: web.Response,
                           ) -> web.StreamResponse:
        """Draw a fault for ``operation`` and run ``apply`` (a no-argument callable) around it."""
        fault: Fault | None = self.faults.draw(operation)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMIT:
                return web.Response(status=429, text="Too Many Requests",
                                    headers={"Retry-After": f"{fault.retry_after:g}"})
            if fault.kind is FaultKind.SERVER_ERROR:
                return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                                    content_type="text/html")
            if fault.kind is FaultKind.DROP:
                self._drop(request)
                return web.Response(status=500)
            if fault.kind is FaultKind.EXPIRED_TOKEN:
                return expired

        async def run() -> web.Response:
            if fault is not None and fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
            result: web.Response = apply()
            return result

        # Shielded: like a real server, Odoo finishes (and commits) a request whose client gave up waiting.
        response = await asyncio.shield(run())
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            self._drop(request)
        return response

    # ----------------------------------------------------------------- /jsonrpc

    async def _jsonrpc(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="Invalid JSON data")
        if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
            return web.Response(status=400, text="Invalid JSON-RPC request")
        rpc_id = body.get("id")
        params = body["params"]
        service, method, args = params.get("service"), params.get("method"), params.get("args") or []
        if not isinstance(args, list):
            return _reply(self._rpc_error(rpc_id, OdooError("builtins.TypeError", "args must be a list")))
        if service == "common":
            operation = "authenticate" if method in ("authenticate", "login") else f"common.{method}"
            return await self._with_faults(request, operation, lambda: self._common(rpc_id, method, args),
                                           _reply(self._rpc_result(rpc_id, False)))
        if service == "object" and method in ("execute_kw", "execute") and len(args) >= 5:
            operation = f"{args[3]}.{args[4]}"
            denied = _reply(self._rpc_error(rpc_id, OdooError("odoo.exceptions.AccessDenied", ACCESS_DENIED)))
            return await self._with_faults(request, operation, lambda: self._object(rpc_id, method, args), denied)
        return _reply(self._rpc_error(rpc_id, OdooError(
            "builtins.NameError", f"Unknown service or method: {service}.{method}")))

    @staticmethod
    def _rpc_result(rpc_id: Any, result: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": rpc_id, "result": result}

    @staticmethod
    def _rpc_error(rpc_id: Any, error: OdooError) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": rpc_id,
                "error": {"code": 200, "message": "Odoo Server Error", "data": error.serialise()}}

    def _no_database(self, database: Any) -> OdooError:
        return OdooError("psycopg2.OperationalError",
                         f'connection to server failed: FATAL:  database "{database}" does not exist')

    def _common(self, rpc_id: Any, method: Any, args: list[Any]) -> web.Response:
        if method == "version":
            return _reply(self._rpc_result(rpc_id, {
                "server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""],
                "server_serie": "17.0", "protocol_version": 1}))
        if method in ("authenticate", "login") and len(args) >= 3:
            self.calls["authenticate"] += 1
            database, login, key = args[0], args[1], args[2]
            if database != self.database:
                return _reply(self._rpc_error(rpc_id, self._no_database(database)))
            ok = login == self.login and isinstance(key, str) and self._key_valid(key)
            return _reply(self._rpc_result(rpc_id, self.uid if ok else False))
        return _reply(self._rpc_error(rpc_id, OdooError("builtins.TypeError", f"bad call common.{method}")))

    def _object(self, rpc_id: Any, method: str, args: list[Any]) -> web.Response:
        database, uid, key, model, name = args[:5]
        if database != self.database:
            return _reply(self._rpc_error(rpc_id, self._no_database(database)))
        if uid != self.uid or not isinstance(key, str) or not self._key_valid(key):
            return _reply(self._rpc_error(rpc_id, OdooError("odoo.exceptions.AccessDenied", ACCESS_DENIED)))
        if method == "execute_kw":
            call_args = args[5] if len(args) > 5 else []
            kwargs = dict(args[6]) if len(args) > 6 and isinstance(args[6], dict) else {}
        else:
            call_args, kwargs = args[5:], {}
        if not isinstance(call_args, list):
            return _reply(self._rpc_error(rpc_id, OdooError("builtins.TypeError", "args must be a list")))
        kwargs.pop("context", None)
        try:
            result = self._run(str(model), str(name), call_args, kwargs)
        except OdooError as exc:
            return _reply(self._rpc_error(rpc_id, exc))
        return _reply(self._rpc_result(rpc_id, result))

    def _run(self, model: str, method: str, args: list[Any], kwargs: Mapping[str, Any],
             ids: Any = None) -> Any:
        self.calls[f"{model}.{method}"] += 1
        if ids is None and method in RECORD_METHODS:
            ids, args = (args[0] if args else None), args[1:]
        return self.book.call(model, method, ids, args, kwargs)

    # ----------------------------------------------------------------- /json/2

    @staticmethod
    def _json2_error(error: OdooError, status: int | None = None) -> web.Response:
        return _reply(error.serialise(), status or _JSON2_STATUS.get(error.name, 500))

    async def _json2(self, request: web.Request) -> web.StreamResponse:
        model, method = request.match_info["model"], request.match_info["method"]
        unauthorized = self._json2_error(OdooError("werkzeug.exceptions.Unauthorized", INVALID_APIKEY), 401)
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self._key_valid(key.strip()):
            return unauthorized
        database = request.headers.get("X-Odoo-Database")
        if database is not None and database != self.database:
            return self._json2_error(OdooError("werkzeug.exceptions.NotFound", f"database {database} not found"),
                                     404)
        try:
            body = await request.json()
        except ValueError:
            return self._json2_error(OdooError("werkzeug.exceptions.BadRequest", "Invalid JSON data"), 400)
        if not isinstance(body, dict):
            return self._json2_error(OdooError("werkzeug.exceptions.BadRequest", "a JSON object is expected"), 400)
        ids = body.pop("ids", None)
        body.pop("context", None)

        def apply() -> web.Response:
            try:
                return _reply(self._run(model, method, [], body, ids if ids is not None else None))
            except OdooError as exc:
                return self._json2_error(exc)

        return await self._with_faults(request, f"{model}.{method}", apply, unauthorized)

    @staticmethod
    def new_key() -> str:
        """A 160-bit key in Odoo's hex form."""
        return secrets.token_hex(20)
