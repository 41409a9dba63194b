"""What each topic's message means: the steps of the loop between the inbox and the vendors.

``oa.event``           re-read the approval instance, store the envelope once, start the matching runs
``flow.run``           re-drive a run (a replayed dead letter)
``effect``             make one external call from the outbox, record its result, advance the run

Each handler settles its message (a fenced ack) in the transaction that records its result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from huiliu.bus import DbTransport, Delivery, Envelope, EventLog, Inbox, Outbox, RetryPolicy, reference_for
from huiliu.connectors import ActionContext, ActionRegistry
from huiliu.crosswalk import Crosswalk, golden_id_for
from huiliu.errors import ConfigError, HuiliuError, describe
from huiliu.flows import COMPENSATE_SUFFIX, CallStep, Flow, complete, complete_compensation, matches
from huiliu.i18n import t
from huiliu.model import Clock
from huiliu.service.calls import call_rows, current
from huiliu.service.faultpoints import FaultPoints
from huiliu.service.runs import RunStore, initial_context
from huiliu.service.sources import OaSource
from huiliu.store import Database
from huiliu.store.codec import to_jsonable

__all__ = ["CALLBACK_TOPIC", "CallbackHandler", "EffectHandler", "Handler", "Parts", "RunHandler", "store_and_start"]

CALLBACK_TOPIC = "oa.event"
"""Approval events of every OA (and catch-up polls), keyed by instance so one instance's are in order."""

CROSSWALK_ACTIONS: Mapping[str, tuple[str, str]] = {"kingdee.voucher.create": ("kingdee", "GL_VOUCHER"),
                                                    "tryton.purchase.create": ("tryton", "purchase.purchase")}
"""Actions that create a document, and the (system, native type) their result is linked under; besides
these, every ``<erp>.purchase.create`` and ``<erp>.voucher.create`` (see :func:`document_link`)."""


def document_link(action: str) -> tuple[str, str] | None:
    """The (system, native type) a document made by ``action`` is linked under in the crosswalk, if any."""
    if action in CROSSWALK_ACTIONS:
        return CROSSWALK_ACTIONS[action]
    system, _, rest = action.partition(".")
    return {"purchase.create": (system, "purchase_order"), "voucher.create": (system, "voucher")}.get(rest)


@dataclass(frozen=True, slots=True)
class Parts:
    """What every handler works with: the database and the bus pieces that write in its transactions."""

    db: Database
    transport: DbTransport
    inbox: Inbox
    outbox: Outbox
    eventlog: EventLog
    crosswalk: Crosswalk
    runs: RunStore
    clock: Clock


class Handler(Protocol):
    """Processes one topic's messages."""

    async def handle(self, delivery: Delivery) -> None:
        """Do the work and ack ``delivery`` in the transaction that records the result."""

    def on_dead(self, conn: Connection, delivery: Delivery, error: BaseException) -> bool:
        """Record that this work was given up; ``True``: the flow took it over (settle, do not bury)."""

    def policy_for(self, delivery: Delivery) -> RetryPolicy | None:
        """The retry policy for this message, or ``None`` for the hub's default."""


def store_and_start(parts: Parts, flows: Sequence[Flow], conn: Connection, envelope: Envelope,
                    received_at: str | None) -> bool:
    """Store ``envelope`` in the inbox once and start every flow it triggers; ``False`` for a duplicate."""
    if not parts.inbox.accept(conn, envelope):
        parts.eventlog.record(conn, case_id=envelope.business_key, activity="envelope.duplicate",
                              system=envelope.source, detail={"type": envelope.type})
        return False
    parts.eventlog.record(conn, case_id=envelope.business_key, activity="envelope.stored", system=envelope.source,
                          detail={"type": envelope.type}, at=envelope.occurred_at)
    parts.runs.resume(conn, envelope)  # runs waiting for this event go on
    context = initial_context(envelope_id=envelope.id, event_type=envelope.type, source=envelope.source,
                              business_key=envelope.business_key, payload=envelope.payload, received_at=received_at)
    for flow in flows:
        if matches(flow, envelope.type, context):
            parts.runs.start(conn, flow, envelope_id=envelope.id, business_key=envelope.business_key,
                             context=context)
    return True


