"""End-to-end fixtures: the whole loop with real HTTP on 127.0.0.1 between hub and sandboxes, on each
database backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from huiliu.cli.demo import DemoStack
from huiliu.service import RetrySettings, Settings


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: a fresh database, quick retries, short leases, an ephemeral port."""
    values: dict[str, Any] = {
        "database_url": database_url, "port": 0, "lease_seconds": 5.0, "poll_interval": 0.05,
        "retry": RetrySettings(initial_interval=0.05, multiplier=2, max_interval=0.5, max_attempts=6, jitter=0),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_stack(database_url: str) -> Callable[..., DemoStack]:
    def factory(**kwargs: Any) -> DemoStack:
        overrides = kwargs.pop("settings", {})
        return DemoStack(fast_settings(database_url, **overrides), **kwargs)

    return factory
