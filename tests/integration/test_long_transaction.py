"""A transaction left open on the queue's PostgreSQL database raises an alarm; work goes on (row 12)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import psycopg
import pytest

from backends import PG_DSN
from huiliu.cli.demo import DemoStack


async def test_long_idle_transaction_is_an_alarm_and_nothing_is_lost(make_stack: Callable[..., DemoStack],
                                                                     database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has one writer and no such view")
    async with make_stack(settings={"long_transaction_alarm": 0.5}) as stack:
        base = f"http://127.0.0.1:{stack.port}/api/health"
        with psycopg.connect(PG_DSN) as idle:  # not autocommit: the SELECT opens a transaction left idle
            idle.execute("SELECT 1")
            pid = idle.info.backend_pid
            await asyncio.sleep(0.8)
            async with aiohttp.ClientSession(headers=stack.api_headers("viewer")) as http, http.get(base) as resp:
                health = await resp.json()
            assert health["status"] == "degraded"
            [alarm] = [a for a in health["alarms"] if a["pid"] == pid]
            assert alarm["kind"] == "long_transaction"
            assert alarm["state"] == "idle in transaction"
            assert alarm["seconds"] >= 0.5
            stack.submit(stack.company.claim(approve_rate=1.0))  # work goes on meanwhile
            assert await stack.settle(expected_runs=1, timeout=30)
            assert stack.kd.count() == 1
            idle.rollback()
        async with aiohttp.ClientSession(headers=stack.api_headers("viewer")) as http, http.get(base) as resp:
            health = await resp.json()
        assert all(a["pid"] != pid for a in health["alarms"])
