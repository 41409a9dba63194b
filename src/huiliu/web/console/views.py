"""The console's pages: who may see them, in which language, and what each shows.

Owns: the page routes under ``/console``, the login form, the language switch, and turning errors on a
page into a page. Does not own the data: each page reads through the same functions as the API (so a
number on a page and in ``/api`` can never disagree) and changes through the same services, audited.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from huiliu.bus import DeadLetterFilter
from huiliu.errors import HuiliuError, NotFound
from huiliu.i18n import Lang, Text, t
from huiliu.identity.accounts import LoginRefused, Principal
from huiliu.service import Hub, health
from huiliu.store import loads
from huiliu.store.codec import to_jsonable
from huiliu.store.schema import crosswalk, flow_versions, inbox, runs
from huiliu.web import api, catalog, overview
from huiliu.web.api import DeadId
from huiliu.web.auth import (
    AuthError,
    audit_entries,
    caller,
    check_csrf,
    check_role,
    end_session,
    set_session,
    sign_in,
)
from huiliu.web.common import hub_of

__all__ = ["LANG_COOKIE", "STATIC", "LoginRequired", "console_error", "router"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANG_COOKIE = "huiliu_lang"
PAGE_SIZE = 50

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)
public = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """A page was asked for without a session: send the browser to the login form, then back."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


# --- language, time and the template helpers -------------------------------------------------------------

def page_lang(request: Request) -> Lang:
    """``?lang=`` first, then the cookie, then the hub's setting (Chinese by default)."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if wanted in (Lang.ZH.value, Lang.EN.value):
        return Lang(wanted)
    return hub_of(request).settings.lang


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(hub_of(request).settings.timezone)


@pass_context
def _tr(context: Any, zh: str, en: str) -> str:
    return zh if context["lang"] is Lang.ZH else en


@pass_context
def _say(context: Any, text: Text | str | None) -> str:
    if text is None:
        return ""
    return text.render(context["lang"]) if isinstance(text, Text) else str(text)


@pass_context
def _local(context: Any, value: datetime | str | None) -> str:
    """A stored time in the hub's zone, as people read it: ``2026-11-26 09:30:05``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(context["zone"]).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    ms = (end - start).total_seconds() * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _pretty(value: Any) -> str:
    """A payload as YAML, Chinese kept readable."""
    if value is None:
        return ""
    return yaml.safe_dump(to_jsonable(value), allow_unicode=True, sort_keys=False, default_flow_style=False,
                          width=100).rstrip()


