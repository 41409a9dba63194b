"""The worker: claims messages, runs their handlers concurrently, and settles failures.

This is the one boundary where any exception becomes ack / retry / dead letter: a handler's error
carries its retry intent (``retryable``, ``retry_after``), the policy decides the delay, and after the
last attempt the message and its attempt log go to the dead letters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from huiliu.bus import Delivery, EventLog, LeaseLost, RetryPolicy, Transport, diagnose
from huiliu.connectors import CallRecord
from huiliu.errors import HuiliuError
from huiliu.i18n import Lang
from huiliu.service.calls import call_rows, recording
from huiliu.service.handlers import Handler
from huiliu.store import Database

__all__ = ["Worker"]

log = logging.getLogger("huiliu.worker")


class Worker:
    """Runs handlers for their topics until stopped.

    Args:
        handlers: topic → handler.
        concurrency: messages in flight at once.
        lease: seconds a claimed message is ours; a handler must finish well within it.
        poll_interval: seconds between polls when idle (a publish in this process wakes it at once).
    """

    def __init__(self, *, db: Database, transport: Transport, handlers: Mapping[str, Handler],
                 policy: RetryPolicy, eventlog: EventLog, concurrency: int = 32, lease: float = 30.0,
                 poll_interval: float = 0.2, owner: str | None = None,
                 long_transaction_alarm: float = 60.0) -> None:
        self.db = db
        self.transport = transport
        self.handlers = dict(handlers)
        self.policy = policy
        self.eventlog = eventlog
        self.concurrency = concurrency
        self.lease = lease
        self.poll_interval = poll_interval
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._inflight: set[asyncio.Task[None]] = set()
        self.processed = 0
        self.failed = 0
        self.long_transaction_alarm = long_transaction_alarm
        self._next_watch = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and process until ``stop`` is set, then wait for work in flight."""
        topics = list(self.handlers)
        backoff = self.poll_interval
        while not stop.is_set():
            free = self.concurrency - len(self._inflight)
            try:
                batch = await self.transport.receive(topics, self.owner, free, self.lease) if free > 0 else []
            except Exception:  # the database or broker went away: keep the worker, try again
                log.exception("receiving failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = self.poll_interval
            self._watch()
            for delivery in batch:
                task = asyncio.create_task(self._process(delivery))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if batch and len(batch) == free:
                await asyncio.sleep(0)  # let the new tasks start; more may be waiting
                continue
            await self._idle(stop)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    def _watch(self) -> None:
        """Now and then, report transactions held open long on the queue's database (an alarm)."""
        now = time.monotonic()
        if now < self._next_watch:
            return
        self._next_watch = now + min(30.0, self.long_transaction_alarm)
        try:
            for tx in self.db.long_transactions(self.long_transaction_alarm):
                log.warning("alarm: transaction of pid %s open for %.0f s (%s): it stalls the queue's cleanup",
                            tx["pid"], tx["seconds"], tx["state"])
        except Exception:  # an alarm check must never stop the worker
            log.exception("long-transaction check failed")

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for new work, a stop, a finished task (a free slot), or the poll interval."""
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self.transport.idle(self.poll_interval)),
                                              asyncio.ensure_future(stop.wait()), *self._inflight}
        try:
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waiters:
                if fut not in self._inflight:
                    fut.cancel()

    async def _process(self, delivery: Delivery) -> None:
        handler = self.handlers[delivery.topic]
        with recording() as calls:
            try:
                await asyncio.wait_for(handler.handle(delivery), timeout=self.lease * 0.8)
                self.processed += 1
            except LeaseLost as exc:
                log.warning("%s", exc)
            except Exception as exc:  # the one bus boundary (STYLE.md)
                self.failed += 1
                self._settle_failure(handler, delivery, exc, calls)

    def _settle_failure(self, handler: Handler, delivery: Delivery, exc: BaseException,
                        calls: list[CallRecord]) -> None:
        text = exc.render(Lang.ZH) if isinstance(exc, HuiliuError) else (
            f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:]))
        if isinstance(exc, TimeoutError):
            text = f"处理超时（超过租约的 80%，{self.lease * 0.8:.1f} 秒）"
        try:
            policy = handler.policy_for(delivery) or self.policy
            delay = policy.next_delay(delivery.attempts, exc)
            if delay is None:
                reason = exc.kind if isinstance(exc, HuiliuError) else "internal_error"
                if isinstance(exc, HuiliuError) and exc.retryable:
                    reason = f"{reason}_exhausted"
                with self.db.begin() as conn:
                    taken_over = handler.on_dead(conn, delivery, exc)  # e.g. a flow's on_error: continue
                    self._log_attempt(conn, delivery, calls, "handled" if taken_over else "dead_lettered", text, None)
                    if taken_over:
                        self.transport.ack(conn, delivery)
                    else:
                        self.transport.dead_letter(conn, delivery, reason, text, detail=diagnose(exc))
                log.warning("%s message %s (%s): %s", "gave up, flow handles" if taken_over else "dead-lettered",
                            delivery.id, reason, text.splitlines()[0])
            else:
                with self.db.begin() as conn:
                    self._log_attempt(conn, delivery, calls, "retry", text, delay)
                self.transport.retry_later(delivery, delay, text)
                log.info("retrying message %s in %.2fs: %s", delivery.id, delay, text.splitlines()[0])
        except LeaseLost as lost:
            log.warning("%s", lost)
        except Exception:  # could not even record the failure: the lease runs out and it comes back
            log.exception("settling message %s failed", delivery.id)

    def _log_attempt(self, conn: Connection, delivery: Delivery, calls: list[CallRecord], outcome: str,
                     error: str, delay: float | None) -> None:
        """The failed attempt and the calls it made, against the message's business key."""
        self.eventlog.record_many(conn, call_rows(calls, delivery.key))
        self.eventlog.record(conn, case_id=delivery.key, activity=f"attempt.{delivery.topic}", system="hub",
                             outcome=outcome, detail={"attempt": delivery.attempts, "error": error[:1000],
                                                      "retry_in_s": delay})
