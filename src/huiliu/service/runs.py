"""Runs: start a flow for an envelope, advance it through pure steps, and hand its effects to the outbox.

A run's context, its finished steps, and the next effect's outbox row and message are written in one
transaction (DESIGN.md, invariant 4).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from huiliu.bus import DbTransport, EventLog, Outbox
from huiliu.crosswalk import MasterData
from huiliu.errors import HuiliuError, ProcessingError
from huiliu.flows import Flow, advance
from huiliu.i18n import Lang, t
from huiliu.model import Clock
from huiliu.store import dumps, loads
from huiliu.store.schema import run_steps, runs

__all__ = ["EFFECT_TOPIC", "RUN_TOPIC", "RunStore"]

RUN_TOPIC = "flow.run"
EFFECT_TOPIC = "effect"
_NAMESPACE = uuid.UUID("3d0c9b7a-58e1-4f2a-8c6d-7b1e0a9f4c25")


class RunStore:
    """Creates and advances runs inside the caller's transaction."""

    def __init__(self, *, flows: Mapping[str, Flow], transport: DbTransport, outbox: Outbox,
                 eventlog: EventLog, masterdata: MasterData, clock: Clock) -> None:
        self.flows = flows
        self.transport = transport
        self.outbox = outbox
        self.eventlog = eventlog
        self.masterdata = masterdata
        self.clock = clock

    def start(self, conn: Connection, flow: Flow, *, envelope_id: str, business_key: str,
              context: dict[str, Any]) -> str:
        """Create the run of ``flow`` for an envelope (once) and advance it."""
        run_id = str(uuid.uuid5(_NAMESPACE, f"{flow.id}\x1f{envelope_id}"))
        now = self.clock.now()
        conn.execute(insert(runs).values(
            id=run_id, flow_id=flow.id, flow_version=flow.version, envelope_id=envelope_id,
            business_key=business_key, status="running", context=dumps(context), started_at=now,
            updated_at=now))
        self.eventlog.record(conn, case_id=business_key, activity="run.started", system="hub", run_id=run_id,
                             detail={"flow": flow.id, "version": flow.version})
        self.advance(conn, run_id)
        return run_id

    def load(self, conn: Connection, run_id: str) -> tuple[Flow, dict[str, Any], Any]:
        """The run's flow, context and row."""
        row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        flow = self.flows.get(row.flow_id)
        if flow is None:
            raise ProcessingError(
                t(f"流程 {row.flow_id} 已不存在", f"flow {row.flow_id} no longer exists"),
                where=f"run {run_id}")
        return flow, loads(row.context), row

    def advance(self, conn: Connection, run_id: str) -> None:
        """Run pure steps until the next effect or the end; record what happened.

        A :class:`ProcessingError` (a mapping that fails, a voucher that does not balance) marks the run
        failed and dead-letters it with the reason, in this same transaction: nothing reaches the ERP.
        """
        flow, context, row = self.load(conn, run_id)
        try:
            step = advance(flow, context, lambda entity, system, key: self.masterdata.lookup(
                conn, entity, system, key))
        except ProcessingError as exc:
            self.fail(conn, run_id, row.business_key, exc, reason=exc.kind)
            return
        now = self.clock.now()
        for step_id, output in step.completed:
            conn.execute(insert(run_steps).values(run_id=run_id, step_id=step_id, status="succeeded",
                                                  output=dumps(output), started_at=now, finished_at=now))
        self.eventlog.record_many(conn, [
            {"case_id": row.business_key, "activity": f"step.{step_id}", "system": "hub", "run_id": run_id}
            for step_id, _ in step.completed])
        if step.effect is not None:
            key = f"{flow.id}:{row.business_key}:{step.effect.step_id}"
            entry_id = self.outbox.record(conn, idempotency_key=key, run_id=run_id,
                                          step_id=step.effect.step_id, action=step.effect.action,
                                          request=step.effect.request)
            self.transport.publish(conn, EFFECT_TOPIC, row.business_key, {"outbox_id": entry_id})
        values: dict[str, Any] = {"context": dumps(step.context), "updated_at": now}
        if step.done:
            values.update(status="succeeded", finished_at=now)
            received = context.get("event", {}).get("received_at")
            latency = None
            if received:
                latency = (now - datetime.fromisoformat(received)).total_seconds() * 1000
            self.eventlog.record(conn, case_id=row.business_key, activity="run.succeeded", system="hub",
                                 run_id=run_id, duration_ms=latency)
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def fail(self, conn: Connection, run_id: str, business_key: str, exc: BaseException, *,
             reason: str, bury: bool = True) -> None:
        """Mark the run failed; dead-letter it (replay re-drives it from where it stopped)."""
        text = exc.render(Lang.ZH) if isinstance(exc, HuiliuError) else f"{type(exc).__name__}: {exc}"
        now = self.clock.now()
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            status="failed", error=text, updated_at=now, finished_at=now))
        self.eventlog.record(conn, case_id=business_key, activity="run.failed", system="hub", run_id=run_id,
                             outcome="failed", detail={"reason": reason, "error": text})
        if bury:
            self.transport.bury(conn, topic=RUN_TOPIC, key=business_key, payload={"run_id": run_id},
                                reason=reason, error=text)

