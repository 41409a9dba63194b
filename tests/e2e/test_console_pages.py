"""The console's pages over HTTP: each needs a session and a role, forms need the CSRF token, the login
form locks and never redirects off the console, the pages show what the hub did, in Chinese or English.

(The same pages in a real browser: tests/browser/.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import urlencode

import aiohttp
from fastapi.routing import APIRoute
from sqlalchemy import select

from huiliu.cli.demo import DemoStack
from huiliu.identity.accounts import MAX_FAILURES, ROLES, Accounts
from huiliu.sandbox.company import ClaimSpec, ExpenseItem
from huiliu.service import TEMPLATES
from huiliu.store.schema import audit_log
from huiliu.web import create_app
from huiliu.web.auth import PERMISSIONS

PASSWORD = "控制台-密码-2026"
PUBLIC_PAGES = {("GET", "/console/login"), ("POST", "/console/login")}


def console_routes(stack: DemoStack) -> list[tuple[str, str]]:
    assert stack.hub is not None
    app = create_app(stack.hub)
    return sorted((method, route.path) for route in app.routes if isinstance(route, APIRoute)
                  and route.path.startswith("/console") for method in route.methods)


def add_user(stack: DemoStack, name: str, role: str) -> None:
    assert stack.hub is not None
    with stack.hub.db.begin() as conn:
        Accounts(stack.hub.clock).add_user(conn, name, PASSWORD, role)


async def sign_in(http: aiohttp.ClientSession, base: str, name: str) -> str:
    """Log in through the form; the session's CSRF token, read from the page as a browser would."""
    async with http.post(f"{base}/console/login", data={"name": name, "password": PASSWORD, "next": "/console/runs"},
                         allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/console/runs"
    async with http.get(f"{base}/console/runs") as resp:
        assert resp.status == 200
        match = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert match is not None
    return match.group(1)


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # the hub listens on a bare IP


async def test_every_page_needs_a_session_and_a_role_and_forms_need_the_csrf_token(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        routes = console_routes(stack)
        assert {r for r in routes if r not in PUBLIC_PAGES} <= set(PERMISSIONS), "a page without a rule"
        base = f"http://127.0.0.1:{stack.port}"
        async with aiohttp.ClientSession() as http:
            for method, path in routes:
                if (method, path) in PUBLIC_PAGES:
                    continue
                concrete = re.sub(r"\{[^}]+\}", "1", path)
                async with http.request(method, f"{base}{concrete}", allow_redirects=False) as resp:
                    assert resp.status == 303, (method, path, resp.status)
                    assert resp.headers["Location"].startswith("/console/login?next=")
        for role in ROLES:
            add_user(stack, f"{role}-用户", role)
            async with aiohttp.ClientSession(cookie_jar=jar()) as http:
                csrf = await sign_in(http, base, f"{role}-用户")
                for method, path in routes:
                    if (method, path) in PUBLIC_PAGES or path == "/console/logout":
                        continue
                    concrete = re.sub(r"\{[^}]+\}", "1", path)
                    data = {"csrf": csrf, "note": "x"} if method == "POST" else None
                    async with http.request(method, f"{base}{concrete}", data=data, allow_redirects=False) as resp:
                        body = await resp.text()
                        allowed = role in PERMISSIONS[(method, path)]
                        assert (resp.status == 403) is (not allowed), (method, path, role, resp.status)
                        assert resp.status < 500, (method, path, body[:500])
                        assert resp.headers["Content-Type"].startswith("text/html")
                        if not allowed:
                            assert f"角色 {role} 无权" in body
                    if method == "POST" and allowed:  # the same form without the session's token
                        async with http.post(f"{base}{concrete}", data={"note": "x"}, allow_redirects=False) as resp:
                            assert resp.status == 403 and "CSRF" in await resp.text()
                async with http.post(f"{base}/console/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
                    assert resp.status == 303
                async with http.get(f"{base}/console/runs", allow_redirects=False) as resp:
                    assert resp.status == 303  # signed out


async def test_the_login_form_refuses_wrong_passwords_locks_and_goes_back_only_into_the_console(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        add_user(stack, "王出纳", "viewer")
        base = f"http://127.0.0.1:{stack.port}"
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            async with http.post(f"{base}/console/login", data={"name": "王出纳", "password": PASSWORD,
                                                                "next": "https://evil.example/"},
                                 allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/console/"
            async with http.post(f"{base}/console/login", data={"name": "王出纳", "password": PASSWORD,
                                                                "next": "//evil.example/x"},
                                 allow_redirects=False) as resp:
                assert resp.headers["Location"] == "/console/"
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            for _ in range(MAX_FAILURES):
                async with http.post(f"{base}/console/login", data={"name": "王出纳", "password": "错"}) as resp:
                    assert resp.status == 401
                    assert "用户名或密码不正确" in await resp.text()
            async with http.post(f"{base}/console/login", data={"name": "王出纳", "password": PASSWORD}) as resp:
                assert resp.status == 429  # locked even with the right password
            async with http.post(f"{base}/console/login", data={"name": "王出纳"}) as resp:
                assert resp.status == 422 and "password" in await resp.text()  # a form without a field: a page
            async with http.get(f"{base}/console/login?lang=en") as resp:
                text = await resp.text()
                assert "Sign in to the huiliu console" in text and resp.cookies["huiliu_lang"].value == "en"


async def test_the_pages_show_the_runs_their_traces_and_switch_language(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        specs = [ClaimSpec(e, "出差报销", (ExpenseItem("差旅费", Decimal(f"{100 + i}.50"), "高铁"),), "approved")
                 for i, e in enumerate(stack.company.employees[:3])]
        keys = [stack.submit(s) for s in specs]
        assert await stack.settle(expected_runs=3, timeout=60)
        add_user(stack, "李集成", "integrator")
        base = f"http://127.0.0.1:{stack.port}"
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            await sign_in(http, base, "李集成")
            async with http.get(f"{base}/console/runs") as resp:
                page = await resp.text()
            for key in keys:
                assert key in page
            assert page.count('class="badge s-succeeded"') == 3 and "成功" in page
            run_id = re.findall(r'href="/console/runs/([0-9a-f-]{36})"', page)[0]
            async with http.get(f"{base}/console/runs/{run_id}") as resp:
                trace = await resp.text()
            assert "kingdee.voucher.create" in trace and "对外调用" in trace
            assert "输入（步骤定义）" in trace and "entity: employee" in trace  # the step as written
            assert 'hx-trigger="every 2s"' not in trace  # a finished run is not polled
            async with http.get(f"{base}/console/runs?key={keys[0]}&status=succeeded") as resp:
                page = await resp.text()
            assert keys[0] in page and keys[1] not in page
            async with http.get(f"{base}/console/runs?status=failed") as resp:
                assert "没有符合条件的运行" in await resp.text()
            async with http.get(f"{base}/console/runs?status=nonsense") as resp:
                assert resp.status == 400 and "未知状态" in await resp.text()
            async with http.get(f"{base}/console/runs/no-such-run") as resp:
                assert resp.status == 404 and "不存在" in await resp.text()
            async with http.get(f"{base}/console/") as resp:
                page = await resp.text()
            assert 'data-key="approvals_today">3<' in page and 'data-key="documents_today">3<' in page
            assert "/console/static/vendor/echarts.min.js" in page
            async with http.get(f"{base}/console/static/vendor/echarts.min.js") as resp:
                assert resp.status == 200 and len(await resp.read()) > 500_000  # served by the hub, no CDN
            number = stack.ding.instances[keys[1]].business_id  # 审批单号, what finance has at hand
            async with http.get(f"{base}/console/runs?key={number}") as resp:
                page = await resp.text()
            assert keys[1] in page and keys[0] not in page and number in page
            assert f"{specs[1].employee.name}提交的报销申请" in page  # the document as people know it
            async with http.get(f"{base}/console/runs?lang=en") as resp:
                assert "Approval no. or business key" in await resp.text()
            async with http.get(f"{base}/console/runs") as resp:  # the choice is remembered
                text = await resp.text()
                assert "Approval no. or business key" in text and "审批单号" not in text


async def test_connectors_show_their_health_and_flows_their_versions(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        add_user(stack, "赵运维", "integrator")
        add_user(stack, "钱看板", "viewer")
        base = f"http://127.0.0.1:{stack.port}"
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            csrf = await sign_in(http, base, "赵运维")
            async with http.get(f"{base}/console/connectors") as resp:
                page = await resp.text()
            assert 'id="kingdee"' in page and 'id="dingtalk"' in page and "未检查" in page
            assert stack.settings.kingdee is not None
            assert stack.settings.kingdee.password.get_secret_value() not in page  # never a secret
            async with http.post(f"{base}/console/connectors/kingdee/check", data={"csrf": csrf}) as resp:
                page = await resp.text()  # back on the list, with the result of a real login to the sandbox
            row = page[page.index('id="kingdee"'):].split("</tr>")[0]
            assert "正常" in row and " ms" in row
            async with http.post(f"{base}/console/connectors/nothing/check", data={"csrf": csrf}) as resp:
                assert resp.status == 404 and "未配置" in await resp.text()
            assert stack.hub is not None
            with stack.hub.db.read() as conn:  # a change made on a page is audited like one through the API
                audited = conn.execute(select(audit_log.c.action, audit_log.c.outcome).where(
                    audit_log.c.actor == "赵运维", audit_log.c.action.like("POST /console/%"))).all()
            assert sorted(audited) == [("POST /console/connectors/{name}/check", "404"),
                                       ("POST /console/connectors/{name}/check", "ok")]
            async with http.get(f"{base}/console/flows") as resp:
                page = await resp.text()
            assert "expense-claim-to-voucher" in page and "kingdee" in page
            async with http.get(f"{base}/console/flows/expense-claim-to-voucher") as resp:
                page = await resp.text()
            assert "生效中" in page, re.findall(r"role=.alert.>[^<]*|<code>[^<]*", page)
            assert "kingdee.voucher.create" in page and 'id="diff"' not in page
            async with http.get(f"{base}/console/flows/no_such_flow") as resp:
                assert resp.status == 404 and "未加载" in await resp.text()
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            csrf = await sign_in(http, base, "钱看板")
            async with http.get(f"{base}/console/connectors") as resp:
                assert "立即检查" not in await resp.text()  # a viewer is not offered what it may not do
            async with http.post(f"{base}/console/connectors/kingdee/check", data={"csrf": csrf}) as resp:
                assert resp.status == 403


async def test_a_filter_form_with_empty_fields_and_a_bad_date(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        add_user(stack, "孙审计", "auditor")
        base = f"http://127.0.0.1:{stack.port}"
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            await sign_in(http, base, "孙审计")
            async with http.get(f"{base}/console/runs?flow=&system=&status=&key=&since=&until=") as resp:
                assert resp.status == 200  # what a browser sends for a form left empty
            async with http.get(f"{base}/console/runs?since=2026-13-01") as resp:
                assert resp.status == 400 and "2026-11-26" in await resp.text()
            async with http.get(f"{base}/console/dead-letters?reason=&key=") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/console/dead-letters/99999999999999999999") as resp:
                assert resp.status == 422 and "dead_id" in await resp.text()  # a page, not a database error
            async with http.get(f"{base}/console/dead-letters/7") as resp:
                assert resp.status == 404 and "死信 7 不存在" in await resp.text()
            async with http.get(f"{base}/console/audit") as resp:
                assert resp.status == 200 and "孙审计" in await resp.text()  # the login is in the audit log


async def test_dead_letters_show_where_it_fails_most(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack() as stack:
        mistakes = stack.plan_mistakes(2)
        for spec in mistakes:
            stack.submit(spec)
        stack.submit(ClaimSpec(stack.company.employees[0], "差旅", (ExpenseItem("差旅费", Decimal("10.00"), "x"),),
                               "approved"))
        assert await stack.settle(expected_runs=3, timeout=60)
        base = f"http://127.0.0.1:{stack.port}"
        async with aiohttp.ClientSession() as http, http.get(f"{base}/api/dead-letters",
                                                             headers=stack.api_headers("viewer")) as resp:
            body = await resp.json()
        [cause] = body["causes"]  # two refusals of the same field in the same step: one cause, counted twice
        assert (cause["count"], cause["flow"], cause["action"], cause["field"], cause["label"]["zh"]) == (
            2, "expense-claim-to-voucher", "kingdee.voucher.create", "FACCOUNTID", "科目")
        assert "6602.08" in cause["message"] and cause["example"] == max(d["id"] for d in body["items"])
        add_user(stack, "周财务", "viewer")
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            await sign_in(http, base, "周财务")
            async with http.get(f"{base}/console/dead-letters") as resp:
                page = await resp.text()
        table = page[page.index('id="top-causes"'):].split("</table>")[0]
        assert "<strong>2</strong>" in table and "科目" in table and "ERP 拒绝" in table


async def test_an_integrator_checks_a_flow_file_on_the_page(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        add_user(stack, "吴实施", "integrator")
        base = f"http://127.0.0.1:{stack.port}"
        template = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
        typo = template.replace("call: kingdee.voucher.create", "call: kingdee.vouchr.create")
        line = next(i for i, text in enumerate(typo.splitlines(), 1) if "kingdee.vouchr.create" in text)
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            csrf = await sign_in(http, base, "吴实施")
            async with http.get(f"{base}/console/flows") as resp:
                assert 'id="validate"' in await resp.text()
            async with http.post(f"{base}/console/flows/validate", data={"csrf": csrf, "text": template}) as resp:
                assert "有效：可以加载" in await resp.text()
            async with http.post(f"{base}/console/flows/validate", data={"csrf": csrf, "text": typo}) as resp:
                page = await resp.text()
            result = page[page.index('id="validation"'):]
            assert f'<td class="num">{line}</td>' in result and "kingdee.vouchr.create" in result
            async with http.post(f"{base}/console/flows/validate",
                                 data={"csrf": csrf, "text": "a: &x [*x, *x]\n" * 3}) as resp:
                assert resp.status == 200 and 'id="validation"' in await resp.text()  # hostile YAML: an answer
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            too_long = io.BytesIO(urlencode({"csrf": csrf, "text": "a" * 1_000_001}).encode())  # streamed
            async with http.post(f"{base}/console/flows/validate", data=too_long, headers=form) as resp:
                assert resp.status == 400 and "流程文本过长" in await resp.text()  # refused, not written anywhere
            too_big = io.BytesIO(urlencode({"csrf": csrf, "text": "#" * 400_000}).encode())  # 1.2 MB encoded
            async with http.post(f"{base}/console/flows/validate", data=too_big, headers=form) as resp:
                page = await resp.text()
                assert resp.status == 400 and "表单无法读取" in page and resp.content_type == "text/html"
