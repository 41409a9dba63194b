"""Scheduled and manual triggers: a cron schedule in Beijing time starts each fire once (however many
workers see it due), never for times before the flow existed, only the latest after downtime; a manual
flow starts from the CLI or the API with its input, once per key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from huiliu.cli.demo import DemoStack
from huiliu.errors import ConfigError, NotFound
from huiliu.service.scheduler import Scheduler
from huiliu.store import loads
from huiliu.store.schema import runs, watermarks

NIGHTLY = """\
id: nightly
version: "1"
title: 每晚 02:00（北京时间）
trigger: {schedule: "0 2 * * *"}
steps:
  - id: day
    map: {fire_at: "{{ form.fire_at }}", day: "{{ form.fire_at | local_date }}", tz: "{{ form.timezone }}"}
"""
MONTHLY = """\
id: month-end
version: "1"
title: 手动月结检查
trigger: {manual: true}
steps:
  - id: check
    map: {month: "{{ form['月份'] }}", key: "{{ event.business_key }}"}
"""
BJ = timedelta(hours=8)


def flows_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "nightly.yaml").write_text(NIGHTLY, encoding="utf-8")
    (directory / "monthly.yaml").write_text(MONTHLY, encoding="utf-8")
    return directory


def contexts(stack: DemoStack, flow_id: str) -> list[dict[str, Any]]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        rows = conn.execute(select(runs.c.context, runs.c.status).where(runs.c.flow_id == flow_id)
                            .order_by(runs.c.started_at)).all()
    assert all(r.status == "succeeded" for r in rows)
    return [loads(r.context) for r in rows]


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - BJ  # a Beijing wall-clock time, as UTC


async def test_a_schedule_fires_once_per_time_in_beijing_time_and_never_before_it_existed(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(worker=False, settings={"flows_dir": flows_dir(tmp_path)}) as stack:
        hub = stack.hub
        assert hub is not None
        one, two = hub.scheduler(), hub.scheduler()  # two workers
        assert one.tick(beijing("2026-11-25T10:00:00")) == []  # first seen: yesterday's 02:00 is not owed
        assert one.tick(beijing("2026-11-26T01:59:59")) == []
        [fired] = one.tick(beijing("2026-11-26T02:00:00"))
        assert fired.started and fired.fire_at.isoformat() == "2026-11-26T02:00:00+08:00"
        assert fired.fire_at.astimezone(UTC).isoformat() == "2026-11-25T18:00:00+00:00"
        assert one.tick(beijing("2026-11-26T02:00:40")) == []  # the same fire, seen again by the same worker
        [other] = two.tick(beijing("2026-11-26T02:00:41"))  # … and by another: the inbox keeps it once
        assert not other.started
        [late] = one.tick(beijing("2026-11-29T09:30:00"))  # down for three nights: the latest one runs
        assert late.started and late.fire_at.isoformat() == "2026-11-29T02:00:00+08:00"
        await stack.settle(expected_runs=2, timeout=30)
        [first, last] = contexts(stack, "nightly")
        assert first["steps"]["day"] == {"fire_at": "2026-11-26T02:00:00+08:00", "day": "2026-11-26",
                                         "tz": "Asia/Shanghai"}
        assert last["steps"]["day"]["day"] == "2026-11-29"
        assert first["event"]["business_key"] == "nightly@2026-11-26T02:00:00+08:00"
        fresh = Scheduler(hub.parts(), lambda: hub.flows)  # a worker started later keeps the first-seen time
        assert fresh.tick(beijing("2026-11-29T09:31:00"))[0].started is False


async def test_the_worker_runs_the_scheduler(make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    directory = flows_dir(tmp_path)
    (directory / "nightly.yaml").write_text(NIGHTLY.replace("0 2 * * *", "* * * * *"), encoding="utf-8")
    async with make_stack(worker=False, settings={"flows_dir": directory, "schedule_interval": 0.05,
                                                         "schedules": True}) as stack:
        assert stack.hub is not None
        with stack.hub.db.begin() as conn:  # the flow has existed for a while: this minute's fire is owed
            conn.execute(watermarks.insert().values(name="schedule:nightly", value="2026-01-01T00:00:00+00:00",
                                                    updated_at=datetime.now(UTC)))
        stop = asyncio.Event()
        work = asyncio.create_task(stack.hub.work(stop))  # what `huiliu worker` runs
        try:
            assert await stack.settle(expected_runs=1, timeout=30)
        finally:
            stop.set()
            await work
        [context] = contexts(stack, "nightly")
        assert context["event"]["type"] == "schedule.nightly" and context["event"]["source"] == "hub"


async def test_a_manual_flow_starts_once_per_key_from_the_api_and_the_hub(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(settings={"flows_dir": flows_dir(tmp_path)}) as stack:
        hub = stack.hub
        assert hub is not None
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers()) as http:
            body = {"key": "2026-11", "input": {"月份": "2026年11月"}}
            async with http.post(f"{base}/flows/month-end/start", json=body) as resp:
                assert resp.status == 200
                assert await resp.json() == {"business_key": "month-end@2026-11", "started": True}
            async with http.post(f"{base}/flows/month-end/start", json=body) as resp:
                assert (await resp.json())["started"] is False  # the same key: started once
            async with http.post(f"{base}/flows/nope/start", json={}) as resp:
                assert resp.status == 404 and "month-end" in (await resp.json())["message"]
            async with http.post(f"{base}/flows/nightly/start", json={}) as resp:
                assert resp.status == 400 and "manual: true" in (await resp.json())["message_en"]
            async with http.post(f"{base}/flows/month-end/start", json={"key": "has space"}) as resp:
                assert resp.status == 422
            async with http.post(f"{base}/flows/month-end/start", json={"inputs": {}}) as resp:
                assert resp.status == 422  # a misspelt field is refused, not ignored
        key, started = hub.start_flow("month-end", inputs={"月份": "2026年12月"})
        assert started and key.startswith("month-end@")
        assert await stack.settle(expected_runs=2, timeout=30)
        checks = [c["steps"]["check"] for c in contexts(stack, "month-end")]
        assert checks == [{"month": "2026年11月", "key": "month-end@2026-11"}, {"month": "2026年12月", "key": key}]
        with pytest.raises(NotFound):
            hub.start_flow("nope")
        with pytest.raises(ConfigError):
            hub.start_flow("nightly")
