"""DingTalk Stream mode: receive events over a WebSocket the hub opens — for a hub with no public URL.

Contracts §1.4, delivery mode B. ``POST /v1.0/gateway/connections/open`` with the app's ``clientId`` /
``clientSecret`` and ``subscriptions`` gives ``{endpoint, ticket}``; the hub connects to
``{endpoint}?ticket=…`` and reads frames ``{specVersion, type, headers, data}``:

* ``EVENT``: ``data`` is the event as a JSON string and ``headers.eventType`` its type. The event is
  handed to ``on_event`` (the hub stores it durably) and only then acknowledged with
  ``{code: 200, headers: {messageId, contentType}, message: "OK", data}`` — invariant 1. If storing fails,
  no acknowledgement is sent and DingTalk sends it again (its redelivery of unacknowledged events is
  unconfirmed in the contract; catch-up polling covers the rest).
* ``SYSTEM`` ``ping``: answered with the same data; ``disconnect``: the connection is dropped and opened anew.
* ``CALLBACK`` (robot / card callbacks, not used by the hub): acknowledged.

Stream payloads are not encrypted (TLS only). The connection is re-opened after any failure, with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from huiliu.connectors.dingtalk.errors import SYSTEM, expect_object, map_reply
from huiliu.connectors.dingtalk.settings import DingTalkSettings
from huiliu.connectors.http import HttpClient
from huiliu.errors import ConnectorError, VendorRejected, WebhookRejected
from huiliu.i18n import t

__all__ = ["GATEWAY_PATH", "StreamReceiver"]

log = logging.getLogger("huiliu.dingtalk.stream")

GATEWAY_PATH = "/v1.0/gateway/connections/open"
_MAX_BACKOFF = 10.0

EventSink = Callable[[dict[str, Any]], Awaitable[None]]


class StreamReceiver:
    """Keeps one Stream connection open and hands each event to ``on_event`` before acknowledging it.

    Args:
        settings: the DingTalk app (``app_key`` is the ``clientId``).
        http: the HTTP client for the gateway call.
        session: the aiohttp session the WebSocket is opened on.
        on_event: stores one event (``EventType`` added from the frame's headers); raising leaves the
            event unacknowledged.
    """

    def __init__(self, settings: DingTalkSettings, http: HttpClient, session: aiohttp.ClientSession,
                 on_event: EventSink) -> None:
        self.settings = settings
        self._http = http
        self._session = session
        self._on_event = on_event
        self.connections = 0
        """Connections opened so far (a reconnect adds one)."""
        self.events = 0

    async def open_connection(self) -> tuple[str, str]:
        """The gateway call: ``(endpoint, ticket)``."""
        operation = "gateway/connections/open"
        reply = await self._http.request(
            "POST", f"{self.settings.base_url}{GATEWAY_PATH}", operation,
            json_body={"clientId": self.settings.app_key,
                       "clientSecret": self.settings.app_secret.get_secret_value(),
                       "subscriptions": [{"type": "EVENT", "topic": "*"}],
                       "ua": "huiliu/0.1", "localIp": "127.0.0.1"})
        map_reply(reply, operation)
        body = expect_object(reply, operation)
        endpoint, ticket = body.get("endpoint"), body.get("ticket")
        if not (isinstance(endpoint, str) and endpoint and isinstance(ticket, str) and ticket):
            raise VendorRejected(t("钉钉 Stream 网关应答缺少 endpoint 或 ticket",
                                   "the DingTalk Stream gateway reply lacks endpoint or ticket"),
                                 system=SYSTEM, operation=operation)
        return endpoint, ticket

    async def run(self, stop: asyncio.Event) -> None:
        """Receive until ``stop`` is set, reconnecting after a ``disconnect`` or any failure."""
        backoff = 0.5
        while not stop.is_set():
            try:
                endpoint, ticket = await self.open_connection()
                async with self._session.ws_connect(f"{endpoint}?ticket={quote(ticket)}", heartbeat=30) as ws:
                    self.connections += 1
                    backoff = 0.5
                    await self._serve(ws, stop)
            except (aiohttp.ClientError, ConnectorError, OSError, TimeoutError) as exc:
                log.warning("DingTalk Stream connection failed (%s); retrying in %.1fs", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    receiving.cancel()
                    return
                message = receiving.result()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return  # closed or broken: reconnect
                if not await self._frame(ws, message.data):
                    return
        finally:
            stopping.cancel()

    async def _frame(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        """Handle one frame; ``False`` when the connection should be re-opened."""
        try:
            frame = json.loads(text)
            kind, headers = frame["type"], frame["headers"]
            message_id = str(headers["messageId"])
        except (ValueError, KeyError, TypeError):
            log.warning("DingTalk Stream: unreadable frame ignored: %.200s", text)
            return True
        topic = headers.get("topic")
        if kind == "SYSTEM" and topic == "disconnect":
            return False
        if kind == "EVENT":
            try:
                data = json.loads(frame.get("data") or "{}")
            except ValueError:
                log.warning("DingTalk Stream: event %s has unreadable data; acknowledged and dropped", message_id)
                data = None
            if isinstance(data, dict):
                try:
                    await self._on_event({"EventType": headers.get("eventType"), **data})
                except WebhookRejected as exc:  # an event type the hub does not take: acknowledged, logged
                    log.info("DingTalk Stream: event %s refused: %s", message_id, exc.reason)
                except Exception:  # not stored: not acknowledged, so DingTalk sends it again
                    log.exception("DingTalk Stream: event %s not stored; left unacknowledged", message_id)
                    return True
                self.events += 1
        await ws.send_str(json.dumps({"code": 200, "headers": {"messageId": message_id,
                                                               "contentType": "application/json"},
                                      "message": "OK", "data": frame.get("data") if kind == "SYSTEM" else ""}))
        return True
