"""The services under the hub restart in the middle of a run — PostgreSQL drops every connection,
RabbitMQ and NATS restart — and every approval is still done once; nothing is restarted by hand."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest

from backends import NATS_URL, PG_DSN, RABBIT_URL, nats_available, nats_cleanup, rabbit_available, rabbit_cleanup
from huiliu.bus import reference_for
from huiliu.bus.transports import NatsLink
from huiliu.cli.demo import DemoStack

pytestmark = pytest.mark.slow


def _assert_each_once(stack: DemoStack, instances: list[str]) -> None:
    assert stack.kd.count() == len(instances)
    for instance_id in instances:
        [voucher] = stack.kd.find_by_reference(reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher"))
        assert voucher.status == "C"
        remarks = [r for r in stack.ding.instances[instance_id].records if r["type"] == "ADD_REMARK"]
        assert len(remarks) == 1


async def _run_through(stack: DemoStack, disrupt: Callable[[], None], *, claims: int = 40) -> list[str]:
    instances = []
    for i in range(claims):
        instances.append(stack.submit(stack.company.claim(approve_rate=1.0)))
        if i == claims // 3:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(disrupt)
    assert await stack.settle(expected_runs=claims, timeout=120)
    return instances


async def test_postgres_connections_terminated_mid_run(make_stack: Callable[..., DemoStack],
                                                       database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    def terminate() -> None:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            for _ in range(3):
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = 'test' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
                time.sleep(0.3)

    async with make_stack() as stack:
        instances = await _run_through(stack, terminate)
        _assert_each_once(stack, instances)


async def test_rabbitmq_restarted_mid_run(make_stack: Callable[..., DemoStack], database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("one database is enough here")
    await rabbit_available()
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl not installed")
    prefix = f"hl-restart-{uuid.uuid4().hex[:8]}"

    def restart() -> None:
        subprocess.run([ctl, "stop_app"], check=True, capture_output=True, timeout=60)
        time.sleep(1)
        subprocess.run([ctl, "start_app"], check=True, capture_output=True, timeout=60)

    settings = {"transport": "rabbitmq", "broker_url": RABBIT_URL, "broker_prefix": prefix}
    try:
        async with make_stack(settings=settings) as stack:
            instances = await _run_through(stack, restart)
            _assert_each_once(stack, instances)
    finally:
        await rabbit_cleanup(prefix, ["effect", "flow.run", "oa.event"])


NATS_START = ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server", "--",
              "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log"]


async def test_nats_restarted_mid_run(make_stack: Callable[..., DemoStack], database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("one database is enough here")
    await nats_available()
    if shutil.which("start-stop-daemon") is None or shutil.which("pkill") is None:
        pytest.skip("cannot restart nats-server here")
    prefix = f"hl-restart-{uuid.uuid4().hex[:8]}"

    def restart() -> None:
        subprocess.run(["pkill", "-TERM", "-x", "nats-server"], check=False, timeout=10)
        for _ in range(50):
            if subprocess.run(["pgrep", "-x", "nats-server"], capture_output=True, check=False).returncode:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        subprocess.run(NATS_START, check=True, capture_output=True, timeout=30)

    settings = {"transport": "nats", "broker_url": NATS_URL, "broker_prefix": prefix}
    try:
        async with make_stack(settings=settings) as stack:
            instances = await _run_through(stack, restart)
            _assert_each_once(stack, instances)
    finally:
        for _ in range(50):  # make sure the server is back for whatever runs next
            try:
                await nats_available()
                break
            except BaseException:
                await asyncio.sleep(0.2)
        await nats_cleanup(NatsLink("", prefix=prefix).stream)
