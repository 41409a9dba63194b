"""Retry policy: exponential backoff with full jitter, a cap, and a maximum number of attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from huiliu.errors import AmbiguousOutcome, HuiliuError, RateLimited

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again.

    Attributes:
        initial_interval: seconds before the second attempt (before jitter).
        multiplier: growth factor per attempt.
        max_interval: cap on one wait, in seconds.
        max_attempts: attempts in all, the first included; then the message is dead-lettered.
        jitter: fraction of the delay drawn at random (0 = none, 1 = full jitter), so that many
            workers failing together do not retry together.
        non_retryable: error kinds (``HuiliuError.kind``, e.g. ``rate_limited``) dead-lettered at once,
            on top of the errors that are never retried (business rejections, mapping errors).
    """

    initial_interval: float = 0.5
    multiplier: float = 2.0
    max_interval: float = 60.0
    max_attempts: int = 8
    jitter: float = 0.5
    non_retryable: frozenset[str] = frozenset()
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.initial_interval <= 0 or self.max_interval < self.initial_interval:
            raise ValueError("retry policy: need 0 < initial_interval <= max_interval")
        if self.multiplier < 1:
            raise ValueError("retry policy: multiplier must be >= 1")
        if self.max_attempts < 1:
            raise ValueError("retry policy: max_attempts must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("retry policy: jitter must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_interval, self.initial_interval * self.multiplier ** (attempt - 1))
        return base * (1 - self.jitter) + base * self.jitter * self._rng.random()

    def next_delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds until the next attempt, or ``None`` when the message should be dead-lettered.

        Non-retryable errors (``retryable`` False) are dead-lettered at once. A vendor's Retry-After
        is honoured, and so is an ambiguous create's settle time: the wait is never shorter.
        """
        if isinstance(error, HuiliuError):
            retryable = error.retryable and error.kind not in self.non_retryable
        else:
            retryable = "internal_error" not in self.non_retryable
        if not retryable or attempt >= self.max_attempts:
            return None
        delay = self.backoff(attempt)
        if isinstance(error, RateLimited | AmbiguousOutcome) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay
