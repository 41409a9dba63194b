"""The catalog API: flows and versions, connectors and their health, crosswalk, event log and queue.

Owns: the read functions the API and the server-rendered console share (each takes the :class:`Hub`, so
the console calls them without HTTP) and the thin routes over them. Does not own: authorization (``auth``),
runs and dead letters (``api``), the connectors' settings and health checks (:mod:`huiliu.service.health`),
or loading flows (``flows.loader``): a pasted flow is checked by the same ``validate_path`` as
``huiliu flow validate``.

Functions for the console::

    flow_list(hub) / flow_detail(hub, flow_id) / flow_versions(hub, flow_id)
    flow_diff(hub, flow_id, old, new=None) / validate_flow_text(hub, text, name=None)
    flows_touching(hub, system) / known_systems(hub)
    crosswalk_entries(hub, ...) / event_entries(hub, ...) / message_list(hub, ...) / message_detail(hub, id)
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from huiliu.errors import FlowFileError, HuiliuError, NotFound
from huiliu.flows import CallStep, Flow, diff_flows, validate_path
from huiliu.i18n import Text, t
from huiliu.service import Hub
from huiliu.service.health import configured_names, connector_check, connector_list
from huiliu.store import loads
from huiliu.store.codec import to_jsonable
from huiliu.store.schema import crosswalk, event_log, messages, runs
from huiliu.store.schema import flow_versions as versions_table
from huiliu.web.common import MAX_ID, as_utc, hub_of

__all__ = [
    "MAX_FLOW_TEXT",
    "crosswalk_entries",
    "event_entries",
    "flow_detail",
    "flow_diff",
    "flow_list",
    "flow_versions",
    "flows_touching",
    "known_systems",
    "message_detail",
    "message_list",
    "router",
    "validate_flow_text",
]

router = APIRouter(prefix="/api", tags=["catalog"])

MAX_FLOW_TEXT = 1_000_000
"""Longest flow text ``POST /api/flows/validate`` accepts (the loader itself refuses far less)."""

MIN_PREFIX = 6
"""Shortest digest prefix that names a flow version."""

_NOT_SYSTEMS = frozenset({"schedule", "manual"})  # the hub's own trigger events, not a system's



def _text(text: Text) -> dict[str, str]:
    return {"zh": text.zh, "en": text.en}


# ---------------------------------------------------------------------------------------------- flows


def _system_of(name: str) -> str | None:
    head = name.split(".", 1)[0]
    return None if head in _NOT_SYSTEMS or "." not in name else head


def _calls(flow: Flow) -> list[CallStep]:
    found = [s for s in flow.steps if isinstance(s, CallStep)]
    return found + [s.compensation for s in found if s.compensation is not None]


def flow_systems(flow: Flow) -> list[str]:
    """The systems a flow touches: its trigger's and waits' event sources and its calls' connectors."""
    names = [*flow.trigger.events, *flow.awaited, *(c.action for c in _calls(flow))]
    return sorted({s for s in map(_system_of, names) if s is not None})


def _trigger(flow: Flow) -> dict[str, Any]:
    trigger = flow.trigger
    kind = "manual" if trigger.manual else "schedule" if trigger.schedule else "events"
    return {"kind": kind, "events": [e for e in trigger.events if _system_of(e) is not None],
            "when": trigger.when, "schedule": trigger.schedule,
            "timezone": trigger.timezone if trigger.schedule else None, "manual": trigger.manual}


def _flow_summary(flow: Flow) -> dict[str, Any]:
    return {"id": flow.id, "title": flow.title, "description": flow.description, "version": flow.version,
            "digest": flow.digest, "source": str(flow.source), "trigger": _trigger(flow),
            "systems": flow_systems(flow), "actions": sorted(flow.actions), "step_count": len(flow.steps)}


def _loaded(hub: Hub, flow_id: str) -> Flow:
    flow = next((f for f in hub.flows if f.id == flow_id), None)
    if flow is None:
        known = ", ".join(f.id for f in hub.flows) or "（无）"
        raise NotFound(t(f"流程 {flow_id} 未加载", f"flow {flow_id} is not loaded"), where="flow_id",
                       fix=t(f"已加载的流程：{known}", f"loaded flows: {known}"))
    return flow


