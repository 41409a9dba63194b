"""Runs: start a flow for an envelope, advance it through pure steps, and hand its effects to the outbox.

A run's context, its finished steps, and the next effect's outbox row and message are written in one
transaction (DESIGN.md, invariant 4).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from huiliu.bus import DbTransport, Envelope, EventLog, Inbox, Outbox, diagnose, reference_for
from huiliu.crosswalk import MasterData
from huiliu.errors import ProcessingError, describe
from huiliu.flows import (
    Flow,
    Subflow,
    SubflowStep,
    Waiting,
    advance,
    compensating,
    complete,
    complete_compensation,
    matches,
    next_compensation,
    recover,
)
from huiliu.i18n import t
from huiliu.model import Clock
from huiliu.service.flowcatalog import FlowCatalog
from huiliu.store import dumps, loads
from huiliu.store.schema import dead_letters, inbox, outbox, run_steps, runs, waits

__all__ = ["EFFECT_TOPIC", "FLOW_FINISHED", "RUN_TOPIC", "Redrive", "Run", "RunStore", "initial_context"]

RUN_TOPIC = "flow.run"
EFFECT_TOPIC = "effect"
FLOW_FINISHED = "hub.flow.finished"
"""The event a run started by hand (or as a sub-flow) makes when it ends; a parent's ``subflow`` step waits
for it, keyed by the sub-flow's business key."""
_NAMESPACE = uuid.UUID("3d0c9b7a-58e1-4f2a-8c6d-7b1e0a9f4c25")
_INSERT_RUN = insert(runs)
_INSERT_STEP = insert(run_steps)
_SELECT_RUN = select(runs).where(runs.c.id == bindparam("r_id"))
_UPDATE_RUN = update(runs).where(runs.c.id == bindparam("r_id"))


def run_id_for(flow_id: str, envelope_id: str) -> str:
    """A run's id: one run per flow and envelope, the same id however often it is started."""
    return str(uuid.uuid5(_NAMESPACE, f"{flow_id}\x1f{envelope_id}"))


def initial_context(*, envelope_id: str, event_type: str, source: str, business_key: str,
                    payload: Mapping[str, Any], received_at: str | None) -> dict[str, Any]:
    """The context a run starts with: the event, the approval instance and its form, no steps yet.

    An ERP document's change (no approval instance) gives its values as ``form`` and ``instance`` holds
    its key, so ``form['金额']`` reads the same way whatever started the flow.
    """
    instance = payload.get("instance") or {"instance_id": business_key, "form": payload.get("document") or {}}
    return {
        "event": {"id": envelope_id, "type": event_type, "source": source, "business_key": business_key,
                  "received_at": received_at},
        "instance": instance, "form": instance.get("form") or {},
        "reference": instance.get("business_id") or business_key, "steps": {}, "cursor": 0,
    }


@dataclass
class Redrive:
    """What re-driving a flow over a time range did, per envelope."""

    started: list[str] = field(default_factory=list)
    """Runs started: envelopes the flow had no run for (a flow added or fixed since)."""
    resumed: list[str] = field(default_factory=list)
    """Failed runs sent on from where they stopped."""
    done: int = 0
    """Envelopes whose run had already succeeded: left alone."""
    running: int = 0
    """Envelopes whose run is still in flight: left alone."""
    not_matching: int = 0
    """Envelopes the flow's trigger condition does not select."""


@dataclass
class Run:
    """A run as loaded for one step: its flow, its business key and its current context."""

    id: str
    flow: Flow
    business_key: str
    context: dict[str, Any]
    envelope_id: str = ""
    status: str = "running"
    stored: bool = True
    """False until the run's row exists (a run being started)."""


def effect_key(run: Run, step_id: str) -> str:
    """The idempotency key of a run's call step: one per flow, business object and step.

    A second run of the same object (a re-sent event, a later version of an ERP row) reuses the first's
    effect, and the hub reference the ERP document carries (:func:`reference_for` of the key).
    """
    return f"{run.flow.id}:{run.business_key}:{step_id}"


