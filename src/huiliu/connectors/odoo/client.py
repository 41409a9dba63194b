"""The Odoo external API client: one model-call seam over JSON-RPC (≤ 18) or the JSON-2 API (19+).

Wire formats (contract §6.1, §6.2):

* JSON-RPC: ``POST {base_url}/jsonrpc`` with ``{"jsonrpc": "2.0", "method": "call", "params": {"service",
  "method", "args"}, "id"}``. ``common.authenticate(db, login, key, {})`` returns the uid (``false`` for a bad
  key); model calls are ``object.execute_kw(db, uid, key, model, method, args, kwargs)``.
* JSON-2: ``POST {base_url}/json/2/<model>/<method>`` with ``Authorization: bearer <key>`` and
  ``X-Odoo-Database``; the body holds ``ids`` (for record methods), ``context`` and the method's parameters
  by name; the reply body is the result.

Every helper passes parameters by name, so the same call reaches ``call_kw`` the same way through either API
(record ids first for record methods). Each call is its own transaction on the server: a business step is one
method call (``button_confirm``), never a read-modify-write across calls. Reply interpretation lives in
:mod:`huiliu.connectors.odoo.errors`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from huiliu.connectors.http import HttpClient
from huiliu.connectors.odoo.errors import AUTHENTICATE, bad_key, check_json2, check_jsonrpc
from huiliu.connectors.odoo.settings import OdooApi, OdooSettings
from huiliu.errors import AuthExpired

__all__ = ["Domain", "KeySource", "OdooClient"]

Domain = list[Any]
"""An Odoo search domain, e.g. ``[["ref", "=", "SUP-1"], "|", ["active", "=", True], ["active", "=", False]]``."""

KeySource = Callable[[], Awaitable[str]]
"""Returns the current API key (e.g. from a secret store); called again after a refusal, so a rotated key
is picked up without a restart."""


class OdooClient:
    """Calls one Odoo database with an API key.

    Args:
        settings: the connector settings.
        http: the HTTP client for system ``odoo``.
        key_source: where a fresh key comes from after Odoo refused the current one; by default the
            configured ``api_key`` (then a refusal after renewal reaches the caller as :func:`bad_key`).

    Attributes:
        authentications: how many ``common.authenticate`` calls this client made (for tests and metrics).
    """

    def __init__(self, settings: OdooSettings, http: HttpClient, *, key_source: KeySource | None = None) -> None:
        self.settings = settings
        self.http = http
        self.authentications = 0
        self._key_source = key_source
        self._key = settings.api_key.get_secret_value()
        self._uid: int | None = settings.uid
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._generation = 0

    @property
    def context(self) -> dict[str, Any]:
        """The context sent with every model call: language and, when set, the company."""
        context: dict[str, Any] = {"lang": self.settings.language}
        if self.settings.company is not None:
            context["allowed_company_ids"] = [self.settings.company]
        return context

    # ----------------------------------------------------------------- auth

    async def _rpc(self, service: str, method: str, args: Sequence[Any], operation: str) -> Any:
        body = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                "params": {"service": service, "method": method, "args": list(args)}}
        reply = await self.http.request("POST", self.settings.jsonrpc_url, operation, json_body=body)
        return check_jsonrpc(reply, operation)

    async def version(self) -> dict[str, Any]:
        """``common.version`` (JSON-RPC, no login needed), e.g. ``{"server_serie": "17.0", …}``."""
        result = await self._rpc("common", "version", [], "common.version")
        return dict(result) if isinstance(result, Mapping) else {}

    async def authenticate(self) -> int:
        """``common.authenticate``: the uid of ``login`` with the API key (JSON-RPC only).

        Raises:
            VendorRejected: Odoo answered ``false`` (wrong login, key revoked or expired) or the database
                does not exist.
            TransientError, RateLimited: see :mod:`huiliu.connectors.odoo.errors`.
        """
        async with self._lock:
            return await self._authenticate_locked()

    async def _authenticate_locked(self) -> int:
        s = self.settings
        uid = await self._rpc("common", "authenticate", [s.database, s.login, self._key, {}], AUTHENTICATE)
        self.authentications += 1
        if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
            raise bad_key(AUTHENTICATE)
        self._uid = uid
        return uid

    async def _credentials(self) -> tuple[int | None, str, int]:
        if self.settings.api is OdooApi.JSONRPC and self._uid is None:
            async with self._lock:
                if self._uid is None:
                    await self._authenticate_locked()
        return self._uid, self._key, self._generation

    async def _renew(self, generation: int, operation: str) -> None:
        async with self._lock:
            if generation != self._generation:
                return  # another call renewed meanwhile
            if self._key_source is not None:
                self._key = await self._key_source()
            self._generation += 1
            if self.settings.api is OdooApi.JSONRPC:
                self._uid = None
                try:
                    await self._authenticate_locked()
                except AuthExpired as exc:
                    raise bad_key(operation, exc.vendor_message) from exc

    # ----------------------------------------------------------------- calls

    async def _send(self, model: str, method: str, ids: Sequence[int] | None, params: Mapping[str, Any],
                    uid: int | None, key: str) -> Any:
        operation = f"{model}.{method}"
        named = {k: v for k, v in params.items() if v is not None}
        if self.settings.api is OdooApi.JSON2:
            body: dict[str, Any] = {"context": self.context, **named}
            if ids is not None:
                body["ids"] = list(ids)
            headers = {"Authorization": f"bearer {key}", "X-Odoo-Database": self.settings.database}
            reply = await self.http.request("POST", self.settings.json2_url(model, method), operation,
                                            json_body=body, headers=headers)
            return check_json2(reply, operation)
        args: list[Any] = [list(ids)] if ids is not None else []
        return await self._rpc("object", "execute_kw", [self.settings.database, uid, key, model, method, args,
                                                        {**named, "context": self.context}], operation)

    async def call(self, model: str, method: str, ids: Sequence[int] | None = None,
                   **params: Any) -> Any:
        """Call ``model.method`` with parameters by name; on an auth refusal renew once and retry.

        Args:
            model: e.g. ``purchase.order``.
            method: e.g. ``button_confirm``.
            ids: the records, for record methods (``read``, ``write``, buttons); ``None`` for model methods.
            **params: the method's parameters by name; ``None`` values are left out.

        Raises:
            VendorRejected: a business refusal, or the key refused again after renewal (:func:`bad_key`).
            TransientError, RateLimited: see :mod:`huiliu.connectors.odoo.errors`.
        """
        uid, key, generation = await self._credentials()
        try:
            return await self._send(model, method, ids, params, uid, key)
        except AuthExpired:
            await self._renew(generation, f"{model}.{method}")
        uid, key, _ = await self._credentials()
        try:
            return await self._send(model, method, ids, params, uid, key)
        except AuthExpired as exc:
            raise bad_key(f"{model}.{method}", exc.vendor_message) from exc

    async def search(self, model: str, domain: Domain, *, offset: int = 0, limit: int | None = None,
                     order: str | None = None) -> list[int]:
        """Ids of the records matching ``domain``, e.g. ``order="id asc"``."""
        ids = await self.call(model, "search", domain=domain, offset=offset or None, limit=limit, order=order)
        return [int(i) for i in ids]

    async def search_read(self, model: str, domain: Domain, fields: Sequence[str], *, offset: int = 0,
                          limit: int | None = None, order: str | None = None) -> list[dict[str, Any]]:
        """The ``fields`` (plus ``id``) of the records matching ``domain``."""
        rows = await self.call(model, "search_read", domain=domain, fields=list(fields), offset=offset or None,
                               limit=limit, order=order)
        return [dict(r) for r in rows]

    async def search_count(self, model: str, domain: Domain) -> int:
        """How many records match ``domain``."""
        return int(await self.call(model, "search_count", domain=domain))

    async def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        """The ``fields`` (plus ``id``) of records by id, in the order of ``ids``."""
        if not ids:
            return []
        rows = await self.call(model, "read", list(ids), fields=list(fields))
        return [dict(r) for r in rows]

    async def create(self, model: str, values: Mapping[str, Any]) -> int:
        """Create one record; returns its id. Not idempotent: look references up first.

        One2many values are command lists, e.g. ``{"order_line": [[0, 0, {...}]]}``. Onchanges do not run
        over the external API; stored computed fields are computed.
        """
        result = await self.call(model, "create", vals_list=[dict(values)])
        return int(result[0] if isinstance(result, list) else result)

    async def write(self, model: str, ids: Sequence[int], values: Mapping[str, Any]) -> None:
        """Write the same ``values`` on records."""
        await self.call(model, "write", list(ids), vals=dict(values))

    async def button(self, model: str, name: str, ids: Sequence[int]) -> Any:
        """Press a workflow button, e.g. ``button("purchase.order", "button_confirm", [7])``."""
        return await self.call(model, name, list(ids))
