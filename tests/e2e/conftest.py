"""End-to-end fixtures: the whole loop with real HTTP on 127.0.0.1 between hub and sandboxes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from huiliu.cli.demo import DemoStack
from huiliu.service import RetrySettings, Settings


def fast_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for tests: a fresh SQLite file, quick retries, short leases, an ephemeral port."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'hub.db'}", "port": 0, "lease_seconds": 5.0,
        "poll_interval": 0.05,
        "retry": RetrySettings(initial_interval=0.05, multiplier=2, max_interval=0.5, max_attempts=6, jitter=0),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_stack(tmp_path: Path) -> Callable[..., DemoStack]:
    def factory(**kwargs: Any) -> DemoStack:
        overrides = kwargs.pop("settings", {})
        return DemoStack(fast_settings(tmp_path, **overrides), **kwargs)

    return factory
