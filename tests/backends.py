"""The database backends every store and bus test runs against: SQLite, and the real PostgreSQL.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth, database ``test``). Each test gets a schema of its
own, dropped afterwards. Without the server the PostgreSQL cases are skipped and say so; with
``CI=true`` they fail instead, since CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
BACKENDS = ["sqlite", "postgresql"]


def _unavailable(what: str) -> None:
    message = f"{what} — start it with scripts/services"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL; yields a SQLAlchemy URL whose search path is that schema."""
    name = f"hl_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:  # not held open: tests may kill backends
            admin.execute(f'CREATE SCHEMA "{name}"')
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc.__class__.__name__})")
        raise  # unreachable: skip/fail raise
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')


RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def rabbit_available() -> None:
    """Skip (or fail in CI) when RabbitMQ does not answer."""
    import asyncio

    import aio_pika

    try:
        conn = await asyncio.wait_for(aio_pika.connect(RABBIT_URL), 5)
    except Exception as exc:
        _unavailable(f"RabbitMQ is not reachable at 127.0.0.1:5672 ({exc.__class__.__name__})")
    else:
        await conn.close()


async def rabbit_cleanup(prefix: str, topics: list[str]) -> None:
    """Delete a test's exchange and queues."""
    import aio_pika

    conn = await aio_pika.connect(RABBIT_URL)
    async with conn:
        channel = await conn.channel()
        for topic in topics:
            await channel.queue_delete(f"{prefix}.{topic}")
        await channel.exchange_delete(prefix)


NATS_URL = "nats://127.0.0.1:4222"


async def nats_available() -> None:
    """Skip (or fail in CI) when NATS does not answer."""
    import nats

    try:
        nc = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False)
    except Exception as exc:
        _unavailable(f"NATS is not reachable at 127.0.0.1:4222 ({exc.__class__.__name__})")
    else:
        await nc.close()


async def nats_cleanup(stream: str) -> None:
    """Delete a test's stream."""
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:
        pass
    finally:
        await nc.close()
