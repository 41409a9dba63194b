"""Delivery: envelopes, the inbox, the outbox, retries, dead letters, the event log, and transports.

Owns "nothing lost, nothing twice" up to the connector call: a message is removed only in the same
transaction that records its result (a fenced ack), a failure is retried by policy or dead-lettered
with its reason, and a duplicate envelope is dropped at the inbox. Does not own what a message means —
the service's handlers do.
"""

from huiliu.bus.deadletters import DeadLetter, DeadLetterFilter, DeadLetters
from huiliu.bus.diagnosis import diagnose
from huiliu.bus.envelope import Envelope
from huiliu.bus.eventlog import EventLog
from huiliu.bus.inbox import Inbox
from huiliu.bus.outbox import Outbox, OutboxEntry, reference_for
from huiliu.bus.retry import RetryPolicy
from huiliu.bus.transport import Delivery, LeaseLost, Transport
from huiliu.bus.transports.db import DbTransport

__all__ = [
    "DbTransport",
    "DeadLetter",
    "DeadLetterFilter",
    "DeadLetters",
    "Delivery",
    "Envelope",
    "EventLog",
    "Inbox",
    "LeaseLost",
    "Outbox",
    "OutboxEntry",
    "RetryPolicy",
    "Transport",
    "diagnose",
    "reference_for",
]
