"""The worker over the database transport: per-key order with several workers, retries, dead letters."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from sqlalchemy import Connection, select

from huiliu.bus import DbTransport, Delivery, EventLog, RetryPolicy
from huiliu.errors import TransientError, VendorRejected
from huiliu.i18n import t
from huiliu.service import Worker
from huiliu.store import Database
from huiliu.store.schema import dead_letters


class Recorder:
    """Applies messages, failing some first attempts, and records the order per key."""

    def __init__(self, db: Database, transport: DbTransport, fail_rate: float, seed: int) -> None:
        self.db = db
        self.transport = transport
        self.applied: dict[str, list[int]] = {}
        self.rng = random.Random(seed)
        self.fail_rate = fail_rate
        self.in_flight = 0
        self.max_in_flight = 0
        self.dead: list[Any] = []

    async def handle(self, delivery: Delivery) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.rng.random() * 0.004)
            if delivery.payload.get("poison"):
                raise VendorRejected(t("科目不存在", "no such account"), system="kingdee", operation="Save")
            if delivery.attempts == 1 and self.rng.random() < self.fail_rate:
                raise TransientError(t("金蝶 503", "Kingdee 503"), system="kingdee", operation="Save")
            with self.db.begin() as conn:
                self.transport.ack(conn, delivery)
            self.applied.setdefault(delivery.key, []).append(delivery.payload["seq"])
        finally:
            self.in_flight -= 1

    def policy_for(self, delivery: Delivery) -> None:
        return None

    def on_dead(self, conn: Connection, delivery: Delivery, error: BaseException) -> bool:
        self.dead.append((delivery.key, delivery.payload["seq"], type(error).__name__))
        return False


async def test_per_key_order_holds_with_two_workers_and_retries(db: Database) -> None:
    transport = DbTransport(db)
    with db.begin() as conn:
        for seq in range(100):  # 100 updates of one instance, interleaved with other instances
            transport.publish(conn, "t", "instance-A", {"seq": seq})
            transport.publish(conn, "t", f"other-{seq % 10}", {"seq": seq})
        transport.publish(conn, "t", "poisoned", {"seq": 0, "poison": True})
        transport.publish(conn, "t", "poisoned", {"seq": 1})
    recorder = Recorder(db, transport, fail_rate=0.1, seed=4)
    policy = RetryPolicy(initial_interval=0.01, max_interval=0.02, max_attempts=3, jitter=0)
    workers = [Worker(db=db, transport=transport, handlers={"t": recorder}, policy=policy, eventlog=EventLog(),
                      concurrency=8, lease=10, poll_interval=0.01) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    for _ in range(1000):
        await asyncio.sleep(0.02)
        if transport.pending() == 0:
            break
    stop.set()
    await asyncio.gather(*tasks)
    assert transport.pending() == 0
    assert recorder.applied["instance-A"] == list(range(100))  # in order, each once
    for i in range(10):
        assert recorder.applied[f"other-{i}"] == list(range(i, 100, 10))
    assert recorder.max_in_flight > 1  # unrelated keys ran in parallel
    # the poison message is dead-lettered at once (non-retryable); the next message of its key goes on
    assert recorder.dead == [("poisoned", 0, "VendorRejected")]
    assert recorder.applied["poisoned"] == [1]
    with db.read() as conn:
        dead = conn.execute(select(dead_letters)).one()
    assert (dead.reason, dead.attempts) == ("vendor_rejected", 1)
    assert sum(w.failed for w in workers) > 5  # the retries really happened