templates.env.globals.update(tr=_tr, say=_say)
templates.env.filters.update(local=_local, pretty=_pretty)
templates.env.globals["duration"] = _duration


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the caller's language; a ``?lang=`` choice is remembered."""
    lang = page_lang(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    response = templates.TemplateResponse(request, template, {
        "lang": lang, "zone": _zone(request), "principal": principal,
        "csrf": principal.csrf if principal is not None else "", "path": request.url.path, **context,
    }, status_code=status)
    if request.query_params.get("lang") in (Lang.ZH.value, Lang.EN.value):
        response.set_cookie(LANG_COOKIE, lang.value, max_age=365 * 86400, samesite="lax", path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def console_error(request: Request, exc: Exception, status: int | None = None) -> Response:
    """An error met on a page, as a page: the login form, or what went wrong and how to go on."""
    if isinstance(exc, LoginRequired):
        return RedirectResponse(f"/console/login?{urlencode({'next': exc.back})}", status_code=303)
    if status is None:
        status = exc.status if isinstance(exc, AuthError) else 404 if isinstance(exc, NotFound) else 400
    return render(request, "error.html", status=status, error=exc)


# --- who may see a page ------------------------------------------------------------------------------------

def viewer(request: Request) -> Principal:
    """The dependency of every page: a session (or token) whose role may see it."""
    principal = caller(request)
    if principal is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(back)
    check_role(request, principal)
    return principal


async def changer(request: Request) -> Principal:
    """The dependency of every form that changes something: a role that may, and the session's CSRF token."""
    principal = viewer(request)
    if principal.via == "session":
        check_csrf(principal, str((await form_of(request)).get("csrf", "")), "csrf")
    return principal


async def form_of(request: Request) -> FormData:
    """The posted form; one too big for the parser (a field over 1 MB) is a page that says so."""
    try:
        return await request.form()
    except HTTPException as exc:
        raise HuiliuError(t(f"表单无法读取：{exc.detail}", f"the form cannot be read: {exc.detail}"), where="form",
                          fix=t("缩小提交的内容（每个字段不超过 1 MB）", "send less (at most 1 MB a field)")) from None


def _back_to(next_path: str | None) -> str:
    """Only a console path is a place to go back to after the login (no open redirect)."""
    if next_path and next_path.startswith("/console/"):
        return next_path
    return "/console/"


# --- login, logout, language -------------------------------------------------------------------------------

@public.get("/")
def root() -> RedirectResponse:
    """The hub's address opens the console."""
    return RedirectResponse("/console/", status_code=303)


@router.get("/login")
def login_form(request: Request, next_path: str | None = Query(None, alias="next", max_length=500)) -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", next=_back_to(next_path))


@router.post("/login")
def login(request: Request, name: str = Form(max_length=100), password: str = Form(max_length=500),
          next_path: str = Form("/console/", alias="next", max_length=500)) -> Response:
    """Check the password (lockout and audit as for the API), set the session cookie, go back."""
    try:
        _, cookie = sign_in(request, name, password)
    except LoginRefused as refused:
        status = 429 if refused.retry_after is not None else 401
        return render(request, "login.html", status=status, error=refused, name=name, next=_back_to(next_path))
    response = RedirectResponse(_back_to(next_path), status_code=303)
    set_session(request, response, cookie)
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = Depends(changer)) -> Response:  # noqa: B008
    """End the session."""
    response = RedirectResponse("/console/login", status_code=303)
    end_session(request, response)
    return response


# --- the overview (驾驶舱) -----------------------------------------------------------------------------------

@router.get("/")
def overview_page(request: Request, background: BackgroundTasks,
                  principal: Principal = Depends(viewer)) -> HTMLResponse:  # noqa: B008
    """Today's figures as tiles and charts; the page fetches ``/api/overview`` every few seconds."""
    return render(request, "overview.html", o=overview.overview(request, background))


# --- runs ---------------------------------------------------------------------------------------------------

def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HuiliuError(t(f"日期 {text!r} 无法识别", f"cannot read the date {text!r}"), where=name,
                          fix=t("写成 2026-11-26 这样的格式", "write it as 2026-11-26")) from None


def _day_start(day: date | None, zone: ZoneInfo) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), zone)


