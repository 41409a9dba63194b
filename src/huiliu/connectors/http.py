"""A thin aiohttp wrapper: one place where transport failures become :class:`NoReply`.

aiohttp, not httpx: on this machine a one-worker server answered ~7,000 requests/s to aiohttp at
concurrency 32 and ~300/s to httpx's async client (MACHINE-NOTES.md), and the client is on every flow's
hot path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from huiliu.connectors.base import CallObserver, CallRecord
from huiliu.errors import NoReply
from huiliu.i18n import t
from huiliu.model import Clock, SystemClock

__all__ = ["HttpClient", "HttpReply"]


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A vendor's reply: status, headers, raw body and, when it parses, the JSON."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    json: Any

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name) or self.headers.get(name.lower())

    def retry_after(self) -> float | None:
        """Seconds from a ``Retry-After`` header.

        ``None`` when it is absent or an HTTP date: the retry policy then picks the delay.
        """
        value = self.header("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            return None
        return max(seconds, 0.0)


class HttpClient:
    """Sends requests for one vendor system and reports each call to an observer.

    Args:
        system: the vendor system name, used in errors and call records.
        session: a shared ``aiohttp.ClientSession`` (the caller owns it). Cookie handling follows the
            session's jar; Kingdee keeps its login session in a cookie.
        timeout: seconds for one request, connect included.
        observer: receives a :class:`CallRecord` per call.
    """

    def __init__(self, system: str, session: aiohttp.ClientSession, *, timeout: float = 10.0,
                 observer: CallObserver | None = None, clock: Clock | None = None) -> None:
        self.system = system
        self.clock = clock or SystemClock()
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.observer = observer

    async def request(self, method: str, url: str, operation: str, *, json_body: Any = None,
                      params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None) -> HttpReply:
        """Send one request. Transport failures raise :class:`NoReply`; HTTP errors do not.

        Mapping an HTTP status or a vendor error code is the vendor's ``errors.py``'s job.
        """
        started = time.perf_counter()
        started_at = self.clock.now()
        status: int | None = None
        outcome = "ok"
        try:
            async with self.session.request(method, url, json=json_body, params=params, headers=headers,
                                            timeout=self.timeout) as resp:
                status = resp.status
                body = await resp.read()
                reply_headers = {k: v for k, v in resp.headers.items()}
        except TimeoutError as exc:
            outcome = "timeout"
            raise NoReply(t("请求超时", "request timed out"), system=self.system,
                                 operation=operation) from exc
        except aiohttp.ClientError as exc:
            outcome = "connection_error"
            raise NoReply(t(f"连接失败：{type(exc).__name__}", f"connection failed: {type(exc).__name__}"),
                                 system=self.system, operation=operation) from exc
        finally:
            if outcome == "ok" and status is not None and status >= 400:
                outcome = f"http_{status}"
            if self.observer is not None:
                self.observer(CallRecord(self.system, operation, status,
                                         (time.perf_counter() - started) * 1000, outcome, started_at))
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return HttpReply(status, reply_headers, body, parsed)
