"""Feishu sandbox event delivery: encrypted, signed POSTs to the hub's request URL, with retries.

Owns: the request URL and its ``url_verification`` handshake (:meth:`EventDelivery.subscribe`), the
sealing of contracts §3.4 (``{"encrypt": base64(iv ‖ AES-256-CBC(sha256(key)))}`` and
``X-Lark-Signature = sha256_hex(timestamp ‖ nonce ‖ key ‖ body)``, done here independently of the
connector, which this package must not import); the delivery loop is
:class:`~huiliu.sandbox.delivery.PushDelivery`. An attempt succeeds on HTTP 200 within
``ack_timeout``; the body is not read (Feishu's check of it is unconfirmed). Does not own: what the
events say (:mod:`.state`) or the HTTP API (:mod:`.app`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huiliu.model import Clock
from huiliu.sandbox.delivery import DeliveryStats, PushDelivery
from huiliu.sandbox.faults import FaultKind, FaultPlan
from huiliu.sandbox.feishu.state import _dumps, _Instance

__all__ = ["DeliveryStats", "EventDelivery", "seal"]


def seal(plaintext: str, encrypt_key: str, timestamp: str, nonce: str) -> tuple[bytes, dict[str, str]]:
    """The request body and headers Feishu sends for ``plaintext`` (encrypted and signed if a key is set)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Lark-Request-Timestamp": timestamp,
               "X-Lark-Request-Nonce": nonce}
    if not encrypt_key:
        return plaintext.encode("utf-8"), headers
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    iv = secrets.token_bytes(16)
    data = plaintext.encode("utf-8")
    pad = 16 - len(data) % 16
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    sealed = iv + encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()
    body = _dumps({"encrypt": base64.b64encode(sealed).decode("ascii")}).encode("utf-8")
    headers["X-Lark-Signature"] = hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()
    return body, headers


class EventDelivery(PushDelivery):
    """The delivery half of :class:`~huiliu.sandbox.feishu.FeishuSandbox`: events to the hub's URL.

    A mixin: the attributes below are set by ``FeishuSandbox.__init__``.
    """

    clock: Clock
    faults: FaultPlan
    ack_timeout: float
    retry_schedule: tuple[float, ...]
    encrypt_key: str
    verification_token: str
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

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.callback_url is None:
            return  # no request URL saved: Feishu does not push either
        self._queue(event)

    def _stamp(self) -> tuple[str, str]:
        return str(int(self.clock.now().timestamp())), secrets.token_hex(8)

    async def subscribe(self, url: str) -> None:
        """Save ``url`` as the request URL, as the console does: it must answer ``url_verification``.

        Raises:
            ValueError: the URL did not echo the challenge with HTTP 200; the URL is not saved.
        """
        challenge = secrets.token_urlsafe(16)
        plaintext = _dumps({"challenge": challenge, "token": self.verification_token, "type": "url_verification"})
        body, headers = seal(plaintext, self.encrypt_key, *self._stamp())
        async with aiohttp.ClientSession() as session, session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=max(self.ack_timeout, 1.0))
        ) as resp:
            status, raw = resp.status, await resp.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict) or answer.get("challenge") != challenge:
            raise ValueError(f"request URL {url} failed url_verification (HTTP {status})")
        self.callback_url = url

    def redeliver(self, instance_code: str, times: int = 1) -> None:
        """Push the instance's last ``approval_instance`` event again (same event ``uuid``), ``times`` times."""
        event = self.instances[instance_code].last_event
        if event is None:
            raise ValueError(f"instance {instance_code} has no event yet")
        for _ in range(times):
            self._emit(dict(event))

    def _text(self, event: dict[str, Any]) -> str:
        """The plaintext sealed for one event."""
        return _dumps(event)

    async def _attempt(self, plaintext: str) -> bool:
        """One POST, sealed afresh (new IV, timestamp, nonce and signature); true on HTTP 200."""
        session, url = self._session, self.callback_url
        if session is None or url is None:
            return False
        fault = self.faults.draw("callback")
        if fault is not None and fault.kind is not FaultKind.SLOW:
            return False  # the hub never sees this attempt
        if fault is not None:
            await asyncio.sleep(fault.delay)
        body, headers = seal(plaintext, self.encrypt_key, *self._stamp())
        try:
            async with session.post(url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
