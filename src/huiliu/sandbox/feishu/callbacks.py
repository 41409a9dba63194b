"""Feishu sandbox event delivery: encrypted, signed POSTs to the hub's request URL, with retries.

Owns: the request URL and its ``url_verification`` handshake (:meth:`EventDelivery.subscribe`), the
sealing of contracts §3.4 (``{"encrypt": base64(iv ‖ AES-256-CBC(sha256(key)))}`` and
``X-Lark-Signature = sha256_hex(timestamp ‖ nonce ‖ key ‖ body)``, done here independently of the
connector, which this package must not import), :class:`DeliveryStats`, and the delivery loop (one task
per event, bounded concurrency, the retry schedule, giving up). An attempt succeeds on HTTP 200 within
``ack_timeout``; the body is not read (Feishu's check of it is unconfirmed). Does not own: what the
events say (:mod:`.state`) or the HTTP API (:mod:`.app`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huiliu.model import Clock
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


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Event delivery counters.

    Attributes:
        delivered: events acknowledged with HTTP 200.
        failed_attempts: attempts that timed out, failed or got another status (each retry counts).
        pending: events not yet delivered nor given up.
        gave_up: events dropped after the last retry.
    """

    delivered: int
    failed_attempts: int
    pending: int
    gave_up: int


class EventDelivery:
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

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        return DeliveryStats(self._delivered, self._failed_attempts, self._pending, self._gave_up)

    async def start_delivery(self) -> None:
        """Start delivering events from the running loop (events queued so far go first)."""
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

    async def wait_delivered(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- API tests use
        """Wait until no event is pending; ``False`` if some still are after ``timeout`` seconds."""
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
