"""Scheduled and manual starts: flows whose trigger is a cron ``schedule`` or ``manual: true``.

A start is an envelope like any other, made by the hub (source ``hub``): type ``schedule.<flow id>`` with
the fire time as its native id, or ``manual.<flow id>`` with the key the person gave. The inbox stores each
once, so among many workers each fire time starts one run, however many of them see it due, with no lock.

Per scheduled flow a row in ``watermarks`` (``schedule:<flow id>``) keeps when the hub first saw the
schedule: a new flow does not fire for times before it existed. After downtime only the latest missed
time fires (a nightly reconciliation runs once, not once per night missed); the skipped ones are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select

from huiliu.bus import Envelope
from huiliu.errors import ConfigError, NotFound
from huiliu.flows import Flow
from huiliu.i18n import t
from huiliu.service.handlers import Parts, store_and_start
from huiliu.store.schema import watermarks
from huiliu.store.statements import insert_if_absent

__all__ = ["SOURCE", "Fired", "Scheduler", "previous_fire", "start_manually"]

log = logging.getLogger("huiliu.scheduler")

SOURCE = "hub"
"""The source of the envelopes the hub makes itself."""


def previous_fire(flow: Flow, now: datetime) -> datetime:
    """The latest time at or before ``now`` the flow's schedule fires (tz-aware, in its time zone)."""
    assert flow.trigger.schedule is not None
    local = now.astimezone(ZoneInfo(flow.trigger.timezone))
    fire = croniter(flow.trigger.schedule, local).get_prev(datetime)
    if croniter.match(flow.trigger.schedule, local.replace(second=0, microsecond=0)):
        fire = local.replace(second=0, microsecond=0)  # croniter's get_prev skips a fire at ``now`` itself
    return fire


@dataclass(frozen=True, slots=True)
class Fired:
    """A scheduled start: the flow, the fire time, and whether it started a run (``False``: another
    worker stored this fire first).
    """  # noqa: D205

    flow_id: str
    fire_at: datetime
    started: bool


class Scheduler:
    """Starts scheduled flows when their time comes; run it in every worker (the inbox keeps it once).

    Args:
        parts: the hub's handler parts (database, inbox, runs …).
        flows: the flows in force (called at every tick, so a reload is seen).
        interval: seconds between ticks; a fire starts at most this late.
    """

    def __init__(self, parts: Parts, flows: Callable[[], Sequence[Flow]], *, interval: float = 1.0) -> None:
        self.p = parts
        self.flows = flows
        self.interval = interval
        self._since: dict[str, datetime] = {}
        self._last: dict[str, datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a failed tick is logged and tried again."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the database went away: the next tick tries again; a fire is only late
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Start every scheduled flow whose latest fire time has come and has not started yet."""
        now = now or self.p.clock.now()
        fired: list[Fired] = []
        for flow in self.flows():
            if flow.trigger.schedule is None:
                continue
            fire = previous_fire(flow, now)
            if fire <= self._first_seen(flow, now) or self._last.get(flow.id) == fire:
                continue
            fired.append(Fired(flow.id, fire, self._start(flow, fire, now)))
            self._last[flow.id] = fire
        return fired

    def _first_seen(self, flow: Flow, now: datetime) -> datetime:
        """When the hub first saw this flow's schedule (kept in ``watermarks``)."""
        seen = self._since.get(flow.id)
        if seen is None:
            name = f"schedule:{flow.id}"
            with self.p.db.begin() as conn:
                insert_if_absent(conn, watermarks, {"name": name, "value": now.isoformat(), "updated_at": now,
                                                    "lease_owner": None, "lease_until": None})
                seen = datetime.fromisoformat(conn.execute(select(watermarks.c.value).where(
                    watermarks.c.name == name)).scalar_one())
            self._since[flow.id] = seen
        return seen

    def _start(self, flow: Flow, fire: datetime, now: datetime) -> bool:
        stamp = fire.isoformat()
        payload = {"document": {"fire_at": stamp, "schedule": flow.trigger.schedule,
                                "timezone": flow.trigger.timezone}}
        envelope = Envelope(source=SOURCE, type=flow.trigger.events[0], native_id=stamp, version="fired",
                            business_key=f"{flow.id}@{stamp}", payload=payload, occurred_at=fire)
        with self.p.db.begin() as conn:
            started = store_and_start(self.p, [flow], conn, envelope, now.isoformat())
            if started:
                self.p.eventlog.record(conn, case_id=envelope.business_key, activity="schedule.fired",
                                       system=SOURCE, detail={"flow": flow.id, "fire_at": stamp,
                                                              "late_s": round((now - fire).total_seconds(), 3)})
        if started:
            log.info("scheduled flow %s started for %s", flow.id, stamp)
        return started


def start_manually(parts: Parts, flows: Sequence[Flow], flow_id: str, *, key: str | None = None,
                   inputs: Mapping[str, Any] | None = None, actor: str = "cli") -> tuple[str, bool]:
    """Start a ``manual: true`` flow with ``inputs`` (its ``form``); returns the business key and whether it
    started (``False``: this key was started before — a start is applied once per key).

    Raises:
        NotFound: no such flow.
        ConfigError: the flow is not started by hand.
    """  # noqa: D205
    flow = next((f for f in flows if f.id == flow_id), None)
    if flow is None or not flow.trigger.manual:
        manual = sorted(f.id for f in flows if f.trigger.manual)
        fix = t(f"可手动启动的流程：{', '.join(manual) or '（无）'}；这样的流程的 trigger 写 manual: true",
                f"flows started by hand: {', '.join(manual) or '(none)'}; such a flow's trigger says manual: true")
        if flow is None:
            raise NotFound(t(f"流程 {flow_id} 不存在", f"no flow {flow_id}"), where="flow_id", fix=fix)
        raise ConfigError(t(f"流程 {flow_id} 不是手动触发的", f"flow {flow_id} is not started by hand"),
                          where=f"{flow.source}: trigger", fix=fix)
    native = key or uuid.uuid4().hex
    now = parts.clock.now()
    envelope = Envelope(source=SOURCE, type=flow.trigger.events[0], native_id=native, version="started",
                        business_key=f"{flow.id}@{native}", payload={"document": dict(inputs or {}), "actor": actor},
                        occurred_at=now)
    with parts.db.begin() as conn:
        started = store_and_start(parts, [flow], conn, envelope, now.isoformat())
        if started:
            parts.eventlog.record(conn, case_id=envelope.business_key, activity="manual.started", system=SOURCE,
                                  detail={"flow": flow.id, "actor": actor})
    return envelope.business_key, started
