"""DingTalk sandbox callback delivery: encrypted, signed POSTs to the hub with retries.

Owns: the subscription URL, :class:`DeliveryStats`, the delivery loop (one task per event, bounded
concurrency, the retry schedule, giving up), and sealing each attempt with a fresh timestamp and
signature (``MsgCrypt``). Does not own: what the events say (:mod:`.state`) or the HTTP API (:mod:`.app`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp

from huiliu.crypto import CryptoError, MsgCrypt
from huiliu.model import Clock
from huiliu.sandbox.dingtalk.state import _dumps, _Instance, _ms
from huiliu.sandbox.faults import FaultKind, FaultPlan

__all__ = ["CallbackDelivery", "DeliveryStats"]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Callback delivery counters.

    Attributes:
        delivered: events acknowledged with a valid encrypted ``success``.
        failed_attempts: attempts that timed out, failed or got a bad reply (each retry counts).
        pending: events not yet delivered nor given up.
        gave_up: events dropped after the last retry.
    """

    delivered: int
    failed_attempts: int
    pending: int
    gave_up: int


class CallbackDelivery:
    """The delivery half of :class:`~huiliu.sandbox.dingtalk.DingTalkSandbox`: events to the hub's URL.

    A mixin: the attributes below are set by ``DingTalkSandbox.__init__``.
    """

    clock: Clock
    faults: FaultPlan
    ack_timeout: float
    retry_schedule: tuple[float, ...]
    crypt: MsgCrypt
    instances: dict[str, _Instance]
    events: list[dict[str, Any]]
    callback_url: str | None
    _delivered: int
    _failed_attempts: int
    _gave_up: int
    _pending: int
    _backlog: list[dict[str, Any]]
    _semaphore: asyncio.Semaphore
    _session: aiohttp.ClientSession | None
    _loop: asyncio.AbstractEventLoop | None
    _tasks: set[asyncio.Task[None]]

    # ------------------------------------------------------------------ delivery

    stream_enabled: bool

    def _stream_emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError  # provided by StreamDelivery

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.stream_enabled:
            self._stream_emit(event)
            return
        if self.callback_url is None:
            return  # nobody subscribed: DingTalk does not deliver either
        self._pending += 1
        loop = self._loop
        if loop is None:
            self._backlog.append(event)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._spawn(event)
        else:
            loop.call_soon_threadsafe(self._spawn, event)

    def subscribe(self, url: str) -> None:
        """Set the hub's callback URL; events from now on are delivered there."""
        self.callback_url = url

    def redeliver(self, instance_id: str, times: int = 1) -> None:
        """Push the instance's last ``bpms_instance_change`` event again, ``times`` times."""
        event = self.instances[instance_id].last_event
        if event is None:
            raise ValueError(f"instance {instance_id} has no event yet")
        for _ in range(times):
            self._emit(dict(event))

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
        """Cancel deliveries in flight (they stop being pending, undelivered) and close the HTTP session."""
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

    def _spawn(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: dict[str, Any]) -> None:
        plaintext = _dumps(event)
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
        """One POST, re-signed with a fresh timestamp; true only for a valid encrypted ``success``."""
        session, url = self._session, self.callback_url
        if session is None or url is None:
            return False
        fault = self.faults.draw("callback")
        if fault is not None and fault.kind is not FaultKind.SLOW:
            return False  # the hub never sees this attempt
        if fault is not None:
            await asyncio.sleep(fault.delay)
        timestamp, nonce = str(_ms(self.clock.now())), secrets.token_urlsafe(6)
        envelope = self.crypt.seal(plaintext, timestamp, nonce)
        params = {"msg_signature": envelope["msg_signature"], "timeStamp": timestamp, "nonce": nonce}
        try:
            async with session.post(url, params=params, data=_dumps({"encrypt": envelope["encrypt"]}),
                                    headers={"Content-Type": "application/json"},
                                    timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as resp:
                if resp.status != 200:
                    return False
                reply = json.loads(await resp.read())
            answer = self.crypt.open(str(reply["msg_signature"]), str(reply["timeStamp"]),
                                     str(reply["nonce"]), str(reply["encrypt"]))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, CryptoError):
            return False
        return answer == "success"

