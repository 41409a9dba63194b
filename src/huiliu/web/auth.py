"""Who may call what: API tokens and console sessions, roles on every endpoint, CSRF, the audit log.

Every ``/api`` endpoint needs a caller: ``Authorization: Bearer <token>`` (scripts) or the session cookie
of a console login. A session's unsafe calls (POST, PUT, PATCH, DELETE) must carry its CSRF token in
``X-CSRF-Token``; a token needs none (no browser sends it by itself). Each endpoint's roles are in
:data:`PERMISSIONS`, one table, so what a role may do is read in one place; an endpoint missing from it
is refused to everyone but ``admin``. Every change through the API (and every login) is audited.

Public: the vendors' webhooks (signed by the vendor), ``/api/auth/login``, ``/healthz`` (liveness only)
and ``/openapi.json``.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from huiliu.errors import HuiliuError
from huiliu.i18n import Text, t
from huiliu.identity.accounts import SESSION_HOURS, Accounts, LoginRefused, Principal
from huiliu.store import loads
from huiliu.store.schema import audit_log
from huiliu.web.common import hub_of
from huiliu.web.errors import error_body

__all__ = ["COOKIE", "PERMISSIONS", "AuditMiddleware", "AuthError", "audit_entries", "audit_router",
           "auth_error_response", "auth_router", "authorize", "caller", "check_csrf", "check_role", "end_session",
           "public_router", "set_session", "sign_in"]

COOKIE = "huiliu_session"
READ = frozenset({"viewer", "auditor", "integrator", "admin"})
OPERATE = frozenset({"integrator", "admin"})
AUDIT = frozenset({"auditor", "admin"})
ADMIN = frozenset({"admin"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PERMISSIONS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/health"): READ,
    ("GET", "/api/summary"): READ,
    ("GET", "/api/runs"): READ,
    ("GET", "/api/runs/{run_id}"): READ,
    ("GET", "/api/dead-letters"): READ,
    ("GET", "/api/dead-letters/{dead_id}"): READ,
    ("POST", "/api/dead-letters/{dead_id}/replay"): OPERATE,
    ("POST", "/api/dead-letters/replay"): OPERATE,
    ("POST", "/api/dead-letters/{dead_id}/discard"): OPERATE,
    ("POST", "/api/flows/{flow_id}/redrive"): OPERATE,
    ("POST", "/api/flows/{flow_id}/start"): OPERATE,
    ("GET", "/api/dead-letters/{dead_id}/explain"): READ,
    ("POST", "/api/dead-letters/{dead_id}/correct"): OPERATE,
    ("GET", "/api/overview"): READ,
    ("GET", "/api/flows"): READ,
    ("GET", "/api/flows/{flow_id}"): READ,
    ("GET", "/api/flows/{flow_id}/versions"): READ,
    ("GET", "/api/flows/{flow_id}/diff"): READ,
    ("POST", "/api/flows/validate"): OPERATE,
    ("GET", "/api/connectors"): READ,
    ("POST", "/api/connectors/{name}/check"): OPERATE,
    ("GET", "/api/crosswalk"): READ,
    ("GET", "/api/events"): READ,
    ("GET", "/api/messages"): READ,
    ("GET", "/api/messages/{message_id}"): READ,
    ("GET", "/api/audit"): AUDIT,
    # the console's pages (anonymous: the login form; a role without the right: a 403 page)
    ("GET", "/console/"): READ,
    ("GET", "/console/runs"): READ,
    ("GET", "/console/runs/{run_id}"): READ,
    ("GET", "/console/runs/{run_id}/live"): READ,
    ("GET", "/console/dead-letters"): READ,
    ("GET", "/console/dead-letters/{dead_id}"): READ,
    ("POST", "/console/dead-letters/{dead_id}/replay"): OPERATE,
    ("POST", "/console/dead-letters/{dead_id}/discard"): OPERATE,
    ("POST", "/console/dead-letters/{dead_id}/correct"): OPERATE,
    ("GET", "/console/connectors"): READ,
    ("POST", "/console/connectors/{name}/check"): OPERATE,
    ("GET", "/console/flows"): READ,
    ("GET", "/console/flows/{flow_id}"): READ,
    ("POST", "/console/flows/validate"): OPERATE,
    ("GET", "/console/audit"): AUDIT,
    ("POST", "/console/logout"): READ,
    ("GET", "/api/auth/me"): READ,
    ("POST", "/api/auth/logout"): READ,
}
"""(method, route path) → the roles allowed. Anything else under /api: admin only."""


class AuthError(HuiliuError):
    """Not signed in (401), not allowed (403), or a missing CSRF token (403)."""

    kind = "unauthorized"

    def __init__(self, what: Text, *, status: int, where: str | None = None, fix: Text | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(what, where=where, fix=fix)
        self.status = status
        self.headers = headers


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def caller(request: Request) -> Principal | None:
    """Who calls: the bearer token's user, or the console session's, or ``None``.

    Looked up with a read (every request and every page does this: on SQLite a write transaction would
    queue behind the workers); a token's last use is written at most once a minute.
    """
    accounts = _accounts(request)
    header = request.headers.get("authorization", "")
    with hub_of(request).db.read() as conn:
        if header.lower().startswith("bearer "):
            principal = accounts.by_token(conn, header[7:].strip())
        elif request.cookies.get(COOKIE):
            principal = accounts.by_session(conn, request.cookies[COOKIE])
        else:
            return None
    if principal is not None and principal.token_id is not None:
        with hub_of(request).db.begin() as conn:
            accounts.touch(conn, principal)
    return principal


def check_csrf(principal: Principal, sent: str, where: str) -> None:
    """Refuse (403) a session's change without its CSRF token (a token's calls need none)."""
    if principal.via == "session" and not secrets.compare_digest(sent, principal.csrf or ""):
        raise AuthError(t("缺少或错误的 CSRF 令牌", "missing or wrong CSRF token"), status=403, where=where,
                        fix=t("随请求带上登录时得到的 csrf（控制台：刷新页面后重新提交）",
                              "send the csrf value the login returned (console: reload the page and submit again)"))


def authorize(request: Request) -> Principal:
    """The dependency on every protected route: who calls, and whether their role may."""
    principal = caller(request)
    if principal is None:
        raise AuthError(t("未登录或令牌无效", "not signed in, or the token is not valid"), status=401,
                        where="Authorization", fix=t("在控制台登录，或带上 Authorization: Bearer <令牌>",
                                                     "sign in to the console, or send Authorization: Bearer <token>"))
    if request.method in UNSAFE:
        check_csrf(principal, request.headers.get("x-csrf-token", ""), "X-CSRF-Token")
    check_role(request, principal)
    return principal


def check_role(request: Request, principal: Principal) -> None:
    """Refuse (403) a caller whose role may not call this route; remember the caller for the audit."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    allowed = PERMISSIONS.get((request.method, path), frozenset({"admin"}))
    if principal.role not in allowed:
        raise AuthError(t(f"角色 {principal.role} 无权执行 {request.method} {path}",
                          f"role {principal.role} may not {request.method} {path}"), status=403, where=path,
                        fix=t(f"需要以下角色之一：{', '.join(sorted(allowed))}",
                              f"needs one of: {', '.join(sorted(allowed))}"))
    request.state.principal = principal


