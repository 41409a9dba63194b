"""WeCom sandbox callback delivery: the URL handshake, then encrypted XML POSTs to the hub with retries.

Owns: the subscription (verified with the ``echostr`` handshake, as WeCom does when the URL is saved),
:class:`DeliveryStats`, the delivery loop (one task per event, bounded concurrency, the retry schedule,
giving up), and sealing each attempt with a fresh timestamp (seconds) and signature. Does not own: what
the events say (:mod:`.state`) or the HTTP API (:mod:`.app`).

An attempt counts as delivered on HTTP 200 whose body is one of ``accepted_replies``; the body WeCom
requires is unconfirmed (contracts §2.3: empty or ``success``), so both are accepted by default.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp

from huiliu.crypto import MsgCrypt
from huiliu.model import Clock
from huiliu.sandbox.faults import FaultKind, FaultPlan
from huiliu.sandbox.wecom.state import _cdata, _Instance

__all__ = ["CallbackDelivery", "DeliveryStats", "SubscriptionFailed"]


class SubscriptionFailed(ValueError):
    """The hub's URL did not echo the handshake's ``echostr`` plaintext."""


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Callback delivery counters.

    Attributes:
        delivered: events acknowledged with HTTP 200 and an accepted body.
        failed_attempts: attempts that timed out, failed or got a bad reply (each retry counts).
        pending: events not yet delivered nor given up.
        gave_up: events dropped after the last retry.
    """

    delivered: int
    failed_attempts: int
    pending: int
    gave_up: int


class CallbackDelivery:
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
        self._pending += 1
        loop = self._loop
        if loop is None:
            self._backlog.append(plaintext)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._spawn(plaintext)
        else:
            loop.call_soon_threadsafe(self._spawn, plaintext)

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

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        return DeliveryStats(self._delivered, self._failed_attempts, self._pending, self._gave_up)

    async def start_delivery(self) -> None:
        """Start delivering callbacks from the running loop (events queued so far go first)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._loop = asyncio.get_running_loop()
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            self._spawn(event)

    async def stop_delivery(self) -> None:
        """Cancel deliveries in flight and close the HTTP session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_delivered(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- API the demo uses
        """Wait until no callback is pending; ``False`` if some still are after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._pending:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def _seconds(self) -> int:
        return int(self.clock.now().timestamp())

    def _spawn(self, plaintext: str) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(plaintext))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, plaintext: str) -> None:
        try:
            for attempt in range(len(self.retry_schedule) + 1):
                if attempt:
                    await asyncio.sleep(self.retry_schedule[attempt - 1])
                async with self._semaphore:
                    ok = await self._attempt(plaintext)
                if ok:
                    self._delivered += 1
                    return
                self._failed_attempts += 1
            self._gave_up += 1
        finally:
            self._pending -= 1

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
