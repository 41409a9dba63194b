"""The Tryton JSON-RPC client: session login, model calls with the user's context, one re-login on 401.

Wire format (contract §7): ``POST {base_url}/{database}/rpc/`` with ``{"id", "method", "params"}``; the answer is
``{"id", "result"}`` or ``{"id", "error"}``, a business error also with HTTP 200. ``common.db.login`` returns
``[user_id, token, bus_url]``; later calls carry ``Authorization: Session base64("<login>:<user_id>:<token>")``.
Model methods are ``model.<model>.<method>`` and take the context as their last parameter, which the client
fills in from ``res.user.get_preferences`` (the server does not add the company by itself, §8.4). Decimals,
dates and bytes travel as ``{"__class__": …}`` objects; :func:`encode` and :func:`decode` translate them.
Reply interpretation lives in :mod:`huiliu.connectors.tryton.errors`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from huiliu.connectors.http import HttpClient
from huiliu.connectors.tryton.errors import LOGIN_OPERATION, check_login, check_reply
from huiliu.connectors.tryton.settings import TrytonSettings
from huiliu.errors import AuthExpired, ConfigError
from huiliu.i18n import t

__all__ = ["Domain", "TrytonClient", "decode", "encode"]

Domain = list[Any]
"""A Tryton search domain, e.g. ``[["code", "=", "SUP-1"], ["active", "=", True]]``."""


def encode(value: Any) -> Any:
    """A JSON-ready copy of ``value`` in Tryton's encoding: Decimal, date, datetime, time, timedelta, bytes.

    Naive datetimes are refused: Tryton stores UTC, and guessing a zone would shift times by hours.
    """
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": format(value, "f")}
    if isinstance(value, float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be sent to Tryton")
        utc = value.astimezone(UTC)
        return {"__class__": "datetime", "year": utc.year, "month": utc.month, "day": utc.day,
                "hour": utc.hour, "minute": utc.minute, "second": utc.second, "microsecond": utc.microsecond}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, time):
        return {"__class__": "time", "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [encode(v) for v in value]
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def _decode_object(value: Mapping[str, Any]) -> Any:
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(str(value["decimal"]))
    if kind == "date":
        return date(value["year"], value["month"], value["day"])
    if kind == "datetime":  # Tryton sends UTC without a zone
        return datetime(value["year"], value["month"], value["day"], value.get("hour", 0), value.get("minute", 0),
                        value.get("second", 0), value.get("microsecond", 0), tzinfo=UTC)
    if kind == "time":
        return time(value.get("hour", 0), value.get("minute", 0), value.get("second", 0),
                    value.get("microsecond", 0))
    if kind == "timedelta":
        return timedelta(seconds=value["seconds"])
    if kind == "bytes":
        return base64.b64decode(value["base64"])
    return {k: decode(v) for k, v in value.items()}


def decode(value: Any) -> Any:
    """Translate a parsed reply: ``{"__class__": …}`` objects become Python values, floats ``Decimal``.

    Floats (Tryton's ``Float`` fields such as quantities) become ``Decimal(repr(f))`` so that no float reaches
    business code; datetimes are tz-aware UTC.
    """
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return _decode_object(value)
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class TrytonClient:
    """Calls one Tryton database with a shared login session.

    Args:
        settings: the connector settings.
        http: the HTTP client for system ``tryton``.

    Attributes:
        logins: how many logins this client made (for tests and metrics).
    """

    def __init__(self, settings: TrytonSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self.logins = 0
        self._ids = itertools.count(1)
        self._auth: str | None = None
        self._context: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        if settings.session is not None:
            user_id, _, token = settings.session.get_secret_value().partition(":")
            self._auth = self._header(int(user_id), token)

    def _header(self, user_id: int, token: str) -> str:
        raw = f"{self.settings.username}:{user_id}:{token}".encode()
        return "Session " + base64.b64encode(raw).decode()

    @property
    def context(self) -> dict[str, Any]:
        """The context sent with model calls (after the first call or :meth:`login`)."""
        return dict(self._context or {})

    async def _post(self, url: str, method: str, params: Sequence[Any], auth: str | None) -> Any:
        body = {"id": next(self._ids), "method": method, "params": encode(list(params))}
        headers = {"Authorization": auth} if auth else None
        reply = await self.http.request("POST", url, method, json_body=body, headers=headers)
        if method == LOGIN_OPERATION:
            return check_login(reply)
        return decode(check_reply(reply, method))

    async def server_version(self) -> str:
        """``common.server.version`` (no login needed), e.g. ``"8.2"``."""
        return str(await self._post(self.settings.server_url, "common.server.version", [], None))

    async def login(self) -> None:
        """Log in now (``common.db.login``) and load the user's context.

        Raises:
            VendorRejected: wrong login or password, unknown database, or a login that needs a second factor.
            RateLimited: too many failed logins.
            TransientError: the server failed.
            ConfigError: no password is configured (only a session).
        """
        async with self._lock:
            await self._login_locked()

    async def _login_locked(self) -> None:
        s = self.settings
        if s.password is None:
            raise ConfigError(
                t("Tryton 会话已失效且未配置密码，无法重新登录",
                  "the Tryton session expired and no password is configured to log in again"),
                where="tryton.password",
                fix=t("在设置中提供 password，或更新 session", "set password, or give a fresh session"))
        user_id, token = await self._post(s.rpc_url, LOGIN_OPERATION,
                                          [s.username, {"password": s.password.get_secret_value()}, s.language],
                                          None)
        self._auth = self._header(user_id, token)
        self._context = None
        self.logins += 1
        await self._load_context(self._auth)

    async def _load_context(self, auth: str) -> None:
        prefs = await self._post(self.settings.rpc_url, "model.res.user.get_preferences", [True, {}], auth)
        context = dict(prefs) if isinstance(prefs, Mapping) else {}
        if self.settings.company is not None:
            context["company"] = self.settings.company
        self._context = context

    async def _current_auth(self) -> str:
        auth = self._auth
        if auth is not None and self._context is not None:
            return auth
        async with self._lock:
            # Concurrent callers wait here for the one login in progress instead of starting their own.
            if self._auth is None:
                await self._login_locked()
            elif self._context is None:
                await self._load_context(self._auth)
            assert self._auth is not None
            return self._auth

    async def _renew(self, stale: str) -> None:
        async with self._lock:
            if self._auth == stale:  # nobody renewed it while we waited
                self._auth = None
                await self._login_locked()

    async def call(self, method: str, *params: Any, context: Mapping[str, Any] | None = None) -> Any:
        """Call a JSON-RPC method with the session; on HTTP 401 log in again and retry once.

        Model methods need the context as their last parameter: use :meth:`execute` for those.

        Args:
            method: e.g. ``model.purchase.purchase.read`` or ``common.db.logout``.
            *params: the positional parameters, encoded with :func:`encode`.
            context: keys added to the user's context for this call (a wizard's ``active_id`` …).

        Returns:
            The decoded ``result``.

        Raises:
            AuthExpired: the session was refused again right after a fresh login.
            VendorRejected, TransientError, RateLimited: see :func:`check_reply`.
        """
        try:
            auth = await self._current_auth()
        except AuthExpired:  # a configured session already expired while loading the context
            await self._renew(self._auth or "")
            auth = await self._current_auth()
        try:
            return await self._post(self.settings.rpc_url, method, self._with_context(method, params, context),
                                    auth)
        except AuthExpired:
            await self._renew(auth)
        auth = await self._current_auth()
        # A second refusal right after a fresh login propagates as AuthExpired.
        return await self._post(self.settings.rpc_url, method, self._with_context(method, params, context), auth)

    def _with_context(self, method: str, params: Sequence[Any], extra: Mapping[str, Any] | None) -> list[Any]:
        if method.startswith(("model.", "wizard.")):
            return [*params, {**self.context, **(extra or {})}]
        return list(params)

    async def execute(self, model: str, method: str, *args: Any) -> Any:
        """Call ``model.<model>.<method>`` with ``args`` and the user's context as the last parameter."""
        return await self.call(f"model.{model}.{method}", *args)

    async def logout(self) -> None:
        """End the session on the server (``common.db.logout``); the next call logs in again."""
        async with self._lock:
            auth, self._auth = self._auth, None
        if auth is not None:
            await self._post(self.settings.rpc_url, "common.db.logout", [], auth)

    async def search(self, model: str, domain: Domain, *, offset: int = 0, limit: int | None = None,
                     order: Sequence[tuple[str, str]] | None = None) -> list[int]:
        """Ids of the records matching ``domain``, e.g. ``order=[("id", "ASC")]``."""
        ids = await self.execute(model, "search", domain, offset, limit, _order(order))
        return [int(i) for i in ids]

    async def search_read(self, model: str, domain: Domain, fields: Sequence[str], *, offset: int = 0,
                          limit: int | None = None,
                          order: Sequence[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
        """The ``fields`` (plus ``id``) of the records matching ``domain``."""
        rows = await self.execute(model, "search_read", domain, offset, limit, _order(order), list(fields))
        return [dict(r) for r in rows]

    async def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        """The ``fields`` (plus ``id``) of records by id; Tryton keeps the order of ``ids``."""
        rows = await self.execute(model, "read", list(ids), list(fields))
        return [dict(r) for r in rows]

    async def create(self, model: str, values: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create records in one transaction; returns their ids. Not idempotent: look references up first.

        One2many values are command lists, e.g. ``{"lines": [["create", [{...}]]]}``. Raw JSON-RPC does not run
        ``on_change`` logic, so fields a client would fill in (``invoice_address``, ``purchase_uom``) must be
        given (contract §8.5).
        """
        ids = await self.execute(model, "create", [dict(v) for v in values])
        return [int(i) for i in ids]

    async def write(self, model: str, ids: Sequence[int], values: Mapping[str, Any]) -> None:
        """Write the same ``values`` on records."""
        await self.execute(model, "write", list(ids), dict(values))

    async def delete(self, model: str, ids: Sequence[int]) -> None:
        """Delete records."""
        await self.execute(model, "delete", list(ids))

    async def button(self, model: str, name: str, ids: Sequence[int]) -> Any:
        """Press a workflow button, e.g. ``button("purchase.purchase", "quote", [7])``."""
        return await self.execute(model, name, list(ids))


    async def wizard(self, name: str, model: str, record: int,
                     steps: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Any]:
        """Run wizard ``name`` on one record: each step is (state to execute, form data by state name).

        The session is deleted afterwards even when a step fails. Returns each step's answer.
        """
        active = {"active_model": model, "active_id": record, "active_ids": [record]}
        session, _, _ = await self.call(f"wizard.{name}.create", context=active)
        answers = []
        try:
            for state, data in steps:
                answers.append(await self.call(f"wizard.{name}.execute", session, dict(data), state,
                                               context=active))
        finally:
            await self.call(f"wizard.{name}.delete", session, context=active)
        return answers


def _order(order: Sequence[tuple[str, str]] | None) -> list[list[str]] | None:
    return None if order is None else [[field, direction] for field, direction in order]

