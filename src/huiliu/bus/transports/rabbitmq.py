"""RabbitMQ as the broker of a :class:`RelayedTransport` (aio-pika).

Durable quorum queues, one per topic, bound to one durable direct exchange; persistent messages
published with ``mandatory`` and publisher confirms, so an unroutable message raises instead of being
silently dropped (RabbitMQ confirms those too); manual acks with a prefetch window. A message carries
only the row id: the row in the hub's database is the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from huiliu.bus.transports.relay import Incoming

__all__ = ["RabbitLink"]


class RabbitLink:
    """Publishes row ids to RabbitMQ and consumes them.

    Args:
        url: ``amqp://user:password@host:5672/vhost``.
        prefix: names of the exchange and queues (``huiliu`` → exchange ``huiliu``, queue ``huiliu.effect``).
    """

    def __init__(self, url: str, *, prefix: str = "huiliu") -> None:
        self.url = url
        self.prefix = prefix
        self._conn: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self, topics: Sequence[str]) -> None:
        """Connect (reconnecting by itself later) and declare the exchange and the topics' queues."""
        self._conn = await aio_pika.connect_robust(self.url)
        channel = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
        self._publish_channel = channel
        self._exchange = await channel.declare_exchange(self.prefix, aio_pika.ExchangeType.DIRECT, durable=True)
        for topic in topics:
            await self._declare(channel, topic)

    async def _declare(self, channel: AbstractChannel, topic: str) -> aio_pika.abc.AbstractQueue:
        queue = await channel.declare_queue(f"{self.prefix}.{topic}", durable=True,
                                            arguments={"x-queue-type": "quorum"})
        await queue.bind(self.prefix, routing_key=topic)
        return queue

    async def send(self, items: Sequence[tuple[str, int]]) -> None:
        """Publish and wait for every confirm; an unroutable or nacked message raises."""
        assert self._exchange is not None, "connect() first"
        exchange = self._exchange
        await asyncio.gather(*(
            exchange.publish(aio_pika.Message(str(row_id).encode(), message_id=str(row_id),
                                              delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                             routing_key=topic, mandatory=True)
            for topic, row_id in items))

    async def consume(self, topics: Sequence[str], prefetch: int) -> AsyncIterator[Incoming]:
        """Deliveries from the topics' queues, at most ``prefetch`` unacknowledged."""
        assert self._conn is not None, "connect() first"
        channel = await self._conn.channel()
        await channel.set_qos(prefetch_count=prefetch)
        inbox: asyncio.Queue[Incoming] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await inbox.put(Incoming(int(message.body), message.ack))

        try:
            for topic in topics:
                queue = await self._declare(channel, topic)
                await queue.consume(on_message, no_ack=False)
            while True:
                yield await inbox.get()
        finally:
            await channel.close()

    async def close(self) -> None:
        """Disconnect; unacknowledged deliveries go back to their queues."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
