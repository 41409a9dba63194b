"""The SAP OData client: basic or bearer auth, the CSRF token fetch, and one refetch on a CSRF refusal.

CSRF flow (contract §8, [T]): a ``GET`` of the service root with ``x-csrf-token: Fetch`` answers the token in
the ``x-csrf-token`` header and a session cookie; writes (``POST``/``PATCH``/``DELETE``) carry both. The
cookie is replayed by hand (aiohttp's default jar refuses cookies from IP hosts). A write refused with 403 and
``x-csrf-token: Required`` fetches a new token, one caller at a time, and is retried once. V2 replies are
unwrapped from ``{"d": …}``, V4 from ``{"value": …}``. Reply interpretation lives in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from huiliu.connectors.http import HttpClient, HttpReply
from huiliu.connectors.sap.errors import CSRF_CODE, SYSTEM, check_reply
from huiliu.connectors.sap.settings import ODataVersion, SapSettings
from huiliu.errors import AuthExpired, TransientError
from huiliu.i18n import t

__all__ = ["SapClient", "key_path", "literal", "parse_date"]

_V2_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def literal(value: str) -> str:
    """A string literal for ``$filter`` and keys: ``O'Brien`` → ``'O''Brien'``."""
    return "'" + value.replace("'", "''") + "'"


def key_path(entity: str, key: str) -> str:
    """``A_PurchaseOrder('4500000001')``, the key URL-quoted."""
    return f"{entity}({quote(literal(key), safe='')})"


def parse_date(value: Any) -> datetime | None:
    """An OData time as tz-aware UTC: V2 ``/Date(ms)/`` (offset ignored: ms are UTC) or V4 ISO text."""
    if not isinstance(value, str) or not value:
        return None
    match = _V2_DATE.match(value)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class SapClient:
    """Calls one S/4HANA system's OData services with a shared CSRF token.

    Args:
        settings: the connector settings.
        http: the HTTP client for system ``sap``.

    Attributes:
        csrf_fetches: how many CSRF tokens this client fetched (for tests and metrics).
    """

    def __init__(self, settings: SapSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self.csrf_fetches = 0
        self._csrf: str | None = None
        self._cookie: str | None = None
        self._lock = asyncio.Lock()

    @property
    def _bearer(self) -> bool:
        return self.settings.bearer_token is not None

    def _auth(self) -> dict[str, str]:
        s = self.settings
        if s.bearer_token is not None:
            return {"Authorization": "Bearer " + s.bearer_token.get_secret_value()}
        assert s.username is not None
        assert s.password is not None
        raw = f"{s.username}:{s.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def _params(self, params: Mapping[str, str] | None) -> dict[str, str]:
        query = dict(params or {})
        if self.settings.sap_client:
            query["sap-client"] = self.settings.sap_client
        if self.settings.odata_version is ODataVersion.V2:
            query.setdefault("$format", "json")
        return query

    def _headers(self, csrf: str | None = None) -> dict[str, str]:
        headers = {**self._auth(), "Accept": "application/json"}
        if csrf is not None:
            headers["x-csrf-token"] = csrf
        if self._cookie:
            headers["Cookie"] = self._cookie
        return headers

    async def _fetch_locked(self, service: str) -> None:
        headers = {**self._auth(), "x-csrf-token": "Fetch", "Accept": "application/json"}
        reply = await self.http.request("GET", f"{self.settings.base_url}{service}/", "csrf.fetch",
                                        params=self._params(None), headers=headers)
        check_reply(reply, "csrf.fetch", bearer=self._bearer)
        token = reply.header("x-csrf-token")
        if not token or token.lower() == "required":
            raise TransientError(t("SAP 未返回 CSRF 令牌", "SAP returned no CSRF token"), system=SYSTEM,
                                 operation="csrf.fetch",
                                 fix=t("检查服务路径是否正确、通信用户是否有该服务的权限",
                                       "check the service path and the communication user's access"))
        self._csrf = token
        cookie = reply.header("Set-Cookie")
        if cookie:
            self._cookie = cookie.split(";", 1)[0]
        self.csrf_fetches += 1

    async def _token(self, service: str) -> str:
        token = self._csrf
        if token is not None:
            return token
        async with self._lock:
            if self._csrf is None:
                await self._fetch_locked(service)
            assert self._csrf is not None
            return self._csrf

    async def _renew(self, service: str, stale: str) -> None:
        async with self._lock:
            if self._csrf == stale:  # nobody renewed it while we waited
                self._csrf = None
                await self._fetch_locked(service)

    def _unwrap(self, body: Any) -> Any:
        if body is None:
            return None
        if self.settings.odata_version is ODataVersion.V2:
            inner = body.get("d", body) if isinstance(body, Mapping) else body
            if isinstance(inner, Mapping) and isinstance(inner.get("results"), list):
                return inner["results"]
            return inner
        if isinstance(body, Mapping) and isinstance(body.get("value"), list):
            return body["value"]
        return body

    async def get(self, service: str, path: str, operation: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET {service}/{path}``; returns the unwrapped entity or list."""
        reply = await self.http.request("GET", f"{self.settings.base_url}{service}/{path}", operation,
                                        params=self._params(params), headers=self._headers())
        return self._unwrap(check_reply(reply, operation, bearer=self._bearer))

    async def write(self, method: str, service: str, path: str, operation: str, body: Any = None,
                    params: Mapping[str, str] | None = None) -> Any:
        """A write with the CSRF token; a CSRF refusal fetches a new token and retries once.

        Raises:
            AuthExpired: the CSRF token was refused again right after a new one was fetched, or the bearer
                token expired.
            VendorRejected, TransientError, RateLimited: see :func:`~.errors.check_reply`.
        """
        token = await self._token(service)
        try:
            return await self._write(method, service, path, operation, body, params, token)
        except AuthExpired as exc:
            if exc.vendor_code != CSRF_CODE:
                raise
            await self._renew(service, token)
        token = await self._token(service)
        return await self._write(method, service, path, operation, body, params, token)

    async def _write(self, method: str, service: str, path: str, operation: str, body: Any,
                     params: Mapping[str, str] | None, token: str) -> Any:
        reply: HttpReply = await self.http.request(method, f"{self.settings.base_url}{service}/{path}", operation,
                                                   json_body=body, params=self._params(params),
                                                   headers=self._headers(token))
        return self._unwrap(check_reply(reply, operation, bearer=self._bearer))

    def forget_csrf(self) -> None:
        """Drop the CSRF token and cookie; the next write fetches new ones."""
        self._csrf = None
        self._cookie = None

    def time_literal(self, value: datetime) -> str:
        """A tz-aware time as a ``$filter`` literal: V2 ``datetimeoffset'…Z'``, V4 bare ISO."""
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to SAP")
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"datetimeoffset'{text}'" if self.settings.odata_version is ODataVersion.V2 else text