_NOT_AUDITED = ("/api/auth/", "/console/login", "/console/logout")  # logins are audited by Accounts


class AuditMiddleware(BaseHTTPMiddleware):
    """Record every change made through the API: who, what, on which path, with which outcome."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Call, then audit an unsafe call that got past authorization."""
        response = await call_next(request)
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is not None and request.method in UNSAFE and not request.url.path.startswith(_NOT_AUDITED):
            route = request.scope.get("route")
            with hub_of(request).db.begin() as conn:
                _accounts(request).audit(
                    conn, actor=principal.name, action=f"{request.method} {getattr(route, 'path', '')}",
                    target=request.url.path, outcome="ok" if response.status_code < 400 else str(response.status_code),
                    detail={"via": principal.via, "status": response.status_code})
        return response


def auth_error_response(exc: AuthError) -> JSONResponse:
    """The reply to an :class:`AuthError`."""
    headers = {**({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}), **(exc.headers or {})}
    return JSONResponse(status_code=exc.status, content=error_body(exc), headers=headers or None)


class LoginRequest(BaseModel):
    """A console login."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=500)


public_router = APIRouter(tags=["auth"])
auth_router = APIRouter(prefix="/api/auth", tags=["auth"])
audit_router = APIRouter(prefix="/api", tags=["api"])


@public_router.get("/healthz", summary="Liveness (no details; /api/health has them)")
def healthz() -> dict[str, str]:
    """Always ``ok`` while the process serves."""
    return {"status": "ok"}


def sign_in(request: Request, name: str, password: str) -> tuple[Principal, str]:
    """Check a password; the principal and its session cookie value.

    Raises:
        LoginRefused: as :meth:`Accounts.login` says, after the refusal is committed (its count locks the
            user, its audit row stays).
    """
    refused: LoginRefused | None = None
    with hub_of(request).db.begin() as conn:
        try:
            return _accounts(request).login(conn, name, password)
        except LoginRefused as exc:
            refused = exc
    raise refused


def set_session(request: Request, response: Response, cookie: str) -> None:
    """Give the browser its session cookie: HTTP only, same site, secure over HTTPS, 12 hours."""
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        max_age=SESSION_HOURS * 3600, path="/")


def end_session(request: Request, response: Response) -> None:
    """Forget the caller's session, on the server and in the browser."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        with hub_of(request).db.begin() as conn:
            _accounts(request).logout(conn, cookie)
    response.delete_cookie(COOKIE, path="/")


