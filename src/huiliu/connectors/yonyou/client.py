"""The Yonyou OpenAPI client: a signed, cached access token (YonBIP) or a U8 token with trade ids.

YonBIP (contract §5.1): ``GET {tokenUrl}/open-auth/selfAppAuth/getAccessToken?appKey&timestamp&signature``
where ``signature = URLEncode(Base64(HmacSHA256(appSecret, "appKey" + appKey + "timestamp" + timestamp)))``
(parameters sorted by name, name and value concatenated, ``signature`` left out; the query encoding does the
URL-encoding). The token (valid ``expire`` seconds, 7200 reported) rides as the ``access_token`` query
parameter of ``POST {gatewayUrl}/yonbip/…`` calls. Saves carry ``resubmitCheckKey`` (≤ 32 characters), which
the server uses to refuse a repeated save.

U8 (contract §5.2): ``GET /system/token?from_account&app_key&app_secret`` → ``token.id``; business calls carry
``from_account, to_account, app_key, token`` in the query, and writes a ``tradeid`` from ``GET /system/tradeid``,
which the server uses to apply a write once. The client keeps the trade id of a write until it succeeds, so
a retry of the same reference in this process sends the same one.

The token is refreshed ``refresh_margin`` seconds before it expires, by one caller at a time; a call refused
as unauthorised fetches a new token and is retried once. Reply interpretation lives in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from huiliu.connectors.http import HttpClient
from huiliu.connectors.yonyou.errors import SYSTEM, TOKEN_OPERATION, check_reply, check_token
from huiliu.connectors.yonyou.settings import Flavour, YonyouSettings
from huiliu.errors import AuthExpired, TransientError
from huiliu.i18n import t

__all__ = ["YonyouClient", "resubmit_key", "signature"]

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_U8_ADDS = frozenset({"vendor.save", "product.save", "purchase.save", "voucher.add", "payment.save",
                      "project.save"})
"""U8 operations that are ``add`` calls and so carry a ``tradeid`` (contract §5.2)."""


def signature(params: Mapping[str, str], app_secret: str) -> str:
    """The YonBIP token signature, before URL-encoding: Base64(HmacSHA256(secret, sorted name+value pairs)).

    Args:
        params: the query parameters except ``signature``, e.g. ``{"appKey": …, "timestamp": …}``.
        app_secret: the app's secret, the HMAC key.
    """
    text = "".join(f"{name}{params[name]}" for name in sorted(params) if name != "signature")
    digest = hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def resubmit_key(reference: str) -> str:
    """The ``resubmitCheckKey`` (≤ 32 characters) for a hub reference.

    The reference itself when it fits (≤ 32 letters, digits, ``_`` and ``-``), else ``h`` + the first 31 hex
    digits of its SHA-256.

    The same reference always gives the same key, so a retried save is refused by Yonyou as a repeat.
    """
    if _KEY.match(reference):
        return reference
    return "h" + hashlib.sha256(reference.encode()).hexdigest()[:31]


class YonyouClient:
    """Calls one Yonyou tenant with a shared, refreshed token.

    Args:
        settings: the connector settings.
        http: the HTTP client for system ``yonyou`` (its clock times the token).

    Attributes:
        token_fetches: how many tokens this client fetched (for tests and metrics).
    """

    def __init__(self, settings: YonyouSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self.token_fetches = 0
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._trades: dict[str, str] = {}

    # ----------------------------------------------------------------- token

    async def token(self) -> str:
        """A valid token: the cached one, or a new one when it is missing or about to expire."""
        token = self._token
        if token is not None and self.http.clock.monotonic() < self._expires_at - self.settings.refresh_margin:
            return token
        async with self._lock:
            # Concurrent callers wait here for the one refresh in progress instead of starting their own.
            if self._token is None or self.http.clock.monotonic() >= self._expires_at - self.settings.refresh_margin:
                await self._fetch_locked()
            assert self._token is not None
            return self._token

    async def _fetch_locked(self) -> None:
        s = self.settings
        secret = s.app_secret.get_secret_value()
        if s.flavour is Flavour.U8:
            params = {"from_account": s.from_account or "", "app_key": s.app_key, "app_secret": secret}
        else:
            stamp = str(int(self.http.clock.now().timestamp() * 1000))
            params = {"appKey": s.app_key, "timestamp": stamp}
            params["signature"] = signature(params, secret)
        reply = await self.http.request("GET", s.token_endpoint, TOKEN_OPERATION, params=params)
        started = self.http.clock.monotonic()
        self._token, ttl = check_token(reply, s)
        self._expires_at = started + ttl
        self.token_fetches += 1

    async def _renew(self, stale: str) -> None:
        async with self._lock:
            if self._token == stale:  # nobody renewed it while we waited
                self._token = None
                await self._fetch_locked()

    def invalidate(self) -> None:
        """Forget the token; the next call fetches a new one."""
        self._token = None

    # ----------------------------------------------------------------- calls

    async def call(self, operation: str, body: Mapping[str, Any] | None = None, *,
                   params: Mapping[str, str] | None = None, idempotency_key: str | None = None) -> Any:
        """Call the path of ``operation`` with the token; on an expired token fetch a new one and retry once.

        Args:
            operation: a key of ``settings.paths``, e.g. ``purchase.save``; also names errors.
            body: the JSON body; ``None`` sends a GET.
            params: extra query parameters.
            idempotency_key: the hub's reference of a write. YonBIP: its :func:`resubmit_key` goes into
                ``data`` (or the body when there is no ``data`` object; the placement is unconfirmed). U8: a
                ``tradeid`` is fetched once per key and re-sent on every retry of it.

        Returns:
            YonBIP: the reply's ``data``; U8: the reply body.

        Raises:
            AuthExpired: the token was refused again right after a new one was fetched.
            VendorRejected, TransientError, RateLimited: see :func:`~.errors.check_reply`.
        """
        if body is not None and idempotency_key is not None and self.settings.flavour is Flavour.YONBIP:
            body = self._with_resubmit_key(body, idempotency_key)
        token = await self.token()
        try:
            result = await self._send(operation, body, params, idempotency_key, token)
        except AuthExpired:
            await self._renew(token)
            token = await self.token()
            # A second refusal right after a fresh token propagates as AuthExpired.
            result = await self._send(operation, body, params, idempotency_key, token)
        if idempotency_key is not None:
            self._trades.pop(idempotency_key, None)
        return result

    def _with_resubmit_key(self, body: Mapping[str, Any], reference: str) -> dict[str, Any]:
        key = resubmit_key(reference)
        field = self.settings.resubmit_key_field
        data = body.get("data")
        if isinstance(data, Mapping):
            return {**body, "data": {**data, field: key}}
        return {**body, field: key}

    async def _send(self, operation: str, body: Mapping[str, Any] | None, params: Mapping[str, str] | None,
                    idempotency_key: str | None, token: str) -> Any:
        s = self.settings
        query: dict[str, str] = dict(params or {})
        if s.flavour is Flavour.U8:
            query.update({"from_account": s.from_account or "", "to_account": s.to_account or "",
                          "app_key": s.app_key, "token": token})
            if operation in _U8_ADDS:
                # Without a key (master data, matched before it is added) the trade id is used once.
                key = idempotency_key if idempotency_key is not None else f"once:{id(query)}"
                query["tradeid"] = await self._trade_id(key, token)
                if idempotency_key is None:
                    self._trades.pop(key, None)
        else:
            query["access_token"] = token
        url = s.base_url + s.path(operation)
        method = "GET" if body is None else "POST"
        reply = await self.http.request(method, url, operation, json_body=None if body is None else dict(body),
                                        params=query)
        return check_reply(reply, operation, s)

    async def _trade_id(self, key: str, token: str) -> str:
        """U8: the trade id of a write, fetched once per key (``GET /system/tradeid``)."""
        if key not in self._trades:
            s = self.settings
            reply = await self.http.request(
                "GET", f"{s.base_url}/system/tradeid", "tradeid",
                params={"from_account": s.from_account or "", "app_key": s.app_key, "token": token})
            body = check_reply(reply, "tradeid", s)
            trade = body.get("trade") if isinstance(body, Mapping) else None
            trade_id = trade.get("id") if isinstance(trade, Mapping) else None
            if not isinstance(trade_id, str) or not trade_id:
                raise TransientError(t("U8 未返回 tradeid", "U8 returned no tradeid"), system=SYSTEM,
                                     operation="tradeid", vendor_message=str(body)[:300])
            if len(self._trades) > 1000:  # keys of writes that never succeeded; the oldest go first
                self._trades.pop(next(iter(self._trades)))
            self._trades[key] = trade_id
        return self._trades[key]

    async def page(self, operation: str, conditions: Mapping[str, Any], page_index: int,
                   page_size: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of a list operation: ``(rows, total)``.

        YonBIP lists answer ``data: {pageIndex, pageSize, recordCount, recordList}`` (the voucher query is [T];
        the other lists are assumed to share it, unconfirmed). U8 ``batch_get`` answers the rows under the
        entity's plural name with ``row_count`` (unconfirmed), read here as ``list`` / ``row_count``.
        """
        size = page_size or self.settings.page_size
        if self.settings.flavour is Flavour.U8:
            params = {"page_index": str(page_index), "rows_per_page": str(size),
                      **{k: str(v) for k, v in conditions.items()}}
            body = await self.call(operation, None, params=params)
            rows = body.get("list") or []
            total = int(body.get("row_count") or len(rows))
        else:
            data = await self.call(operation, {"pageIndex": page_index, "pageSize": size, **conditions})
            data = data if isinstance(data, Mapping) else {}
            rows = data.get("recordList") or []
            total = int(data.get("recordCount") or 0)
        return [dict(r) for r in rows if isinstance(r, Mapping)], total
