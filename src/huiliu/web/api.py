"""The read API: runs and their traces, dead letters, and a summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select

from huiliu.bus import DeadLetterFilter
from huiliu.errors import HuiliuError, NotFound
from huiliu.i18n import t
from huiliu.store import loads
from huiliu.store.codec import to_jsonable
from huiliu.store.schema import event_log, messages, outbox, run_steps, runs
from huiliu.web.catalog import flows_touching
from huiliu.web.common import MAX_ID, actor_of, as_utc, hub_of
from huiliu.web.summary import SummaryCache

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["api"])

DeadId = Annotated[int, Path(ge=1, le=MAX_ID, description="a dead letter's id")]
"""Bounded like the column: an id beyond it was a 500 (SQLite's OverflowError, PostgreSQL's out of range)."""

RUN_STATUSES = ("running", "waiting", "succeeded", "failed", "compensating", "compensated")


@router.get("/health", summary="Liveness and the queue's depth")
def health(request: Request) -> dict[str, Any]:
    """``ok`` (or ``degraded`` with alarms), how many messages wait, the loaded flows."""
    hub = hub_of(request)
    with hub.db.read() as conn:
        pending = conn.execute(select(func.count()).select_from(messages)).scalar_one()
    alarms = [{"kind": "long_transaction", **tx}
              for tx in hub.db.long_transactions(hub.settings.long_transaction_alarm)]
    return {"status": "degraded" if alarms else "ok", "pending_messages": pending,
            "flows": [f.id for f in hub.flows], "alarms": alarms}


@router.get("/runs", summary="Runs, newest first")
def list_runs(
    request: Request,
    status: Annotated[str | None, Query(description="running | succeeded | failed")] = None,
    flow: Annotated[str | None, Query(max_length=100)] = None,
    key: Annotated[str | None, Query(max_length=200, description="business key, e.g. an instance id")] = None,
    since: Annotated[datetime | None, Query(description="started at or after (no zone: UTC)")] = None,
    until: Annotated[datetime | None, Query(description="started before (no zone: UTC)")] = None,
    system: Annotated[str | None, Query(max_length=100, description="runs of the flows touching this system, "
                                        "e.g. kingdee")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """A page of runs with filters."""
    if status is not None and status not in RUN_STATUSES:
        raise HuiliuError(t(f"未知状态 {status!r}", f"unknown status {status!r}"), where="status",
                          fix=t(f"可用：{', '.join(RUN_STATUSES)}", f"use one of {', '.join(RUN_STATUSES)}"))
    query = select(runs.c.id, runs.c.flow_id, runs.c.flow_version, runs.c.business_key, runs.c.status,
                   runs.c.error, runs.c.started_at, runs.c.finished_at)
    if status:
        query = query.where(runs.c.status == status)
    if flow:
        query = query.where(runs.c.flow_id == flow)
    if key:
        query = query.where(runs.c.business_key == key)
    if since is not None:
        query = query.where(runs.c.started_at >= as_utc(since))
    if until is not None:
        query = query.where(runs.c.started_at < as_utc(until))
    if system is not None:
        query = query.where(runs.c.flow_id.in_(flows_touching(hub_of(request), system)))
    with hub_of(request).db.read() as conn:
        rows = conn.execute(query.order_by(runs.c.started_at.desc()).limit(limit).offset(offset)).all()
    return {"items": [dict(r._mapping) for r in rows], "limit": limit, "offset": offset}


@router.get("/runs/{run_id}", summary="One run with its steps, effects and event log (its trace)")
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    """The trace of one run."""
    with hub_of(request).db.read() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(t(f"运行 {run_id} 不存在", f"run {run_id} not found"), where="run_id",
                           fix=t("用 /api/runs 查找运行", "find runs with /api/runs"))
        steps = conn.execute(select(run_steps).where(run_steps.c.run_id == run_id)
                             .order_by(run_steps.c.id)).all()
        effects = conn.execute(select(outbox).where(outbox.c.run_id == run_id)
                               .order_by(outbox.c.created_at)).all()
        events = conn.execute(select(event_log).where(or_(event_log.c.run_id == run_id,
                                                          event_log.c.case_id == row.business_key))
                              .order_by(event_log.c.id)).all()
    run = dict(row._mapping)
    run["context"] = loads(run["context"])
    return {
        "run": run,
        "steps": [{**dict(s._mapping), "output": loads(s.output)} for s in steps],
        "effects": [{**dict(e._mapping), "request": loads(e.request), "result": loads(e.result)} for e in effects],
        "events": [{**dict(e._mapping), "detail": loads(e.detail)} for e in events],
    }


@router.get("/dead-letters", summary="Dead letters, newest first, with counts by reason")
def list_dead_letters(
    request: Request,
    reason: Annotated[str | None, Query(max_length=60)] = None,
    key: Annotated[str | None, Query(max_length=200, description="business key, e.g. an instance id")] = None,
    include_closed: Annotated[bool, Query(alias="all", description="also replayed and discarded ones")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Given-up work with its reason, attempts and payload."""
    dl = hub_of(request).deadletters
    items = dl.find(DeadLetterFilter(reason=reason, key=key, include_closed=include_closed), limit=limit,
                    offset=offset)
    return {"items": [to_jsonable(d) for d in items], "counts_by_reason": dl.counts_by_reason(),
            "causes": to_jsonable(dl.causes()),
            "limit": limit, "offset": offset}


