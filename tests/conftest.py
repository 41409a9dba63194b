"""Shared fixtures: a migrated database per test on each backend, a fake clock, the whole loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends import BACKENDS, postgres_schema
from huiliu.cli.demo import DemoStack
from huiliu.service import RetrySettings, Settings
from huiliu.store import Database
from huiliu.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite-specific")
    with postgres_schema() as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: a fresh database, quick retries, short leases, an ephemeral port."""
    values: dict[str, Any] = {
        "database_url": database_url, "port": 0, "lease_seconds": 5.0, "poll_interval": 0.05,
        "retry": RetrySettings(initial_interval=0.05, multiplier=2, max_interval=0.5, max_attempts=6, jitter=0),
        "schedules": False,  # a shipped nightly template must not fire in a test that runs at 01:30 Beijing time
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_stack(database_url: str) -> Callable[..., DemoStack]:
    def factory(**kwargs: Any) -> DemoStack:
        overrides = kwargs.pop("settings", {})
        # tests drop connections on purpose: a short settle wait keeps them quick (production: 60 s)
        kwargs["kingdee_settings"] = {"ambiguous_wait": 0.5, **kwargs.get("kingdee_settings", {})}
        return DemoStack(fast_settings(overrides.pop("database_url", database_url), **overrides), **kwargs)

    return factory