class RunStore:
    """Creates and advances runs inside the caller's transaction."""

    def __init__(self, *, flows: FlowCatalog, transport: DbTransport, outbox: Outbox,
                 eventlog: EventLog, masterdata: MasterData, clock: Clock, inbox: Inbox | None = None) -> None:
        self.flows = flows
        self.inbox = inbox
        """Where sub-flow starts and finishes are stored; without it a ``subflow`` step fails."""
        self.transport = transport
        self.outbox = outbox
        self.eventlog = eventlog
        self.masterdata = masterdata
        self.clock = clock

    def start(self, conn: Connection, flow: Flow, *, envelope_id: str, business_key: str,
              context: dict[str, Any]) -> str:
        """Create the run of ``flow`` for an envelope and advance it; the run's id is deterministic."""
        run = Run(run_id_for(flow.id, envelope_id), flow, business_key, context,
                  envelope_id, stored=False)
        self.eventlog.record(conn, case_id=business_key, activity="run.started", system="hub", run_id=run.id,
                             detail={"flow": flow.id, "version": flow.version})
        self.advance(conn, run)
        return run.id

    def load(self, conn: Connection, run_id: str) -> Run:
        """Load a run with the flow version it started on (kept in the version history)."""
        row = conn.execute(_SELECT_RUN, {"r_id": run_id}).one()
        flow = self.flows.get(conn, row.flow_id, row.flow_digest)
        if flow is None:
            raise ProcessingError(
                t(f"流程 {row.flow_id} 已不存在", f"flow {row.flow_id} no longer exists"),
                where=f"run {run_id}",
                fix=t("恢复该流程文件后重放死信", "restore the flow file, then replay the dead letter"))
        return Run(row.id, flow, row.business_key, loads(row.context), row.envelope_id, row.status)

    def advance(self, conn: Connection, run: Run) -> None:
        """Run pure steps until the next effect or the end; record what happened.

        A :class:`ProcessingError` (a mapping that fails, a voucher that does not balance) marks the run
        failed and dead-letters it with the reason, in this same transaction: nothing reaches the ERP.
        """
        if compensating(run.context):  # replayed while undoing its calls: go on undoing
            self.compensate(conn, run)
            return
        try:
            step = advance(run.flow, run.context, lambda entity, system, key: self.lookup(conn, entity, system, key))
        except ProcessingError as exc:
            self._save(conn, run, run.context, status="running")
            self.failed(conn, run, None, exc, reason=exc.kind)
            return
        now = self.clock.now()
        if step.completed:
            conn.execute(_INSERT_STEP, [
                {"run_id": run.id, "step_id": step_id, "status": "succeeded", "output": dumps(output),
                 "error": None, "started_at": now, "finished_at": now} for step_id, output in step.completed])
            self.eventlog.record_many(conn, [
                {"case_id": run.business_key, "activity": f"step.{step_id}", "system": "hub", "run_id": run.id}
                for step_id, _ in step.completed])
        if step.effect is not None:
            key = effect_key(run, step.effect.step_id)
            entry_id = self.outbox.record(conn, idempotency_key=key, run_id=run.id, step_id=step.effect.step_id,
                                          action=step.effect.action, request=step.effect.request)
            earlier = self.outbox.get(conn, entry_id)
            if earlier is not None and earlier.run_id != run.id and earlier.status == "done":
                # This business object's step was done by an earlier run (a later version of the same ERP row,
                # a re-started flow): the document exists once; this run takes its result and goes on.
                self.eventlog.record(conn, case_id=run.business_key, activity=f"step.{step.effect.step_id}",
                                     system="hub", run_id=run.id, outcome="adopted",
                                     detail={"from_run": earlier.run_id})
                run.context = complete(run.flow, step.context, step.effect.step_id, earlier.result or {})
                self.advance(conn, run)
                return
            self.transport.publish(conn, EFFECT_TOPIC, run.business_key, {"outbox_id": entry_id, "run_id": run.id})
        if step.wait is not None:
            self._wait(conn, run, step.context, step.wait)
            return
        if step.subflow is not None:
            self._subflow(conn, run, step.context, step.subflow)
            return
        if not step.done:
            self._save(conn, run, step.context, status="running")
            return
        self._save(conn, run, step.context, status="succeeded", finished=True)
        received = run.context.get("event", {}).get("received_at")
        latency = (now - datetime.fromisoformat(received)).total_seconds() * 1000 if received else None
        self.eventlog.record(conn, case_id=run.business_key, activity="run.succeeded", system="hub",
                             run_id=run.id, duration_ms=latency,
                             detail={"filtered_by": step.filtered} if step.filtered else None)
        if str(run.context.get("event", {}).get("type", "")).startswith("manual."):
            self._finished(conn, run.id, run.business_key, "succeeded", step.context["steps"], None)

    def _subflow(self, conn: Connection, run: Run, context: dict[str, Any], sub: Subflow) -> None:
        """Start the sub-flow (once) and wait for its end, keyed by the sub-flow run's business key."""
        child = self.flows.get(conn, sub.flow_id, None)
        if child is None or not child.trigger.manual or self.inbox is None:
            self._save(conn, run, context, status="running")
            self.failed(conn, run, None, ProcessingError(
                t(f"子流程 {sub.flow_id} 未加载，或不是手动触发的", f"sub-flow {sub.flow_id} is not loaded or not "
                  "started by hand"), where=f"{run.flow.source} step {sub.step_id}",
                fix=t("加载该流程（trigger: {manual: true}）后重放", "load that flow (trigger: {manual: true}), "
                      "then replay")), reason="subflow_missing")
            return
        key = f"{child.id}@{run.id}.{sub.step_id}"
        self._wait(conn, run, context, Waiting(sub.step_id, (FLOW_FINISHED,), key, sub.timeout, "fail"))
        now = self.clock.now()
        envelope = Envelope(source="hub", type=child.trigger.events[0], native_id=f"{run.id}.{sub.step_id}",
                            version="subflow", business_key=key, occurred_at=now,
                            payload={"document": sub.inputs, "parent": {"run_id": run.id, "flow": run.flow.id,
                                                                        "step": sub.step_id}})
        if not self.inbox.accept(conn, envelope):
            return  # started before (a re-driven parent): its end, stored or to come, resumes this run
        self.eventlog.record(conn, case_id=run.business_key, activity="subflow.started", system="hub", run_id=run.id,
                             detail={"flow": child.id, "key": key})
        self.start(conn, child, envelope_id=envelope.id, business_key=key, context=initial_context(
            envelope_id=envelope.id, event_type=envelope.type, source="hub", business_key=key,
            payload=envelope.payload, received_at=now.isoformat()))

    def _if_manual(self, conn: Connection, run_id: str, business_key: str, status: str, error: str | None) -> None:
        """A run that ended badly: if it was started by hand (a sub-flow), say so to whoever waits for it."""
        if self.inbox is None:
            return
        kind = conn.execute(select(inbox.c.type).select_from(runs.join(inbox, inbox.c.id == runs.c.envelope_id))
                            .where(runs.c.id == run_id)).scalar()
        if kind is not None and kind.startswith("manual."):
            self._finished(conn, run_id, business_key, status, None, error)

    def _finished(self, conn: Connection, run_id: str, business_key: str, status: str,
                  steps: Mapping[str, Any] | None, error: str | None) -> None:
        """A run started by hand ended: store ``hub.flow.finished`` (once per outcome) and resume its parent."""
        if self.inbox is None:
            return
        envelope = Envelope(source="hub", type=FLOW_FINISHED, native_id=run_id, version=status,
                            business_key=business_key, occurred_at=self.clock.now(),
                            payload={"status": status, "steps": dict(steps or {}), "error": error})
        if self.inbox.accept(conn, envelope):
            self.resume(conn, envelope)

    def _wait(self, conn: Connection, run: Run, context: dict[str, Any], waiting: Waiting) -> None:
        """Pause the run at a ``wait`` step; a delayed message ends the wait at its timeout."""
        self._save(conn, run, context, status="waiting")
        deadline = self.clock.now() + timedelta(seconds=waiting.timeout)
        conn.execute(insert(waits).values(run_id=run.id, step_id=waiting.step_id, key=waiting.key,
                                          events=dumps(list(waiting.events)), deadline=deadline,
                                          on_timeout=waiting.on_timeout))
        # Its own key: a deadline hours away must not hold back the business key's other messages.
        self.transport.publish(conn, RUN_TOPIC, f"wait:{run.id}", {"run_id": run.id, "timeout_of": waiting.step_id},
                               delay=waiting.timeout)
        self.eventlog.record(conn, case_id=run.business_key, activity=f"step.{waiting.step_id}", system="hub",
                             run_id=run.id, outcome="waiting",
                             detail={"events": list(waiting.events), "key": waiting.key,
                                     "deadline": deadline.isoformat()})
        # The awaited event may have come before the run got here (an OA that answers at once).
        early = conn.execute(select(inbox).where(inbox.c.business_key == waiting.key,
                                                 inbox.c.type.in_(waiting.events))
                             .order_by(inbox.c.received_at.desc())).first()
        if early is not None:
            self.resume(conn, Envelope(source=early.source, type=early.type, native_id=early.native_id,
                                       version=early.version, business_key=early.business_key,
                                       payload=loads(early.payload), occurred_at=early.occurred_at, id=early.id))

    def resume(self, conn: Connection, envelope: Envelope) -> list[str]:
        """Runs waiting for this envelope's type and business key take it as their wait step's output."""
        resumed: list[str] = []
        for row in conn.execute(select(waits).where(waits.c.key == envelope.business_key)).all():
            if envelope.type not in loads(row.events):
                continue
            claimed = conn.execute(delete(waits).where(waits.c.run_id == row.run_id, waits.c.step_id == row.step_id)
                                   .returning(waits.c.run_id)).first()
            if claimed is None:
                continue  # its deadline was handled first
            self.transport.cancel(conn, RUN_TOPIC, f"wait:{row.run_id}")  # the deadline is moot now
            run = self.load(conn, row.run_id)
            event: dict[str, Any] = {"type": envelope.type, "source": envelope.source, "payload": envelope.payload}
            step = run.flow.steps[run.flow.index(row.step_id)]
            if isinstance(step, SubflowStep):
                status = envelope.payload.get("status")
                if status != "succeeded":
                    resumed.append(run.id)
                    self.failed(conn, run, None, ProcessingError(
                        t(f"子流程 {step.flow_id} 未成功（{status}）：{envelope.payload.get('error') or ''}",
                          f"sub-flow {step.flow_id} did not succeed ({status}): "
                          f"{envelope.payload.get('error') or ''}"),
                        where=f"{run.flow.source} step {step.id}",
                        fix=t("修复子流程并重放它的死信，再重放本流程",
                              "fix and replay the sub-flow, then replay this run")),
                        reason="subflow_failed")
                    continue
                event = {"status": status, "steps": envelope.payload.get("steps") or {}}
            run.context = complete(run.flow, run.context, row.step_id, event)
            self.eventlog.record(conn, case_id=run.business_key, activity="run.resumed", system="hub", run_id=run.id,
                                 detail={"step": row.step_id, "event": envelope.type})
            self.advance(conn, run)
            resumed.append(run.id)
        return resumed

    def timeout(self, conn: Connection, run_id: str, step_id: str) -> None:
        """A wait's deadline passed: go on without the event (``continue``) or fail the run (``fail``)."""
        row = conn.execute(delete(waits).where(waits.c.run_id == run_id, waits.c.step_id == step_id)
                           .returning(waits.c.key, waits.c.on_timeout)).first()
        if row is None:
            return  # the event came first
        run = self.load(conn, run_id)
        if row.on_timeout == "continue":
            self.eventlog.record(conn, case_id=run.business_key, activity="run.wait_timed_out", system="hub",
                                 run_id=run.id, detail={"step": step_id})
            run.context = complete(run.flow, run.context, step_id, {"timed_out": True})
            self.advance(conn, run)
            return
        self.failed(conn, run, None, ProcessingError(
            t(f"步骤 `{step_id}` 等待的事件在期限内没有到来（键 {row.key}）",
              f"the event step `{step_id}` waited for did not come in time (key {row.key})"),
            where=f"{run.flow.source} step {step_id}",
            fix=t("确认对方系统已处理；需要时修正后重放此死信", "check the other system handled it; replay this dead "
                  "letter when it has")), reason="wait_timeout")

    def failed(self, conn: Connection, run: Run, step_id: str | None, exc: BaseException, *, reason: str,
               bury: bool = True) -> bool:
        """A step failed for good: do what the flow says (``on_error``); ``True`` when the run took it over.

        ``step_id`` is the call step whose effect was given up, or ``None`` for a failure elsewhere (a
        mapping, a wait's deadline). ``fail`` marks the run failed and dead-letters it (unless ``bury`` is
        false: the caller already has); going on records the error as the step's output and advances;
        ``compensate`` undoes the calls made, newest first.
        """
        text = describe(exc)
        try:
            recovery = recover(run.flow, run.context, step_id, {"kind": reason, "message": text})
        except ProcessingError:
            recovery = None
        if recovery is None or recovery.action == "fail":
            self.fail(conn, run.id, run.business_key, exc, reason=reason, bury=bury)
            return False
        self.eventlog.record(conn, case_id=run.business_key, activity=f"step.{step_id or 'run'}", system="hub",
                             run_id=run.id, outcome="failed",
                             detail={"reason": reason, "error": text, "then": recovery.action})
        run.context = recovery.context
        if recovery.action == "compensate":
            self.eventlog.record(conn, case_id=run.business_key, activity="run.compensating", system="hub",
                                 run_id=run.id, detail={"undo": recovery.context["compensation"]["pending"]})
            self.compensate(conn, run)
        else:
            self.advance(conn, run)
        return True

    def compensate(self, conn: Connection, run: Run) -> None:
        """Undo the next call (newest first) through the outbox, or end the run ``compensated``."""
        try:
            effect = next_compensation(
                run.flow, run.context, lambda entity, system, key: self.lookup(conn, entity, system, key),
                lambda step_id: reference_for(effect_key(run, step_id)))
        except ProcessingError as exc:
            self._save(conn, run, run.context, status="compensating")
            self.fail(conn, run.id, run.business_key, exc, reason="compensation_failed")
            return
        plan = run.context["compensation"]
        if effect is None:
            error = plan["error"]["message"]
            self._save(conn, run, run.context, status="compensated", finished=True, error=error)
            self.eventlog.record(conn, case_id=run.business_key, activity="run.compensated", system="hub",
                                 run_id=run.id, outcome="failed",
                                 detail={"undone": list(plan["done"]), "error": error})
            self._if_manual(conn, run.id, run.business_key, "compensated", error)
            return
        key = effect_key(run, effect.step_id)
        entry_id = self.outbox.record(conn, idempotency_key=key, run_id=run.id, step_id=effect.step_id,
                                      action=effect.action, request=effect.request)
        earlier = self.outbox.get(conn, entry_id)
        if earlier is not None and earlier.run_id != run.id and earlier.status == "done":
            run.context = complete_compensation(run.flow, run.context, effect.step_id, earlier.result or {})
            self.compensate(conn, run)
            return
        self.transport.publish(conn, EFFECT_TOPIC, run.business_key, {"outbox_id": entry_id, "run_id": run.id})
        self._save(conn, run, run.context, status="compensating")

    def lookup(self, conn: Connection, entity: str, system: str, key: str) -> Mapping[str, Any] | None:
        """What a flow's ``lookup`` step finds: master data, or — entity ``posted`` — what the hub already did.

        ``posted`` with the business key (e.g. an approval's instance id) gives, per call step of the
        runs of that key that went through, ``{"action", "reference", "result"}``: the hub reference the
        document carries in the ERP and the connector's answer. A compensation flow (an approval withdrawn
        after it was posted) reverses by that reference. ``None`` when nothing was posted.
        """
        if entity != "posted":
            return self.masterdata.lookup(conn, entity, system, key)
        rows = conn.execute(select(outbox.c.step_id, outbox.c.action, outbox.c.idempotency_key, outbox.c.result)
                            .select_from(outbox.join(runs, runs.c.id == outbox.c.run_id))
                            .where(runs.c.business_key == key, outbox.c.status == "done")
                            .order_by(outbox.c.created_at)).all()
        if not rows:
            return None
        return {r.step_id: {"action": r.action, "reference": reference_for(r.idempotency_key),
                            "result": loads(r.result)} for r in rows}

    def _save(self, conn: Connection, run: Run, context: dict[str, Any], *, status: str,
              finished: bool = False, error: str | None = None) -> None:
        now = self.clock.now()
        values = {"context": dumps(context), "status": status, "updated_at": now,
                  "finished_at": now if finished else None, "error": error}
        if run.stored:
            conn.execute(_UPDATE_RUN, {"r_id": run.id, **values})
        else:
            conn.execute(_INSERT_RUN, {"id": run.id, "flow_id": run.flow.id, "flow_version": run.flow.version,
                                       "flow_digest": run.flow.digest,
                                       "envelope_id": run.envelope_id, "business_key": run.business_key,
                                       "started_at": now, **values})
            run.stored = True
        run.context = context

    def redrive(self, conn: Connection, flow: Flow, *, since: datetime, until: datetime) -> Redrive:
        """Re-drive ``flow`` for the envelopes received in ``[since, until)``: idempotent.

        A run that succeeded is left alone; a failed one is sent on from where it stopped (through the
        queue, in order with its key's other work); an envelope without a run gets one if the flow's
        trigger selects it. Running it twice changes nothing more.
        """
        report = Redrive()
        rows = conn.execute(select(inbox).where(inbox.c.type.in_(flow.trigger.events), inbox.c.received_at >= since,
                                                inbox.c.received_at < until).order_by(inbox.c.received_at)).all()
        for row in rows:
            run_id = run_id_for(flow.id, row.id)
            status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
            if status == "succeeded":
                report.done += 1
            elif status == "running":
                report.running += 1
            elif status == "failed":
                self.move_to_version(conn, run_id, flow)
                self._close_dead_letters(conn, run_id)
                self.transport.publish(conn, RUN_TOPIC, row.business_key, {"run_id": run_id})
                self.eventlog.record(conn, case_id=row.business_key, activity="run.redriven", system="hub",
                                     run_id=run_id, detail={"flow": flow.id})
                report.resumed.append(run_id)
            else:
                context = initial_context(envelope_id=row.id, event_type=row.type, source=row.source,
                                          business_key=row.business_key, payload=loads(row.payload),
                                          received_at=row.received_at.isoformat())
                if not matches(flow, row.type, context):
                    report.not_matching += 1
                    continue
                report.started.append(self.start(conn, flow, envelope_id=row.id, business_key=row.business_key,
                                                  context=context))
        return report

    def move_to_version(self, conn: Connection, run_id: str, flow: Flow) -> None:
        """Put a failed run on ``flow``'s version: a re-drive or replay after a fix takes the fixed flow.

        Runs in flight keep the version they began with; only one that failed (and is sent on by a person
        after a fix) moves, from the step where it stopped.
        """
        row = conn.execute(select(runs.c.flow_digest, runs.c.flow_version, runs.c.business_key).where(
            runs.c.id == run_id)).one()
        if row.flow_digest == flow.digest:
            return
        conn.execute(update(runs).where(runs.c.id == run_id).values(flow_digest=flow.digest,
                                                                    flow_version=flow.version))
        self.eventlog.record(conn, case_id=row.business_key, activity="run.version_changed", system="hub",
                             run_id=run_id, detail={"from": row.flow_version, "to": flow.version})

    def _close_dead_letters(self, conn: Connection, run_id: str) -> None:
        """Mark the run's open dead letters replayed: the re-drive supersedes them."""
        entries = [r.id for r in conn.execute(select(outbox.c.id).where(outbox.c.run_id == run_id))]
        payloads = [dumps({"run_id": run_id}), *(dumps({"outbox_id": e}) for e in entries)]
        conn.execute(update(dead_letters).where(
            dead_letters.c.payload.in_(payloads), dead_letters.c.replayed_at.is_(None),
            dead_letters.c.discarded_at.is_(None)).values(
            replayed_at=self.clock.now(), replays=dead_letters.c.replays + 1, note="re-driven"))

    def fail(self, conn: Connection, run_id: str, business_key: str, exc: BaseException, *,
             reason: str, bury: bool = True) -> None:
        """Mark the run failed; dead-letter it (replay re-drives it from where it stopped)."""
        text = describe(exc)
        now = self.clock.now()
        conn.execute(_UPDATE_RUN, {"r_id": run_id, "status": "failed", "error": text, "updated_at": now,
                                   "finished_at": now})
        self.eventlog.record(conn, case_id=business_key, activity="run.failed", system="hub", run_id=run_id,
                             outcome="failed", detail={"reason": reason, "error": text})
        self._if_manual(conn, run_id, business_key, "failed", text)
        if bury:
            self.transport.bury(conn, topic=RUN_TOPIC, key=business_key, payload={"run_id": run_id},
                                reason=reason, error=text, detail=diagnose(exc))


