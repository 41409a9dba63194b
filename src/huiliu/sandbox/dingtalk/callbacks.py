"""DingTalk sandbox callback delivery: encrypted, signed POSTs to the hub with retries.

Owns: the subscription URL and sealing each attempt with a fresh timestamp and signature (``MsgCrypt``);
the delivery loop (retries, counters) is :class:`~huiliu.sandbox.delivery.PushDelivery`, and Stream
delivery :mod:`.stream`. Does not own: what the events say (:mod:`.state`) or the HTTP API (:mod:`.app`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import aiohttp

from huiliu.crypto import CryptoError, MsgCrypt
from huiliu.model import Clock
from huiliu.sandbox.delivery import DeliveryStats, PushDelivery
from huiliu.sandbox.dingtalk.state import _dumps, _Instance, _ms
from huiliu.sandbox.faults import FaultKind, FaultPlan

__all__ = ["CallbackDelivery", "DeliveryStats"]


class CallbackDelivery(PushDelivery):
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
        self._queue(event)

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

    def _text(self, event: dict[str, Any]) -> str:
        """The plaintext sealed for one event."""
        return _dumps(event)

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

