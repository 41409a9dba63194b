"""WeCom sandbox callback delivery: the URL handshake, then encrypted XML POSTs to the hub with retries.

Owns: the subscription (verified with the ``echostr`` handshake, as WeCom does when the URL is saved) and
sealing each attempt with a fresh timestamp (seconds) and signature. The delivery loop (retries, counters)
is :class:`~huiliu.sandbox.delivery.PushDelivery`. Does not own: what the events say (:mod:`.state`) or
the HTTP API (:mod:`.app`).

An attempt counts as delivered on HTTP 200 whose body is one of ``accepted_replies``; the body WeCom
requires is unconfirmed (contracts §2.3: empty or ``success``), so both are accepted by default.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp

from huiliu.crypto import MsgCrypt
from huiliu.model import Clock
from huiliu.sandbox.delivery import DeliveryStats, PushDelivery
from huiliu.sandbox.faults import FaultKind, FaultPlan
from huiliu.sandbox.wecom.state import _cdata, _Instance

__all__ = ["CallbackDelivery", "DeliveryStats", "SubscriptionFailed"]


class SubscriptionFailed(ValueError):
    """The hub's URL did not echo the handshake's ``echostr`` plaintext."""


class CallbackDelivery(PushDelivery):
    """The delivery half of :class:`~huiliu.sandbox.wecom.WeComSandbox`: events to the hub's URL.

    A mixin: the attributes below are set by ``WeComSandbox.__init__``.
    """

    corp_id: str
    agent_id: int
    clock: Clock
    faults: FaultPlan
    ack_timeout: float
    retry_schedule: tuple[float, ...]
    accepted_replies: frozenset[str]
    crypt: MsgCrypt
    instances: dict[str, _Instance]
    events: list[str]
    callback_url: str | None
    _delivered: int
    _failed_attempts: int
    _gave_up: int
    _pending: int
    _backlog: list[str]
    _semaphore: asyncio.Semaphore
    _session: aiohttp.ClientSession | None
    _loop: asyncio.AbstractEventLoop | None
    _tasks: set[asyncio.Task[None]]

    def _emit(self, plaintext: str) -> None:
        self.events.append(plaintext)
        if self.callback_url is None:
            return  # nobody subscribed: WeCom does not deliver either
        self._queue(plaintext)

    async def subscribe(self, url: str) -> None:
        """Save the hub's callback URL after the ``echostr`` handshake; events from now on go there.

        Raises:
            SubscriptionFailed: the URL did not answer HTTP 200 with the decrypted ``echostr``.
        """
        await self.start_delivery()
        assert self._session is not None
        echo = str(secrets.randbits(63))  # WeCom's echostr plaintext is a number (contracts §2.4 vector)
        timestamp, nonce = str(self._seconds()), str(secrets.randbits(30))
        encrypt = self.crypt.encrypt(echo)
        params = {"msg_signature": self.crypt.sign(timestamp, nonce, encrypt), "timestamp": timestamp,
                  "nonce": nonce, "echostr": encrypt}
        try:
            async with self._session.get(url, params=params,
                                         timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as resp:
                status, body = resp.status, (await resp.read()).decode("utf-8", "replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SubscriptionFailed(f"handshake with {url} failed: {type(exc).__name__}") from exc
        if status != 200 or body != echo:
            raise SubscriptionFailed(f"{url} answered HTTP {status} without the echostr plaintext")
        self.callback_url = url

    def redeliver(self, sp_no: str, times: int = 1) -> None:
        """Push the instance's last event again, ``times`` times (WeCom retries the same message)."""
        event = self.instances[sp_no].last_event
        if event is None:
            raise ValueError(f"approval {sp_no} has no event yet")
        for _ in range(times):
            self._emit(event)

    def _seconds(self) -> int:
        return int(self.clock.now().timestamp())

    def _text(self, event: str) -> str:
        """The plaintext sealed for one event."""
        return event

    async def _attempt(self, plaintext: str) -> bool:
        """One POST, re-signed with a fresh timestamp; true for HTTP 200 with an accepted body."""
        session, url = self._session, self.callback_url
        if session is None or url is None:
            return False
        fault = self.faults.draw("callback")
        if fault is not None and fault.kind is not FaultKind.SLOW:
            return False  # the hub never sees this attempt
        if fault is not None:
            await asyncio.sleep(fault.delay)
        timestamp, nonce = str(self._seconds()), str(secrets.randbits(30))
        encrypt = self.crypt.encrypt(plaintext)
        params = {"msg_signature": self.crypt.sign(timestamp, nonce, encrypt), "timestamp": timestamp,
                  "nonce": nonce}
        body = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><AgentID>{_cdata(str(self.agent_id))}"
                f"</AgentID><Encrypt>{_cdata(encrypt)}</Encrypt></xml>")
        try:
            async with session.post(url, params=params, data=body.encode("utf-8"),
                                    headers={"Content-Type": "text/xml; charset=utf-8"},
                                    timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as resp:
                reply = (await resp.read()).decode("utf-8", "replace")
                return resp.status == 200 and reply.strip() in self.accepted_replies
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _stats_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {"delivered": stats.delivered, "failed": stats.failed_attempts, "pending": stats.pending,
                "gave_up": stats.gave_up}
