"""NATS JetStream as the broker of a :class:`RelayedTransport` (nats-py).

One file-backed stream with work-queue retention over ``<prefix>.<topic>`` subjects; one durable pull
consumer per topic, shared by every worker, with an ack wait and unlimited redelivery; publishes wait
for JetStream's PubAck and carry a ``Nats-Msg-Id`` for its duplicate window.

JetStream acknowledges before it has written to disk (the server's sync interval), so a PubAck is not a
guarantee against power loss (RELIABILITY.md): the row stays in the hub's database until a worker has
processed it, and the relay sends again what was handed over but never claimed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from huiliu.bus.transports.relay import Incoming

__all__ = ["NatsLink"]


class NatsLink:
    """Publishes row ids to JetStream and consumes them.

    Args:
        url: ``nats://host:4222``.
        prefix: the subject prefix; the stream is named after it (``huiliu`` → stream ``HUILIU``).
        ack_wait: seconds JetStream waits for an ack before it redelivers.
    """

    def __init__(self, url: str, *, prefix: str = "huiliu", ack_wait: float = 30.0) -> None:
        self.url = url
        self.prefix = prefix
        self.ack_wait = ack_wait
        self.stream = "".join(c if c.isalnum() else "_" for c in prefix).upper()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._generation = itertools.count()

    async def connect(self, topics: Sequence[str]) -> None:
        """Connect and make sure the stream exists."""
        self._nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=-1,
                                      allow_reconnect=True)
        self._js = self._nc.jetstream()
        config = StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"], storage=StorageType.FILE,
                              retention=RetentionPolicy.WORK_QUEUE)
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(config)

    def _subject(self, topic: str) -> str:
        return f"{self.prefix}.{topic}"

    async def send(self, items: Sequence[tuple[str, int]]) -> None:
        """Publish and wait for every PubAck; anything unacknowledged raises."""
        assert self._js is not None, "connect() first"
        js, generation = self._js, next(self._generation)
        await asyncio.gather(*(
            js.publish(self._subject(topic), str(row_id).encode(),
                       headers={"Nats-Msg-Id": f"{row_id}.{id(self)}.{generation}"})
            for topic, row_id in items))

    async def consume(self, topics: Sequence[str], prefetch: int) -> AsyncIterator[Incoming]:
        """Deliveries from the topics' durable pull consumers."""
        assert self._js is not None, "connect() first"
        js = self._js
        merged: asyncio.Queue[Incoming] = asyncio.Queue(maxsize=prefetch)
        batch = max(1, prefetch // max(1, len(topics)))

        async def pull(topic: str) -> None:
            durable = f"{self.stream}_{''.join(c if c.isalnum() else '_' for c in topic)}"
            sub = await js.pull_subscribe(self._subject(topic), durable=durable,
                                          config=ConsumerConfig(ack_wait=self.ack_wait, max_deliver=-1))
            while True:
                try:
                    messages = await sub.fetch(batch, timeout=1)
                except (NatsTimeout, TimeoutError):  # nothing within the second: nats-py raises either
                    continue
                for message in messages:
                    await merged.put(Incoming(int(message.data), message.ack))

        tasks = [asyncio.create_task(pull(topic)) for topic in topics]
        try:
            while True:
                done = [task for task in tasks if task.done()]
                for task in done:
                    task.result()  # a pull loop that failed ends the generator with its error
                yield await merged.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Disconnect; unacknowledged deliveries come back after the ack wait."""
        if self._nc is not None:
            await self._nc.close()
            self._nc = None
            self._js = None