def flow_list(hub: Hub) -> list[dict[str, Any]]:
    """The flows in force: id, title, version, digest, source, trigger, systems touched, step count."""
    return [_flow_summary(f) for f in hub.flows]


def flow_detail(hub: Hub, flow_id: str) -> dict[str, Any]:
    """One flow in force: its summary, its steps (id, kind, action) and its YAML text.

    Raises:
        NotFound: no flow of that id is loaded.
    """
    flow = _loaded(hub, flow_id)
    steps = [{"id": s.id, "kind": s.kind, "action": s.action if isinstance(s, CallStep) else None,
              "line": s.origin.line} for s in flow.steps]
    return {**_flow_summary(flow), "steps": steps, "text": flow.text}


def flow_versions(hub: Hub, flow_id: str) -> list[dict[str, Any]]:
    """Every version of a flow the hub has loaded, newest first, with how many runs began on each.

    Raises:
        NotFound: the hub never loaded a flow of that id.
    """
    current = next((f.digest for f in hub.flows if f.id == flow_id), None)
    v = versions_table.c
    with hub.db.read() as conn:
        rows = conn.execute(select(v.digest, v.version, v.source, v.loaded_at).where(v.flow_id == flow_id)
                            .order_by(v.loaded_at.desc(), v.digest)).all()
        per_digest = select(runs.c.flow_digest, func.count()).where(runs.c.flow_id == flow_id)
        counts: dict[str | None, int] = dict(conn.execute(per_digest.group_by(runs.c.flow_digest)).all())
    if not rows:
        _loaded(hub, flow_id)  # raises the NotFound that lists the loaded flows
    return [{"digest": r.digest, "version": r.version, "source": r.source, "loaded_at": r.loaded_at.isoformat(),
             "current": r.digest == current, "runs": int(counts.get(r.digest, 0))} for r in rows]


def _resolve(hub: Hub, flow_id: str, ref: str, name: str) -> tuple[str, str, str]:
    """``(digest, version, text)`` of the version ``ref`` names: a digest, its prefix (≥ 6), or a version."""
    v = versions_table.c
    with hub.db.read() as conn:
        rows = conn.execute(select(v.digest, v.version, v.text).where(v.flow_id == flow_id)
                            .order_by(v.loaded_at.desc())).all()
    lowered = ref.lower()
    found = [r for r in rows if r.digest == lowered]
    if not found and len(lowered) >= MIN_PREFIX:
        found = [r for r in rows if r.digest.startswith(lowered)]
    if not found:
        found = [r for r in rows if r.version == ref]
    known = ", ".join(f"{r.version}={r.digest[:10]}" for r in rows) or "（无）"
    if not found:
        raise NotFound(t(f"流程 {flow_id} 没有版本 {ref!r}", f"flow {flow_id} has no version {ref!r}"), where=name,
                       fix=t(f"给出摘要（至少 {MIN_PREFIX} 位）或版本号；已有：{known}",
                             f"give a digest (at least {MIN_PREFIX} characters) or a version; known: {known}"))
    if len({r.digest for r in found}) > 1:
        raise HuiliuError(t(f"{ref!r} 对应多个版本", f"{ref!r} names several versions"), where=name,
                          fix=t(f"给出更长的摘要；已有：{known}", f"give a longer digest; known: {known}"))
    return found[0].digest, found[0].version, found[0].text


