"""DingTalk sandbox Stream mode: events pushed over a WebSocket the hub opens, for hubs with no public URL.

As in contracts §1.4 (delivery mode B): ``POST /v1.0/gateway/connections/open`` with ``clientId`` (the
appKey), ``clientSecret`` and ``subscriptions`` returns ``{endpoint, ticket}``; the client opens
``{endpoint}?ticket=…`` and receives frames ``{specVersion, type, headers, data}`` — ``EVENT`` frames carry
the event as a JSON string in ``data`` and ``headers.eventType`` / ``eventId`` / ``messageId``; the
client acknowledges each with ``{code: 200, headers: {messageId, contentType}, message: "OK", data}``.
``SYSTEM`` frames: ``ping`` (to be answered) and ``disconnect`` (the client reconnects). Stream payloads
are not encrypted. An event not acknowledged within ``ack_timeout`` is sent again, on the retry schedule
(the redelivery itself is unconfirmed in the contract; the hub deduplicates either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from huiliu.model import Clock
from huiliu.sandbox.dingtalk.state import _dumps, _ms

__all__ = ["StreamDelivery"]


class StreamDelivery:
    """The Stream half of :class:`~huiliu.sandbox.dingtalk.DingTalkSandbox` (a mixin; state set there)."""

    app_key: str
    corp_id: str
    clock: Clock
    ack_timeout: float
    retry_schedule: tuple[float, ...]
    stream_enabled: bool
    _app_secret: str
    _delivered: int
    _failed_attempts: int
    _gave_up: int
    _pending: int
    _loop: asyncio.AbstractEventLoop | None
    _tasks: set[asyncio.Task[None]]
    _stream_tickets: set[str]
    _stream_sockets: list[web.WebSocketResponse]
    _stream_unacked: dict[str, dict[str, Any]]
    stream_acks_of_system: int
    _stream_acked: dict[str, asyncio.Event]

    def enable_stream(self) -> None:
        """Deliver events over Stream connections instead of HTTP callbacks."""
        self.stream_enabled = True

    async def stream_disconnect(self) -> None:
        """Tell every connected client to go away (``SYSTEM`` / ``disconnect``), as DingTalk does on redeploy."""
        for ws in list(self._stream_sockets):
            await ws.send_str(_dumps(self._frame("SYSTEM", "disconnect", "{}", secrets.token_hex(8))))
            await ws.close()

    async def stream_ping(self) -> None:
        """Send a ``SYSTEM`` / ``ping`` to every client (answered with the same data)."""
        for ws in list(self._stream_sockets):
            await ws.send_str(_dumps(self._frame("SYSTEM", "ping", json.dumps({"opaque": "p"}),
                                                 secrets.token_hex(8))))

    @property
    def stream_connections(self) -> int:
        """How many clients are connected now."""
        return len(self._stream_sockets)

    # ------------------------------------------------------------------ routes

    async def _open_connection(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("clientId") != self.app_key or (
                body.get("clientSecret") != self._app_secret):
            return web.json_response({"code": "InvalidAuthentication", "requestid": secrets.token_hex(8),
                                      "message": "clientId 或 clientSecret 不正确"}, status=401)
        if not isinstance(body.get("subscriptions"), list) or not body["subscriptions"]:
            return web.json_response({"code": "InvalidParameter", "requestid": secrets.token_hex(8),
                                      "message": "subscriptions 不能为空"}, status=400)
        ticket = secrets.token_urlsafe(16)
        self._stream_tickets.add(ticket)
        return web.json_response({"endpoint": f"ws://{request.host}/_stream/connect", "ticket": ticket})

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._stream_tickets:
            return web.json_response({"code": "InvalidTicket", "message": "ticket 无效或已使用"}, status=401)
        self._stream_tickets.discard(ticket)  # one connection per ticket
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._stream_sockets.append(ws)
        try:
            for frame in list(self._stream_unacked.values()):  # what no client acknowledged yet
                await ws.send_str(_dumps(frame))
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                self._acknowledged(message.data)
        finally:
            self._stream_sockets.remove(ws)
        return ws

    # ------------------------------------------------------------------ delivery

    def _frame(self, kind: str, topic: str, data: str, message_id: str,
               event: dict[str, Any] | None = None) -> dict[str, Any]:
        now = str(_ms(self.clock.now()))
        headers = {"appId": self.app_key, "contentType": "application/json", "messageId": message_id,
                   "time": now, "topic": topic}
        if event is not None:
            headers |= {"eventBornTime": now, "eventCorpId": self.corp_id, "eventId": secrets.token_hex(16),
                        "eventType": str(event.get("EventType", "")), "eventUnifiedAppId": self.app_key}
        return {"specVersion": "1.0", "type": kind, "headers": headers, "data": data}

    def _stream_emit(self, event: dict[str, Any]) -> None:
        """Queue one event for the Stream clients (called on or off the sandbox's loop)."""
        body = {k: v for k, v in event.items() if k != "EventType"}
        message_id = secrets.token_hex(12)
        frame = self._frame("EVENT", "*", _dumps(body), message_id, event)
        self._stream_unacked[message_id] = frame
        self._pending += 1
        loop = self._loop
        if loop is None:
            return  # sent when a client connects
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._spawn_stream(message_id)
        else:
            loop.call_soon_threadsafe(self._spawn_stream, message_id)

    def _spawn_stream(self, message_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._push(message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, message_id: str) -> None:
        """Send, wait for the ack, send again on the retry schedule, give up after the last."""
        for attempt in range(len(self.retry_schedule) + 1):
            frame = self._stream_unacked.get(message_id)
            if frame is None:
                return
            if attempt:
                self._failed_attempts += 1
                await asyncio.sleep(self.retry_schedule[attempt - 1])
                if message_id not in self._stream_unacked:
                    return
            sockets = [ws for ws in self._stream_sockets if not ws.closed]
            if sockets:
                with contextlib.suppress(ConnectionError):
                    await sockets[attempt % len(sockets)].send_str(_dumps(frame))
            acked = self._stream_acked.setdefault(message_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(acked.wait(), timeout=self.ack_timeout)
            if message_id not in self._stream_unacked:
                self._stream_acked.pop(message_id, None)
                return
        self._stream_acked.pop(message_id, None)
        if self._stream_unacked.pop(message_id, None) is not None:
            self._gave_up += 1
            self._pending -= 1

    def _acknowledged(self, text: str) -> None:
        try:
            ack = json.loads(text)
            message_id = str(ack["headers"]["messageId"])
            code = int(ack.get("code", 0))
        except (ValueError, KeyError, TypeError):
            return  # not an ack DingTalk understands: the event stays unacknowledged
        if code != 200:
            return
        if self._stream_unacked.pop(message_id, None) is not None:
            self._delivered += 1
            self._pending -= 1
            acked = self._stream_acked.get(message_id)
            if acked is not None:
                acked.set()
        else:
            self.stream_acks_of_system += 1  # a ping answered (or an ack that came late)
