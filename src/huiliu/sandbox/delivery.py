"""Pushing events to the hub, as every vendor does: a subscribed URL, retries on a schedule, then giving up.

Shared by the DingTalk, WeCom and Feishu sandboxes. Each supplies how one attempt is sealed and judged
(:meth:`PushDelivery._attempt`: the vendor's crypto and its expected reply) and how an event becomes
the text it seals (:meth:`PushDelivery._text`); the queueing, the bounded concurrency, the retry
schedule, the counters and the start/stop/wait are here. Events may be emitted from another thread:
they are handed to the sandbox's loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["DeliveryStats", "PushDelivery"]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Event delivery counters.

    Attributes:
        delivered: events the hub acknowledged as the vendor expects.
        failed_attempts: attempts that timed out, failed or got a bad reply (each retry counts).
        pending: events not yet delivered nor given up.
        gave_up: events dropped after the last retry.
    """

    delivered: int
    failed_attempts: int
    pending: int
    gave_up: int


class PushDelivery:
    """The delivery half of a vendor sandbox (a mixin: the attributes are set by the sandbox's ``__init__``)."""

    retry_schedule: tuple[float, ...]
    _delivered: int
    _failed_attempts: int
    _gave_up: int
    _pending: int
    _backlog: list[Any]
    _semaphore: asyncio.Semaphore
    _session: aiohttp.ClientSession | None
    _loop: asyncio.AbstractEventLoop | None
    _tasks: set[asyncio.Task[None]]

    def _text(self, event: Any) -> str:
        """The plaintext one event is sealed from."""
        raise NotImplementedError

    async def _attempt(self, plaintext: str) -> bool:
        """One delivery attempt: sealed afresh; true when the hub answered as the vendor expects."""
        raise NotImplementedError

    def _queue(self, event: Any) -> None:
        """Deliver ``event`` (from any thread); before :meth:`start_delivery` it waits in the backlog."""
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

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        return DeliveryStats(self._delivered, self._failed_attempts, self._pending, self._gave_up)

    async def start_delivery(self) -> None:
        """Start delivering from the running loop (events queued so far go first)."""
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

    async def wait_delivered(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- API the demo and tests use
        """Wait until nothing is pending; ``False`` if something still is after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._pending:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def _spawn(self, event: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: Any) -> None:
        plaintext = self._text(event)
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