def flow_diff(hub: Hub, flow_id: str, old: str, new: str | None = None) -> dict[str, Any]:
    """What changed between two versions of a flow, step by step (``new`` defaults to the one in force).

    Raises:
        NotFound: an unknown flow or version.
        HuiliuError: a digest prefix that names several versions.
    """
    if new is None:
        current = _loaded(hub, flow_id)
        new = current.digest
    old_digest, old_version, old_text = _resolve(hub, flow_id, old, "old")
    new_digest, new_version, new_text = _resolve(hub, flow_id, new, "new")
    try:
        lines = diff_flows(old_text, new_text)
    except yaml.YAMLError as exc:  # versions were valid when loaded; only a hand-edited table gets here
        raise HuiliuError(t(f"版本文本无法读取：{exc}", f"a version's text cannot be read: {exc}"), where=flow_id,
                          fix=t("检查 flow_versions 表", "check the flow_versions table")) from exc
    return {"flow_id": flow_id, "old": {"digest": old_digest, "version": old_version},
            "new": {"digest": new_digest, "version": new_version},
            "changes": [_text(line) if isinstance(line, Text) else {"diff": line} for line in lines]}


_LOCATION = re.compile(r":(\d+):(\d+)$")
_FILE_NAME = r"^[\w.-]{1,100}$"


def _flow_problem(error: FlowFileError, prefix: str, name: str) -> dict[str, Any]:
    where = error.where or ""
    if where.startswith(prefix):
        where = name + where[len(prefix):]
    match = _LOCATION.search(where)
    return {"message_zh": error.what.zh, "message_en": error.what.en, "where": where,
            "line": int(match.group(1)) if match else None, "column": int(match.group(2)) if match else None,
            "fix_zh": error.fix.zh if error.fix else None, "fix_en": error.fix.en if error.fix else None}


def validate_flow_text(hub: Hub, text: str, name: str | None = None) -> dict[str, Any]:
    """Check a flow file's text as ``huiliu flow validate`` does, against the actions this hub provides.

    Every problem is reported with its line and column; hostile input (alias bombs, deep nesting, control
    characters, texts the loader finds too big) is an error in the answer.

    Raises:
        HuiliuError: a text over :data:`MAX_FLOW_TEXT` characters, refused before it is written anywhere.
    """
    if len(text) > MAX_FLOW_TEXT:
        raise HuiliuError(t("流程文本过长", "the flow text is too long"), where="text",
                          fix=t(f"不超过 {MAX_FLOW_TEXT:,} 个字符", f"at most {MAX_FLOW_TEXT:,} characters"))
    file_name = name or "flow.yaml"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON's \\ud800: no file can hold it
        line = text.count("\n", 0, exc.start) + 1
        return {"valid": False, "errors": [{
            "message_zh": "流程文本含有无效的 Unicode 字符（孤立的代理项）",
            "message_en": "the flow text holds an invalid Unicode character (a lone surrogate)",
            "where": f"{file_name}:{line}:1", "line": line, "column": None,
            "fix_zh": "删除该字符，用 UTF-8 保存", "fix_en": "remove the character and save as UTF-8"}]}
    with tempfile.TemporaryDirectory(prefix="huiliu-validate-") as directory:
        path = Path(directory) / file_name
        path.write_bytes(data)
        errors = validate_path(path, known_actions=hub.actions.names())
    return {"valid": not errors, "errors": [_flow_problem(e, str(path), file_name) for e in errors]}


def flows_touching(hub: Hub, system: str) -> list[str]:
    """Ids of the loaded flows that touch ``system`` (by trigger, wait or call).

    Raises:
        HuiliuError: ``system`` is not one :func:`known_systems` names.
    """
    known = known_systems(hub)
    if system not in known:
        raise HuiliuError(t(f"未知系统 {system!r}", f"unknown system {system!r}"), where="system",
                          fix=t(f"可用：{', '.join(known)}", f"use one of {', '.join(known)}"))
    return [f.id for f in hub.flows if system in flow_systems(f)]


def known_systems(hub: Hub) -> list[str]:
    """The systems the hub knows: configured connectors, action prefixes, and the systems flows touch."""
    names = set(configured_names(hub))
    names |= {s for s in map(_system_of, hub.actions.names()) if s is not None}
    names |= {s for f in hub.flows for s in flow_systems(f)}
    return sorted(names)


# ----------------------------------------------------------------------------------- tables, read only


