"""Who may call the API: every endpoint refuses an anonymous call and a role without the right, a console
session needs its CSRF token for changes, repeated wrong passwords lock the user, tokens can be revoked,
and every change and login is in the audit log."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from fastapi.routing import APIRoute

from huiliu.cli.demo import DemoStack
from huiliu.identity.accounts import MAX_FAILURES, ROLES, Accounts
from huiliu.web import create_app
from huiliu.web.auth import PERMISSIONS

PUBLIC = {("POST", "/api/auth/login")}


def api_routes(stack: DemoStack) -> list[tuple[str, str]]:
    assert stack.hub is not None
    app = create_app(stack.hub)
    return sorted((method, route.path) for route in app.routes if isinstance(route, APIRoute)
                  and route.path.startswith("/api") for method in route.methods)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def call(http: aiohttp.ClientSession, base: str, method: str, path: str,
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with http.request(method, f"{base}{concrete(path)}", json={} if method == "POST" else None,
                            headers=headers or {}) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body if isinstance(body, dict) else {}


async def test_every_endpoint_refuses_anonymous_callers_and_roles_without_the_right(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        routes = api_routes(stack)
        assert {r for r in routes if r not in PUBLIC} <= set(PERMISSIONS), "an endpoint without a rule"
        base = f"http://127.0.0.1:{stack.port}"
        headers = {role: stack.api_headers(role) for role in ROLES}
        async with aiohttp.ClientSession() as http:
            for method, path in routes:
                if (method, path) in PUBLIC:
                    continue
                status, body = await call(http, base, method, path)
                assert status == 401, (method, path, status)
                assert body["error"] == "unauthorized" and "Bearer" in body["message_en"]
                for role in ROLES:
                    status, body = await call(http, base, method, path, headers[role])
                    allowed = role in PERMISSIONS[(method, path)]
                    assert (status == 403) is (not allowed), (method, path, role, status, body)
                    if not allowed:
                        assert f"role {role} may not" in body["message_en"]
            status, _ = await call(http, base, "GET", "/api/runs", {"Authorization": "Bearer hl_forged"})
            assert status == 401
            async with http.get(f"{base}/healthz") as resp:  # liveness stays public, without details
                assert resp.status == 200 and await resp.json() == {"status": "ok"}
            async with http.get(f"{base}/openapi.json") as resp:
                assert resp.status == 200


async def test_a_console_session_needs_its_csrf_token_and_wrong_passwords_lock_the_user(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        with hub.db.begin() as conn:
            Accounts(hub.clock).add_user(conn, "张会计", "正确的密码-2026", "integrator")
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # a bare IP host
            async with http.post(f"{base}/auth/login", json={"name": "张会计", "password": "正确的密码-2026"}) as resp:
                assert resp.status == 200
                session = await resp.json()
                cookie = resp.cookies["huiliu_session"]
            assert session["role"] == "integrator" and session["csrf"]
            assert cookie["httponly"] and cookie["samesite"].lower() == "strict"
            async with http.get(f"{base}/auth/me") as resp:
                assert await resp.json() == {"name": "张会计", "role": "integrator", "via": "session"}
            async with http.post(f"{base}/dead-letters/replay", json={"reason": "x"}) as resp:
                assert resp.status == 403 and "CSRF" in (await resp.json())["message_en"]
            async with http.post(f"{base}/dead-letters/replay", json={"reason": "x"},
                                 headers={"X-CSRF-Token": session["csrf"]}) as resp:
                assert resp.status == 200 and await resp.json() == {"replayed": []}
            async with http.post(f"{base}/auth/logout", headers={"X-CSRF-Token": session["csrf"]}) as resp:
                assert resp.status == 200
            async with http.get(f"{base}/auth/me") as resp:
                assert resp.status == 401  # the session is gone

        async with aiohttp.ClientSession() as http:
            for _ in range(MAX_FAILURES):
                async with http.post(f"{base}/auth/login", json={"name": "张会计", "password": "错的"}) as resp:
                    assert resp.status == 401
                    assert (await resp.json())["message"].startswith("用户名或密码不正确")
            async with http.post(f"{base}/auth/login", json={"name": "张会计", "password": "正确的密码-2026"}) as resp:
                assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0  # locked, even when right
            async with http.post(f"{base}/auth/login", json={"name": "nobody", "password": "x"}) as resp:
                assert resp.status == 401  # the same answer as a wrong password: names are not revealed
            async with http.post(f"{base}/auth/login", json={"name": "", "password": "x", "extra": 1}) as resp:
                assert resp.status == 422


async def test_changes_are_audited_and_a_revoked_token_stops_working(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        operator = stack.api_token("integrator")
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession() as http:
            bearer = {"Authorization": f"Bearer {operator}"}
            async with http.post(f"{base}/dead-letters/replay", json={"key": "实例-1"}, headers=bearer) as resp:
                assert resp.status == 200
            async with http.get(f"{base}/audit", headers=stack.api_headers("auditor")) as resp:
                [entry] = [e for e in (await resp.json())["items"] if e["actor"] == "demo-integrator"]
            assert entry["action"] == "POST /api/dead-letters/replay" and entry["outcome"] == "ok"
            assert entry["detail"]["via"] == "token"
            with hub.db.begin() as conn:
                assert Accounts(hub.clock).revoke_token(conn, operator) == 1
            async with http.get(f"{base}/runs", headers=bearer) as resp:
                assert resp.status == 401


@pytest.mark.sqlite_only
async def test_who_calls_is_read_without_waiting_for_the_writers(make_stack: Callable[..., DemoStack]) -> None:
    """Every request and page looks its caller up: with SQLite's write lock held by a worker, it still answers."""
    async with make_stack(worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        with hub.db.begin() as conn:
            Accounts(hub.clock).add_user(conn, "郑主管", "正确的密码-2026", "viewer")
        base = f"http://127.0.0.1:{stack.port}/api"
        bearer = stack.api_headers("viewer")
        path = hub.settings.database_url.removeprefix("sqlite:///")
        quick = aiohttp.ClientTimeout(total=5)  # the busy timeout a write would wait is 30 s
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=quick) as http:
            async with http.post(f"{base}/auth/login", json={"name": "郑主管", "password": "正确的密码-2026"}) as resp:
                assert resp.status == 200
            async with http.get(f"{base}/auth/me", headers=bearer) as resp:
                assert resp.status == 200  # the token's first use is recorded now; the next is not due yet
            writer = sqlite3.connect(path, timeout=0)
            try:
                writer.execute("BEGIN IMMEDIATE")  # a worker in the middle of a transaction
                async with http.get(f"{base}/auth/me") as resp:
                    assert resp.status == 200 and (await resp.json())["via"] == "session"
                async with http.get(f"{base}/auth/me", headers=bearer) as resp:
                    assert resp.status == 200 and (await resp.json())["via"] == "token"
            finally:
                writer.rollback()
                writer.close()