@router.get("/dead-letters/{dead_id}", summary="One dead letter")
def get_dead_letter(request: Request, dead_id: DeadId) -> dict[str, Any]:
    """The dead letter with every attempt."""
    result: dict[str, Any] = to_jsonable(hub_of(request).deadletters.get(dead_id))
    return result


class ReplayRequest(BaseModel):
    """Which open dead letters to replay; at least one condition."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=60)
    key: str | None = Field(None, max_length=200)
    since: datetime | None = None
    until: datetime | None = None


class DiscardRequest(BaseModel):
    """Why a dead letter is closed without a replay (e.g. entered by hand in the ERP)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)


@router.post("/dead-letters/{dead_id}/replay", summary="Replay one dead letter after a fix")
def replay_dead_letter(request: Request, dead_id: DeadId) -> dict[str, Any]:
    """Publish it again; handlers count its earlier attempts."""
    replayed = hub_of(request).deadletters.replay(DeadLetterFilter(ids=[dead_id]), actor=actor_of(request))
    return {"replayed": replayed}


@router.post("/dead-letters/replay", summary="Replay the open dead letters matching a filter")
def replay_dead_letters(request: Request, body: ReplayRequest) -> dict[str, Any]:
    """Bulk replay by reason, business key or time range."""
    if not any((body.reason, body.key, body.since, body.until)):
        raise HuiliuError(t("请至少给出一个条件", "give at least one condition"), where="body",
                          fix=t("给出 reason、key、since 或 until", "give reason, key, since or until"))
    where = DeadLetterFilter(reason=body.reason, key=body.key, since=body.since, until=body.until)
    return {"replayed": hub_of(request).deadletters.replay(where, actor=actor_of(request))}


@router.post("/dead-letters/{dead_id}/discard", summary="Close a dead letter without replaying it")
def discard_dead_letter(request: Request, dead_id: DeadId, body: DiscardRequest) -> dict[str, Any]:
    """Discard with a reason; kept for the record."""
    return {"discarded": hub_of(request).deadletters.discard(DeadLetterFilter(ids=[dead_id]), note=body.note,
                                                          actor=actor_of(request))}


class RedriveRequest(BaseModel):
    """The time range (when the envelopes were received) to re-drive a flow over."""

    model_config = ConfigDict(extra="forbid")

    since: datetime
    until: datetime


@router.post("/flows/{flow_id}/redrive", summary="Re-drive a flow over a time range after a fix (idempotent)")
def redrive_flow(request: Request, flow_id: str, body: RedriveRequest) -> dict[str, Any]:
    """Start missing runs, send failed ones on, leave finished ones alone."""
    since, until = as_utc(body.since), as_utc(body.until)
    result: dict[str, Any] = to_jsonable(hub_of(request).redrive(flow_id, since=since, until=until))
    return result


class StartRequest(BaseModel):
    """A manual start: the flow's input (its ``form``) and an optional key that makes the start idempotent."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\s]+$")] | None = None
    input: dict[str, Any] = {}


@router.post("/flows/{flow_id}/start", summary="Start a flow whose trigger is manual (once per key)")
def start_flow(request: Request, flow_id: str, body: StartRequest) -> dict[str, Any]:
    """Start it; the same key again starts nothing (``started`` false) and names the same run."""
    business_key, started = hub_of(request).start_flow(flow_id, key=body.key, inputs=body.input,
                                                       actor=actor_of(request))
    return {"business_key": business_key, "started": started}


@router.get("/summary", summary="Counts: envelopes, runs by status, effects, dead letters")
def summary(request: Request, background: BackgroundTasks) -> dict[str, Any]:
    """What the hub has done so far, counted at ``as_of`` (a few seconds ago at most on a big store)."""
    cache: SummaryCache = request.app.state.summary
    return cache.answer(background)

