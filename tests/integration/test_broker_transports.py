"""The broker-relayed transports against the real RabbitMQ and NATS JetStream and both databases: nothing
lost, duplicates absorbed, unroutable publishes detected, and the whole loop on each broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import aio_pika
import nats.js.errors
import pytest

from backends import NATS_URL, RABBIT_URL, nats_available, nats_cleanup, rabbit_available, rabbit_cleanup
from huiliu.bus import EventLog, RetryPolicy
from huiliu.bus.transports import BrokerLink, NatsLink, RabbitLink, RelayedTransport
from huiliu.cli.demo import DemoStack
from huiliu.service import Worker
from huiliu.store import Database

TOPICS = ["t"]


@pytest.fixture(params=["rabbitmq", "nats"])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[BrokerLink]:
    prefix = f"hl-test-{uuid.uuid4().hex[:8]}"
    if request.param == "rabbitmq":
        await rabbit_available()
        yield RabbitLink(RABBIT_URL, prefix=prefix)
        await rabbit_cleanup(prefix, [*TOPICS, "effect", "flow.run", "oa.event"])
    else:
        await nats_available()
        nats_link = NatsLink(NATS_URL, prefix=prefix, ack_wait=5)
        yield nats_link
        await nats_cleanup(nats_link.stream)


def broker_settings(link: BrokerLink) -> dict[str, str]:
    if isinstance(link, RabbitLink):
        return {"transport": "rabbitmq", "broker_url": RABBIT_URL, "broker_prefix": link.prefix}
    assert isinstance(link, NatsLink)
    return {"transport": "nats", "broker_url": NATS_URL, "broker_prefix": link.prefix}


class Sink:
    def __init__(self, db: Database, transport: RelayedTransport) -> None:
        self.db, self.transport, self.seen = db, transport, []  # type: ignore[var-annotated]

    async def handle(self, delivery):  # type: ignore[no-untyped-def]
        with self.db.begin() as conn:
            self.transport.ack(conn, delivery)
        self.seen.append(delivery.payload["n"])

    def policy_for(self, delivery):  # type: ignore[no-untyped-def]
        return None

    def on_dead(self, conn, delivery, error):  # type: ignore[no-untyped-def]
        raise AssertionError(error)


async def test_every_message_once_and_duplicates_absorbed(db: Database, link: BrokerLink) -> None:
    transport = RelayedTransport(db, link, topics=TOPICS, relay_interval=0.05)
    await transport.start()
    sink = Sink(db, transport)
    worker = Worker(db=db, transport=transport, handlers={"t": sink}, policy=RetryPolicy(), eventlog=EventLog(),
                    concurrency=16, poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        with db.begin() as conn:
            for n in range(200):
                transport.publish(conn, "t", f"k{n % 17}", {"n": n})
        for _ in range(200):
            if len(sink.seen) == 200:
                break
            await asyncio.sleep(0.05)
        assert sorted(sink.seen) == list(range(200))
        assert transport.pending() == 0
        assert transport.relayed >= 200
        # the broker delivers ids again (as after a consumer crash or a republish): all dropped
        await link.send([("t", i) for i in range(1, 50)])
        for _ in range(100):
            if transport.duplicates >= 49:
                break
            await asyncio.sleep(0.05)
        assert transport.duplicates >= 49
        assert sorted(sink.seen) == list(range(200))
    finally:
        stop.set()
        await task
        await transport.close()


async def test_unroutable_publish_is_detected_not_counted_as_sent(db: Database, link: BrokerLink) -> None:
    if isinstance(link, NatsLink):  # JetStream: a subject outside every stream gets no PubAck
        await link.connect(TOPICS)
        try:
            link.prefix = "hl-nowhere"
            with pytest.raises(nats.js.errors.NoStreamResponseError):
                await link.send([("t", 1)])
        finally:
            await link.close()
        return
    await link.connect(TOPICS)
    try:
        with pytest.raises(aio_pika.exceptions.DeliveryError):
            await link.send([("no-such-topic", 1)])
    finally:
        await link.close()


async def test_the_loop_on_each_broker(make_stack: Callable[..., DemoStack], link: BrokerLink) -> None:
    async with make_stack(settings=broker_settings(link)) as stack:
        assert stack.hub is not None
        assert isinstance(stack.hub.transport, RelayedTransport)
        specs = {stack.submit(s): s for s in (stack.company.claim() for _ in range(30))}
        approved = [i for i, s in specs.items() if s.outcome == "approved"]
        assert await stack.settle(expected_runs=len(approved), timeout=60)
        assert stack.kd.count() == len(approved)
        assert stack.hub.transport.relayed > 0