class CallbackHandler:
    """An OA approval event: re-read the instance (events carry no form data), then the inbox."""

    def __init__(self, parts: Parts, *, flows: Sequence[Flow], sources: Mapping[str, OaSource]) -> None:
        self.p = parts
        self.flows = flows
        self.sources = sources

    async def handle(self, delivery: Delivery) -> None:
        """Fetch, store once, start the flows that match."""
        system = str(delivery.payload["system"])
        instance_id = str(delivery.payload["instance_id"])
        source = self.sources.get(system)
        if source is None:
            raise ConfigError(t(f"收到 {system} 的审批事件，但未配置该连接器", f"an approval event from {system}, "
                                "whose connector is not configured"), where=f"HUILIU_{system.upper()}__*",
                              fix=t(f"配置 {system} 连接器后重放该死信",
                                    f"configure {system}, then replay the dead letter"))
        instance = await source.fetch(instance_id, delivery.payload.get("hint") or {})
        payload = {"instance": to_jsonable(instance)}
        envelope = Envelope(source=system, type=source.event_type(instance), native_id=instance_id,
                            version=instance.version, business_key=instance_id, payload=payload,
                            occurred_at=instance.finished_at or instance.created_at)
        with self.p.db.begin() as conn:
            self.p.eventlog.record_many(conn, call_rows(current(), instance_id))
            if store_and_start(self.p, self.flows, conn, envelope, delivery.payload.get("received_at")):
                self.p.crosswalk.link(conn, entity="approval", golden_id=golden_id_for(
                    "approval", system, instance_id), system=system, native_type="process_instance",
                    native_id=instance_id, native_number=instance.business_id)
            self.p.transport.ack(conn, delivery)

    def policy_for(self, delivery: Delivery) -> RetryPolicy | None:
        """The hub's default."""
        return None

    def on_dead(self, conn: Connection, delivery: Delivery, error: BaseException) -> bool:
        """Log the given-up callback against its instance."""
        case = str(delivery.payload.get("instance_id", "?"))
        self.p.eventlog.record(conn, case_id=case, activity="callback.dead_lettered",
                             system=str(delivery.payload.get("system", "?")),
                             outcome="failed", detail={"error": describe(error)})
        return False


class RunHandler:
    """Re-drives a run from where it stopped (replay after a fix)."""

    def __init__(self, parts: Parts) -> None:
        self.p = parts

    async def handle(self, delivery: Delivery) -> None:
        """Advance the run again."""
        run_id = str(delivery.payload["run_id"])
        with self.p.db.begin() as conn:
            if "timeout_of" in delivery.payload:  # a wait's deadline
                self.p.runs.timeout(conn, run_id, str(delivery.payload["timeout_of"]))
                self.p.transport.ack(conn, delivery)
                return
            run = self.p.runs.load(conn, run_id)
            current = self.p.runs.flows.get(conn, run.flow.id, None)
            if run.status == "failed" and current is not None and current.digest != run.flow.digest:
                self.p.runs.move_to_version(conn, run_id, current)  # replayed after a fix: the fixed flow
                run = self.p.runs.load(conn, run_id)
            if run.status not in ("succeeded", "waiting", "compensated"):  # finished or waiting: nothing to do
                self.p.runs.advance(conn, run)
            self.p.transport.ack(conn, delivery)

    def policy_for(self, delivery: Delivery) -> RetryPolicy | None:
        """The hub's default."""
        return None

    def on_dead(self, conn: Connection, delivery: Delivery, error: BaseException) -> bool:
        """Mark the run failed (without burying it twice: the worker dead-letters the message)."""
        run_id = str(delivery.payload["run_id"])
        self.p.runs.fail(conn, run_id, delivery.key, error, reason="run_failed", bury=False)
        return False


