"""The ERPNext / Frappe REST client: token auth, resources, submit and cancel, one renewal on 401.

Wire format (contract §7): ``Authorization: token <api_key>:<api_secret>``; ``GET /api/resource/<DocType>``
with ``fields``, ``filters`` (JSON), ``limit_start``, ``limit_page_length`` and ``order_by`` → ``{"data": [...]}``;
``POST /api/resource/<DocType>`` (child tables as arrays) and ``GET|PUT|DELETE /api/resource/<DocType>/<name>``
→ ``{"data": {...}}``; ``POST /api/method/frappe.client.cancel {doctype, name}`` → ``{"message": ...}``.
Submitting is a save with ``docstatus: 1`` (PUT). Reply interpretation lives in
:mod:`huiliu.connectors.erpnext.errors`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from huiliu.connectors.erpnext.errors import bad_credentials, check_reply
from huiliu.connectors.erpnext.settings import ErpnextSettings
from huiliu.connectors.http import HttpClient
from huiliu.errors import AuthExpired

__all__ = ["CredentialsSource", "ErpnextClient", "Filters"]

Filters = list[list[Any]]
"""Frappe filters, e.g. ``[["supplier_name", "=", "上海某某"], ["disabled", "=", 0]]``."""

CredentialsSource = Callable[[], Awaitable[tuple[str, str]]]
"""Returns the current ``(api_key, api_secret)``; called again after a 401, so regenerated keys are picked up."""


class ErpnextClient:
    """Calls one ERPNext site with an API key and secret.

    Args:
        settings: the connector settings.
        http: the HTTP client for system ``erpnext``.
        credentials_source: where fresh keys come from after a 401; by default the configured ones.
    """

    def __init__(self, settings: ErpnextSettings, http: HttpClient, *,
                 credentials_source: CredentialsSource | None = None) -> None:
        self.settings = settings
        self.http = http
        self._source = credentials_source
        self._key = settings.api_key.get_secret_value()
        self._secret = settings.api_secret.get_secret_value()
        self._generation = 0
        self._lock = asyncio.Lock()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self._key}:{self._secret}", "Accept": "application/json"}

    async def _send(self, method: str, url: str, operation: str, envelope: str, *,
                    json_body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        reply = await self.http.request(method, url, operation, json_body=json_body, params=params,
                                        headers=self._headers())
        return check_reply(reply, operation, envelope)

    async def request(self, method: str, url: str, operation: str, envelope: str = "data", *,
                      json_body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        """Send one call; on a 401 re-read the keys (if a source is set) and retry once.

        Raises:
            VendorRejected: a refusal with the site's message, or the keys refused again
                (:func:`~huiliu.connectors.erpnext.errors.bad_credentials`).
            TransientError, RateLimited: see :mod:`huiliu.connectors.erpnext.errors`.
        """
        generation = self._generation
        try:
            return await self._send(method, url, operation, envelope, json_body=json_body, params=params)
        except AuthExpired:
            async with self._lock:
                if generation == self._generation:
                    if self._source is not None:
                        self._key, self._secret = await self._source()
                    self._generation += 1
        try:
            return await self._send(method, url, operation, envelope, json_body=json_body, params=params)
        except AuthExpired as exc:
            raise bad_credentials(operation, exc.vendor_message) from exc

    def _url(self, doctype: str, name: str | None = None) -> str:
        return self.settings.resource_url(quote(doctype, safe=""), None if name is None else quote(name, safe=""))

    async def get_list(self, doctype: str, *, fields: Sequence[str] = ("name",), filters: Filters | None = None,
                       order_by: str | None = None, start: int = 0, limit: int = 20) -> list[dict[str, Any]]:
        """``GET /api/resource/<DocType>``: the ``fields`` of matching documents (no child tables)."""
        params = {"fields": json.dumps(list(fields)), "filters": json.dumps(filters or [], ensure_ascii=False),
                  "limit_start": str(start), "limit_page_length": str(limit)}
        if order_by:
            params["order_by"] = order_by
        rows = await self.request("GET", self._url(doctype), f"{doctype}.list", params=params)
        return [dict(r) for r in rows]

    async def get_doc(self, doctype: str, name: str) -> dict[str, Any]:
        """``GET /api/resource/<DocType>/<name>``: the whole document with its child tables."""
        return dict(await self.request("GET", self._url(doctype, name), f"{doctype}.get"))

    async def insert(self, doctype: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/resource/<DocType>``: the saved document (with its ``name``). Not idempotent."""
        return dict(await self.request("POST", self._url(doctype), f"{doctype}.insert", json_body=dict(doc)))

    async def update(self, doctype: str, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /api/resource/<DocType>/<name>``: update and save; the saved document."""
        return dict(await self.request("PUT", self._url(doctype, name), f"{doctype}.update", json_body=dict(values)))

    async def delete(self, doctype: str, name: str) -> None:
        """``DELETE /api/resource/<DocType>/<name>`` (drafts only)."""
        await self.request("DELETE", self._url(doctype, name), f"{doctype}.delete", "message")

    async def submit(self, doctype: str, name: str) -> dict[str, Any]:
        """Submit a draft (docstatus 0 → 1) by saving it with ``docstatus: 1``."""
        return await self.update(doctype, name, {"docstatus": 1})

    async def cancel(self, doctype: str, name: str) -> Any:
        """``frappe.client.cancel``: docstatus 1 → 2."""
        return await self.request("POST", self.settings.method_url("frappe.client.cancel"), "cancel", "message",
                                  json_body={"doctype": doctype, "name": name})
