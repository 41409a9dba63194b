"""DingTalk Stream mode: the hub opens the connection (no public URL), stores each event before it
acknowledges it, answers pings, and reconnects after DingTalk says disconnect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
from sqlalchemy import func, select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.connectors.dingtalk import DingTalkSettings, StreamReceiver
from huiliu.connectors.http import HttpClient
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.dingtalk import DingTalkSandbox
from huiliu.store.schema import event_log


async def test_approvals_arrive_over_stream_once_each_across_a_disconnect(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=13, ding_stream=True) as stack:
        for _ in range(50):
            if stack.ding.stream_connections:
                break
            await asyncio.sleep(0.05)
        assert stack.ding.stream_connections == 1 and stack.ding.callback_url is None
        first = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(6)]
        assert await stack.settle(expected_runs=6, timeout=30)
        await stack.ding.stream_ping()
        for _ in range(100):
            if stack.ding.stream_acks_of_system:
                break
            await asyncio.sleep(0.02)
        assert stack.ding.stream_acks_of_system == 1  # the ping was answered
        await stack.ding.stream_disconnect()  # DingTalk redeploys: the hub must connect again by itself
        for _ in range(100):
            if stack.ding.stream_connections:
                break
            await asyncio.sleep(0.05)
        assert stack.ding.stream_connections == 1
        second = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(6)]
        assert await stack.settle(expected_runs=12, timeout=30)
        # every event (instance and task changes, 4 per approval) delivered and acknowledged once stored
        assert stack.ding.stats.delivered == len(stack.ding.events) == 48 and stack.ding.stats.gave_up == 0
        assert stack.kd.count() == 12
        for instance_id in first + second:
            assert len(stack.kd.find_by_reference(
                reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher"))) == 1
        assert stack.hub is not None
        with stack.hub.db.read() as conn:
            received = conn.execute(select(func.count()).select_from(event_log).where(
                event_log.c.activity == "callback.received")).scalar_one()
        assert received == 24


async def test_the_stream_gateway_refuses_a_wrong_secret_and_a_reused_ticket(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        url = stack.hub_settings().dingtalk.base_url if stack.hub_settings().dingtalk else ""
        async with aiohttp.ClientSession() as session:
            body = {"clientId": stack.app_key, "clientSecret": "wrong", "subscriptions": [{"type": "EVENT",
                                                                                           "topic": "*"}]}
            async with session.post(f"{url}/v1.0/gateway/connections/open", json=body) as resp:
                assert resp.status == 401
                assert (await resp.json())["code"] == "InvalidAuthentication"
            assert stack.hub is not None and stack.hub.settings.dingtalk is not None
            secret = stack.hub.settings.dingtalk.app_secret.get_secret_value()
            async with session.post(f"{url}/v1.0/gateway/connections/open",
                                    json={**body, "clientSecret": secret}) as resp:
                opened = await resp.json()
            async with session.ws_connect(f"{opened['endpoint']}?ticket={opened['ticket']}") as ws:
                await ws.send_str(json.dumps({"code": 200, "headers": {"messageId": "nope"}}))
            async with session.get(f"{opened['endpoint'].replace('ws://', 'http://')}",
                                   params={"ticket": opened["ticket"]}) as resp:
                assert resp.status == 401  # one connection per ticket


async def test_an_event_not_stored_is_not_acknowledged_and_comes_again() -> None:
    company = make_company(3)
    sandbox = DingTalkSandbox(app_key="dingstream", app_secret="s3cret", corp_id="dc",
                              callback_token="tok", aes_key="a" * 43, company=company,
                              ack_timeout=0.2, retry_schedule=(0.1, 0.1, 0.1))
    sandbox.enable_stream()
    seen: list[str] = []

    async def flaky_store(event: dict[str, object]) -> None:
        seen.append(str(event["processInstanceId"]))
        if len(seen) == 1:
            raise OSError("disk full")  # the first delivery cannot be stored

    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        await sandbox.start_delivery()
        settings = DingTalkSettings(base_url=srv.url, app_key="dingstream", app_secret="s3cret",
                                    corp_id="dc", callback_token="tok", aes_key="a" * 43,
                                    writeback_user_id="u", delivery="stream")
        receiver = StreamReceiver(settings, HttpClient("dingtalk", session, timeout=2.0), session, flaky_store)
        stop = asyncio.Event()
        task = asyncio.create_task(receiver.run(stop))
        instance_id = sandbox.start_claim(company.claim())  # one bpms_instance_change start event
        assert await sandbox.wait_delivered(timeout=5)
        stop.set()
        await task
        await sandbox.stop_delivery()
    instance_events = [s for s in seen if s == instance_id]
    assert len(instance_events) >= 2  # refused once (not acknowledged), then delivered again
    assert sandbox.stats.failed_attempts >= 1 and sandbox.stats.gave_up == 0
