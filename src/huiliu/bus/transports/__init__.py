"""Transport implementations, one module each with the same shape.

``db`` (the database is the queue: SQLite, or PostgreSQL with ``SKIP LOCKED``); ``relay`` (the database
stays the outbox and the judge, a broker spreads the work) with its broker links ``rabbitmq`` and
``nats``.
"""

from huiliu.bus.transports.db import DbTransport
from huiliu.bus.transports.nats import NatsLink
from huiliu.bus.transports.rabbitmq import RabbitLink
from huiliu.bus.transports.relay import BrokerLink, Incoming, RelayedTransport

__all__ = ["BrokerLink", "DbTransport", "Incoming", "NatsLink", "RabbitLink", "RelayedTransport"]