@auth_router.post("/login", summary="Sign in to the console: a session cookie and its CSRF token")
def login(request: Request, response: Response, body: LoginRequest) -> dict[str, Any]:
    """Check the password; lock after repeated failures (429 with Retry-After)."""
    try:
        principal, cookie = sign_in(request, body.name, body.password)
    except LoginRefused as refused:
        if refused.retry_after is not None:
            raise AuthError(refused.what, status=429, where="login", fix=refused.fix,
                            headers={"Retry-After": str(int(refused.retry_after) + 1)}) from None
        raise AuthError(refused.what, status=401, where="login", fix=refused.fix) from None
    set_session(request, response, cookie)
    return {"name": principal.name, "role": principal.role, "csrf": principal.csrf}


@auth_router.post("/logout", summary="End the console session")
def logout(request: Request, response: Response, principal: Principal = Depends(authorize)) -> dict[str, Any]:  # noqa: B008
    """Forget the session."""
    end_session(request, response)
    return {"signed_out": principal.name}


@auth_router.get("/me", summary="Who is calling")
def me(principal: Principal = Depends(authorize)) -> dict[str, Any]:  # noqa: B008
    """The caller's name, role and how they signed in."""
    return {"name": principal.name, "role": principal.role, "via": principal.via}


def audit_entries(request: Request, *, limit: int, offset: int = 0, actor: str | None = None) -> list[dict[str, Any]]:
    """The audit log, newest first (the API and the console's page)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    with hub_of(request).db.read() as conn:
        rows = conn.execute(query).all()
    return [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "target": r.target,
             "outcome": r.outcome, "detail": loads(r.detail) if r.detail else None} for r in rows]


@audit_router.get("/audit", summary="The audit log, newest first: who changed or replayed what")
def audit(request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
          actor: str | None = Query(None, max_length=100)) -> dict[str, Any]:
    """Logins and every change made through the API."""
    return {"items": audit_entries(request, limit=limit, offset=offset, actor=actor)}
