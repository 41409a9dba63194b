"""The transport contract: publish, claim with a lease, and settle (ack, retry later, dead-letter).

The database transport publishes inside the caller's transaction, so a message and the state that
caused it commit together. Settling is fenced: an ack from a worker whose lease was taken over (it was
paused or cut off) is refused with :class:`LeaseLost`, and the caller's transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

__all__ = ["Delivery", "LeaseLost", "Transport"]


class LeaseLost(Exception):
    """The lease on a message expired and another worker took it; this worker's result is refused."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed message.

    Attributes:
        attempts: this is attempt number ``attempts`` (1 on the first delivery).
        lease_owner: who holds the lease; with ``attempts`` it fences late settlement.
    """

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    attempts: int
    lease_owner: str
    attempt_log: list[dict[str, Any]]


class Transport(Protocol):
    """Moves messages between the hub's handlers.

    Publishing writes a row into the hub's database in the caller's transaction (the transactional
    outbox), whatever carries it afterwards; a message is removed only by a fenced ack in the
    transaction that records its result.
    """

    async def start(self) -> None:
        """Connect (to a broker, where there is one) and start any background relay."""

    async def close(self) -> None:
        """Stop background work and disconnect."""

    def publish(self, conn: Connection, topic: str, key: str, payload: dict[str, Any], *,
                dedupe_key: str | None = None, delay: float = 0.0) -> bool:
        """Queue a message in the caller's transaction; ``False`` when ``dedupe_key`` is already queued."""

    async def receive(self, topics: Sequence[str], owner: str, limit: int, lease: float) -> list[Delivery]:
        """Up to ``limit`` messages, each claimed under a lease of ``lease`` seconds."""

    async def idle(self, seconds: float) -> None:
        """Wait until there may be new work, or ``seconds``."""

    def ack(self, conn: Connection, delivery: Delivery) -> None:
        """Remove the message in the caller's transaction; raise :class:`LeaseLost` if fenced."""

    def retry_later(self, delivery: Delivery, delay: float, error: str) -> None:
        """Release the message to be tried again after ``delay`` seconds."""

    def dead_letter(self, conn: Connection, delivery: Delivery, reason: str, error: str, *,
                    detail: Mapping[str, Any] | None = None) -> None:
        """Move the message to the dead letters with its reason, last error, attempt log and ``detail``
        (what :func:`huiliu.bus.diagnosis.diagnose` says about the error).
        """  # noqa: D205

    def pending(self) -> int:
        """Messages not yet settled."""