def crosswalk_entries(hub: Hub, *, entity: str | None = None, system: str | None = None,
                      golden_id: str | None = None, native_id: str | None = None,
                      native_number: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Crosswalk links (entity, golden id ⇄ system, native type, id, number), newest first, filtered."""
    query = select(crosswalk)
    for column, value in ((crosswalk.c.entity, entity), (crosswalk.c.system, system),
                          (crosswalk.c.golden_id, golden_id), (crosswalk.c.native_id, native_id),
                          (crosswalk.c.native_number, native_number)):
        if value is not None:
            query = query.where(column == value)
    with hub.db.read() as conn:
        rows = conn.execute(query.order_by(crosswalk.c.id.desc()).limit(limit).offset(offset)).all()
    return [to_jsonable(dict(r._mapping)) for r in rows]


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def event_entries(hub: Hub, *, case_id: str | None = None, run_id: str | None = None,
                  activity: str | None = None, system: str | None = None, outcome: str | None = None,
                  since: datetime | None = None, until: datetime | None = None, before_id: int | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
    """The event log, newest first; ``activity`` ending in ``.`` or ``*`` matches a prefix (``effect.``).

    Page with ``before_id`` (the last id of the previous page): stable while new events arrive.
    """
    query = select(event_log)
    for column, value in ((event_log.c.case_id, case_id), (event_log.c.run_id, run_id),
                          (event_log.c.system, system), (event_log.c.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if activity is not None:
        if activity.endswith(("*", ".")):
            query = query.where(event_log.c.activity.like(_like_prefix(activity.rstrip("*")), escape="\\"))
        else:
            query = query.where(event_log.c.activity == activity)
    if since is not None:
        query = query.where(event_log.c.at >= as_utc(since))
    if until is not None:
        query = query.where(event_log.c.at < as_utc(until))
    if before_id is not None:
        query = query.where(event_log.c.id < before_id)
    with hub.db.read() as conn:
        rows = conn.execute(query.order_by(event_log.c.id.desc()).limit(limit)).all()
    return [to_jsonable({**dict(r._mapping), "detail": loads(r.detail)}) for r in rows]


_MESSAGE_COLUMNS = (messages.c.id, messages.c.topic, messages.c.key, messages.c.attempts, messages.c.available_at,
                    messages.c.lease_owner, messages.c.lease_until, messages.c.created_at, messages.c.last_error,
                    messages.c.relayed_at)


def message_list(hub: Hub, *, topic: str | None = None, key: str | None = None, limit: int = 50,
                 offset: int = 0) -> list[dict[str, Any]]:
    """The queue's pending messages, oldest first (the order they are handed out in)."""
    query = select(*_MESSAGE_COLUMNS)
    if topic is not None:
        query = query.where(messages.c.topic == topic)
    if key is not None:
        query = query.where(messages.c.key == key)
    with hub.db.read() as conn:
        rows = conn.execute(query.order_by(messages.c.id).limit(limit).offset(offset)).all()
    return [to_jsonable(dict(r._mapping)) for r in rows]


def message_detail(hub: Hub, message_id: int) -> dict[str, Any]:
    """One pending message with its payload and attempt log.

    Raises:
        NotFound: no such message (it may have been done and deleted).
    """
    with hub.db.read() as conn:
        row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
    if row is None:
        raise NotFound(t(f"消息 {message_id} 不存在（可能已处理完并删除）",
                         f"message {message_id} not found (it may have been done and deleted)"), where="message_id",
                       fix=t("用 /api/messages 查找待处理的消息", "find pending messages with /api/messages"))
    detail: dict[str, Any] = to_jsonable({**dict(row._mapping), "payload": loads(row.payload),
                                          "attempt_log": loads(row.attempt_log)})
    return detail


# ----------------------------------------------------------------------------------------------- routes

Text100 = Annotated[str | None, Query(max_length=100)]
Text200 = Annotated[str | None, Query(max_length=200)]


class ValidateRequest(BaseModel):
    """A flow file's text to check, and the file name to report errors under."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_FLOW_TEXT, description="the flow file's YAML text (at most 1,000,000 characters)")
    name: str | None = Field(None, pattern=_FILE_NAME, description="file name for the error locations")


@router.get("/flows", summary="The flows in force: trigger, systems touched, version")
def get_flows(request: Request) -> dict[str, Any]:
    """Every loaded flow."""
    return {"items": flow_list(hub_of(request))}


@router.post("/flows/validate", summary="Check a flow file's text as `huiliu flow validate` does")
def post_validate(request: Request, body: ValidateRequest) -> dict[str, Any]:
    """``valid`` and every error with its line, column and fix."""
    return validate_flow_text(hub_of(request), body.text, body.name)


@router.get("/flows/{flow_id}", summary="One flow: summary, steps and YAML text")
def get_flow(request: Request, flow_id: str) -> dict[str, Any]:
    """A loaded flow in full."""
    return flow_detail(hub_of(request), flow_id)


@router.get("/flows/{flow_id}/versions", summary="A flow's version history, newest first, with run counts")
def get_flow_versions(request: Request, flow_id: str) -> dict[str, Any]:
    """Every version the hub has loaded."""
    return {"flow_id": flow_id, "items": flow_versions(hub_of(request), flow_id)}


@router.get("/flows/{flow_id}/diff", summary="What changed between two versions of a flow")
def get_flow_diff(request: Request, flow_id: str,
                  old: Annotated[str, Query(min_length=1, max_length=64, description="digest, its prefix, or version")],
                  new: Annotated[str | None, Query(min_length=1, max_length=64,
                                                   description="default: the version in force")] = None,
                  ) -> dict[str, Any]:
    """Step by step: added, removed, moved and changed steps."""
    return flow_diff(hub_of(request), flow_id, old, new)


@router.get("/connectors", summary="Configured connectors: kind, settings without secrets, actions, last check")
def get_connectors(request: Request) -> dict[str, Any]:
    """Every configured connector."""
    return {"items": connector_list(hub_of(request))}


@router.post("/connectors/{name}/check", summary="Check a connector now with its cheapest authenticated call")
async def post_connector_check(request: Request, name: str) -> dict[str, Any]:
    """``ok``, latency and the vendor's error, if any."""
    return await connector_check(hub_of(request), name)


@router.get("/crosswalk", summary="Crosswalk links: one object's ids in every system")
def get_crosswalk(request: Request, entity: Text100 = None, system: Text100 = None, golden_id: Text200 = None,
                  native_id: Text200 = None, native_number: Text200 = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    """A page of links, newest first."""
    items = crosswalk_entries(hub_of(request), entity=entity, system=system, golden_id=golden_id,
                              native_id=native_id, native_number=native_number, limit=limit, offset=offset)
    return {"items": items, "limit": limit, "offset": offset}


@router.get("/events", summary="The event log, newest first (page with before_id)")
def get_events(request: Request, case_id: Text200 = None, run_id: Text100 = None,
               activity: Annotated[str | None, Query(max_length=100, description="exact, or a prefix ending in "
                                                     "'.' or '*', e.g. effect.")] = None,
               system: Text100 = None, outcome: Text100 = None,
               since: Annotated[datetime | None, Query(description="at or after (no zone: UTC)")] = None,
               until: Annotated[datetime | None, Query(description="before (no zone: UTC)")] = None,
               before_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="ids below this")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """A page of events; ``next_before_id`` continues it."""
    items = event_entries(hub_of(request), case_id=case_id, run_id=run_id, activity=activity, system=system,
                          outcome=outcome, since=since, until=until, before_id=before_id, limit=limit)
    return {"items": items, "limit": limit,
            "next_before_id": items[-1]["id"] if len(items) == limit else None}


@router.get("/messages", summary="The queue: pending messages, oldest first")
def get_messages(request: Request, topic: Text100 = None, key: Text200 = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    """A page of pending messages."""
    items = message_list(hub_of(request), topic=topic, key=key, limit=limit, offset=offset)
    return {"items": items, "limit": limit, "offset": offset}


@router.get("/messages/{message_id}", summary="One pending message with its payload and attempts")
def get_message(request: Request, message_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> dict[str, Any]:
    """The message in full."""
    return message_detail(hub_of(request), message_id)