@router.get("/runs")
def runs_page(
    request: Request,
    principal: Principal = Depends(viewer),  # noqa: B008
    status: str | None = Query(None, max_length=20),
    flow: str | None = Query(None, max_length=100),
    system: str | None = Query(None, max_length=40),
    key: str | None = Query(None, max_length=200),
    since_text: str | None = Query(None, alias="since", max_length=10),
    until_text: str | None = Query(None, alias="until", max_length=10),
    page: int = Query(1, ge=1, le=100_000),
) -> HTMLResponse:
    """Runs, newest first, with filters: flow, system, status, business key, days (in the hub's zone)."""
    zone = _zone(request)
    hub = hub_of(request)
    since, until = _day(since_text, "since"), _day(until_text, "until")  # a form sends an empty field as ""
    business_key = _business_key(hub, key.strip()) if key and key.strip() else None
    found = api.list_runs(request, status=status or None, flow=flow or None, key=business_key,
                          since=_day_start(since, zone),
                          until=_day_start(until + timedelta(days=1), zone) if until else None,
                          system=system or None, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    items = found["items"]
    query = {k: v for k, v in {"status": status, "flow": flow, "system": system, "key": key,
                               "since": since, "until": until}.items() if v}
    documents = _documents(hub, [r["id"] for r in items[:PAGE_SIZE]])
    return render(request, "runs.html", items=items[:PAGE_SIZE], more=len(items) > PAGE_SIZE, page=page,
                  documents=documents,
                  query=query, query_string=urlencode(query), statuses=api.RUN_STATUSES,
                  flows=sorted(f.id for f in hub.flows), systems=catalog.known_systems(hub))


def _business_key(hub: Hub, typed: str) -> str:
    """What a person typed as a key: an approval's own number (审批单号) finds its instance; else as typed."""
    with hub.db.read() as conn:
        found = conn.execute(select(crosswalk.c.native_id).where(
            crosswalk.c.native_type == "process_instance", crosswalk.c.native_number == typed).limit(1)).scalar()
    return str(found) if found is not None else typed


def _documents(hub: Hub, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each run's document as people know it: the approval's title and number (from its envelope)."""
    if not run_ids:
        return {}
    with hub.db.read() as conn:
        rows = conn.execute(select(runs.c.id, inbox.c.payload).select_from(
            runs.join(inbox, inbox.c.id == runs.c.envelope_id)).where(runs.c.id.in_(run_ids))).all()
    found: dict[str, dict[str, Any]] = {}
    for run_id, payload in rows:
        instance = loads(payload).get("instance")
        if isinstance(instance, dict):
            found[run_id] = {"title": instance.get("title"), "number": instance.get("business_id")}
    return found


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, principal: Principal = Depends(viewer)) -> HTMLResponse:  # noqa: B008
    """One run's trace: each step with its definition (input), output and timing, the external calls."""
    return render(request, "run.html", **_trace(request, run_id))


@router.get("/runs/{run_id}/live")
def run_live(request: Request, run_id: str, principal: Principal = Depends(viewer)) -> HTMLResponse:  # noqa: B008
    """The part of a run's page that changes while it runs (htmx polls it until the run ends)."""
    return render(request, "_trace.html", **_trace(request, run_id))


def _trace(request: Request, run_id: str) -> dict[str, Any]:
    trace = api.get_run(request, run_id)
    run = trace["run"]
    with hub_of(request).db.read() as conn:
        text = conn.execute(select(flow_versions.c.text).where(
            flow_versions.c.flow_id == run["flow_id"], flow_versions.c.digest == run["flow_digest"])).scalar()
    definitions = _step_definitions(text) if text else {}
    live = run["status"] in ("running", "waiting", "compensating")
    return {"run": run, "steps": trace["steps"], "effects": trace["effects"], "events": trace["events"],
            "definitions": definitions, "live": live}


@functools.lru_cache(maxsize=64)
def _step_definitions(text: str) -> dict[str, Any]:
    """A flow version's steps as written, by id (versions never change: parsed once)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        return {}
    return {str(s.get("id")): s for s in document["steps"] if isinstance(s, dict)}


# --- dead letters -------------------------------------------------------------------------------------------

@router.get("/dead-letters")
def dead_letters_page(
    request: Request,
    principal: Principal = Depends(viewer),  # noqa: B008
    reason: str | None = Query(None, max_length=60),
    key: str | None = Query(None, max_length=200),
    closed: bool = Query(False),
    page: int = Query(1, ge=1, le=100_000),
) -> HTMLResponse:
    """Dead letters with their counts by cause (the rule that fails most first)."""
    found = api.list_dead_letters(request, reason=reason or None, key=key or None, include_closed=closed,
                                  limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    counts = sorted(found["counts_by_reason"].items(), key=lambda kv: -kv[1])
    query = {k: v for k, v in {"reason": reason, "key": key, "closed": "true" if closed else None}.items() if v}
    return render(request, "dead_letters.html", items=found["items"][:PAGE_SIZE], causes=found["causes"],
                  more=len(found["items"]) > PAGE_SIZE, page=page, counts=counts, query=query,
                  query_string=urlencode(query), closed=closed)


@router.get("/dead-letters/{dead_id}")
def dead_letter_page(request: Request, dead_id: DeadId, principal: Principal = Depends(viewer),  # noqa: B008
                     done: str | None = Query(None, max_length=20)) -> HTMLResponse:
    """One dead letter as finance reads it: the document, the field, the ERP's message; correct or close it."""
    view = hub_of(request).deadletters.explain(dead_id)
    return render(request, "dead_letter.html", d=view, done=done)


@router.post("/dead-letters/{dead_id}/correct")
async def correct(request: Request, dead_id: DeadId, principal: Principal = Depends(changer)) -> Response:  # noqa: B008
    """Save the corrected fields (only those changed; audited with old and new values) and re-push."""
    form = await form_of(request)
    view = hub_of(request).deadletters.explain(dead_id)
    changes = {f.path: str(form[f"field:{f.path}"]).strip() for f in view.fields
               if f.editable and f"field:{f.path}" in form
               and str(form[f"field:{f.path}"]).strip() != ("" if f.value is None else str(f.value))}
    if not changes:
        raise HuiliuError(t("没有修改任何字段", "no field was changed"), where="form",
                          fix=t("修改标红的字段后再提交；若已在 ERP 手工处理，请用“标记为已手工处理”",
                                "change the field marked in red, then submit; if it was entered in the ERP by hand, "
                                "use “mark handled by hand”"))
    hub_of(request).deadletters.correct(dead_id, changes, note=str(form.get("note", "")), actor=principal.name)
    return RedirectResponse(f"/console/dead-letters/{dead_id}?done=corrected", status_code=303)


@router.post("/dead-letters/{dead_id}/replay")
def replay(request: Request, dead_id: DeadId, principal: Principal = Depends(changer)) -> Response:  # noqa: B008
    """Replay after a fix elsewhere (master data, the flow, the ERP)."""
    hub_of(request).deadletters.replay(DeadLetterFilter(ids=[dead_id]), actor=principal.name)
    return RedirectResponse(f"/console/dead-letters/{dead_id}?done=replayed", status_code=303)


@router.post("/dead-letters/{dead_id}/discard")
def discard(request: Request, dead_id: DeadId, principal: Principal = Depends(changer),  # noqa: B008
            note: str = Form("", max_length=2000)) -> Response:
    """Mark it handled by hand, with the reason (kept for the record)."""
    hub_of(request).deadletters.discard(DeadLetterFilter(ids=[dead_id]), note=note, actor=principal.name)
    return RedirectResponse(f"/console/dead-letters/{dead_id}?done=discarded", status_code=303)


# --- connectors and flows ----------------------------------------------------------------------------------

@router.get("/connectors")
def connectors_page(request: Request, principal: Principal = Depends(viewer)) -> HTMLResponse:  # noqa: B008
    """The configured systems: settings without secrets, actions, the last health check."""
    return render(request, "connectors.html", connectors=health.connector_list(hub_of(request)))


@router.post("/connectors/{name}/check")
async def check_connector(request: Request, name: str, principal: Principal = Depends(changer)) -> Response:  # noqa: B008
    """Check a connector now (a real authenticated call); the page shows the result."""
    await health.connector_check(hub_of(request), name)
    return RedirectResponse(f"/console/connectors#{name}", status_code=303)


@router.get("/flows")
def flows_page(request: Request, principal: Principal = Depends(viewer)) -> HTMLResponse:  # noqa: B008
    """The flows in force."""
    return render(request, "flows.html", flows=catalog.flow_list(hub_of(request)))


@router.post("/flows/validate")
async def validate_flow(request: Request, principal: Principal = Depends(changer)) -> HTMLResponse:  # noqa: B008
    """Check a pasted flow file as the hub would load it: every problem with its line, column and fix."""
    text = str((await form_of(request)).get("text", ""))
    result = catalog.validate_flow_text(hub_of(request), text)
    return render(request, "flows.html", flows=catalog.flow_list(hub_of(request)), checked=result, text=text)


@router.get("/flows/{flow_id}")
def flow_page(request: Request, flow_id: str, principal: Principal = Depends(viewer),  # noqa: B008
              old: str | None = Query(None, max_length=64),
              new: str | None = Query(None, max_length=64)) -> HTMLResponse:
    """One flow: its steps and text, its versions, and the diff between two of them."""
    hub = hub_of(request)
    versions = catalog.flow_versions(hub, flow_id)
    if old is None and len(versions) > 1:
        old = next((v["digest"] for v in versions if not v["current"]), None)
    diff = catalog.flow_diff(hub, flow_id, old, new or None) if old else None
    return render(request, "flow.html", flow=catalog.flow_detail(hub, flow_id), versions=versions, diff=diff)


# --- the audit log ------------------------------------------------------------------------------------------

@router.get("/audit")
def audit_page(request: Request, principal: Principal = Depends(viewer),  # noqa: B008
               actor: str | None = Query(None, max_length=100), page: int = Query(1, ge=1, le=100_000)) -> HTMLResponse:
    """Who changed, replayed or signed in, newest first."""
    rows = audit_entries(request, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, actor=actor or None)
    query_args = {"actor": actor} if actor else {}
    return render(request, "audit.html", items=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page=page,
                  query=query_args, query_string=urlencode(query_args))