class EffectHandler:
    """One external call from the outbox, with its idempotency context."""

    def __init__(self, parts: Parts, *, actions: ActionRegistry, faults: FaultPoints) -> None:
        self.p = parts
        self.actions = actions
        self.faults = faults

    async def handle(self, delivery: Delivery) -> None:
        """Call the vendor, then record the result, link the document, and advance the run."""
        entry_id = str(delivery.payload["outbox_id"])
        with self.p.db.read() as conn:
            entry = self.p.outbox.get(conn, entry_id)
        if entry is None:
            raise LookupError(f"outbox entry {entry_id} does not exist")
        if entry.status == "done":  # settled by an earlier attempt whose ack was lost: just move on
            with self.p.db.begin() as conn:
                waiting = str(delivery.payload.get("run_id") or entry.run_id)
                if waiting != entry.run_id:  # a second run of the same business object: it takes the result
                    run = self.p.runs.load(conn, waiting)
                    cursor = int(run.context.get("cursor", 0))
                    if run.status == "running" and cursor < len(run.flow.steps) and (
                            run.flow.steps[cursor].id == entry.step_id):
                        run.context = complete(run.flow, run.context, entry.step_id, entry.result or {})
                        self.p.runs.advance(conn, run)
                self.p.transport.ack(conn, delivery)
            return
        action = self.actions.get(entry.action)
        # A replayed dead letter, or an effect given up before and now re-driven, follows attempts that
        # may have reached the vendor: they count, so the action looks its reference up first.
        attempt = max(delivery.attempts + int(delivery.payload.get("prior_attempts", 0)),
                      2 if entry.status == "failed" else 1)
        ctx = ActionContext(entry.idempotency_key, attempt, reference_for(entry.idempotency_key))
        started = self.p.clock.monotonic()
        result = dict(await action(entry.request, ctx))
        elapsed = (self.p.clock.monotonic() - started) * 1000
        self.faults.reach(f"after_call:{entry.action}")
        with self.p.db.begin() as conn:
            run = self.p.runs.load(conn, entry.run_id)
            case = run.business_key
            self.p.eventlog.record_many(conn, call_rows(current(), case, entry.run_id))
            self.p.eventlog.record(conn, case_id=case, activity=f"effect.{entry.action}", system="hub",
                                 run_id=entry.run_id, duration_ms=elapsed,
                                 detail={"attempt": attempt, "result": result})
            self.p.outbox.done(conn, entry_id, result)
            link = document_link(entry.action)
            if link is not None:
                oa = str(run.context.get("event", {}).get("source") or "dingtalk")
                self.p.crosswalk.link(conn, entity="approval", golden_id=golden_id_for("approval", oa, case),
                                    system=link[0], native_type=link[1], native_id=str(result["id"]),
                                    native_number=str(result.get("number") or ""))
            if entry.step_id.endswith(COMPENSATE_SUFFIX):  # one call undone: undo the next
                run.context = complete_compensation(run.flow, run.context, entry.step_id, result)
                self.p.runs.compensate(conn, run)
            else:
                run.context = complete(run.flow, run.context, entry.step_id, result)
                self.p.runs.advance(conn, run)
            self.p.transport.ack(conn, delivery)
        self.faults.reach(f"after_commit:{entry.action}")

    def policy_for(self, delivery: Delivery) -> RetryPolicy | None:
        """The call step's policy (or its flow's), as the flow file says."""
        with self.p.db.read() as conn:
            entry = self.p.outbox.get(conn, str(delivery.payload["outbox_id"]))
            if entry is None:
                return None
            run = self.p.runs.load(conn, entry.run_id)
        step = run.flow.steps[run.flow.index(entry.step_id.removesuffix(COMPENSATE_SUFFIX))]
        return step.retry if isinstance(step, CallStep) else None

    def on_dead(self, conn: Connection, delivery: Delivery, error: BaseException) -> bool:
        """Mark the effect failed; the run does what its flow says (``on_error``), by default fails."""
        entry_id = str(delivery.payload["outbox_id"])
        entry = self.p.outbox.get(conn, entry_id)
        if entry is None:
            return False
        self.p.outbox.failed(conn, entry_id, describe(error))
        if entry.step_id.endswith(COMPENSATE_SUFFIX):  # an undo that failed: a person must look
            self.p.runs.fail(conn, entry.run_id, delivery.key, error, reason="compensation_failed", bury=False)
            return False
        run = self.p.runs.load(conn, entry.run_id)
        reason = error.kind if isinstance(error, HuiliuError) else "effect_failed"
        return self.p.runs.failed(conn, run, entry.step_id, error, reason=reason, bury=False)


