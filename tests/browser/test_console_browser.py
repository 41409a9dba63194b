"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

A demo day runs through the sandboxes, with one claim whose 培训费 line Kingdee refuses. Finance logs in,
sees the overview count the day's approvals (and a new one arrive without reloading), opens a run's
trace, corrects the refused account on the dead letter and sees the run succeed, and switches to English.
Screenshots of each page are saved under ``var/screenshots/`` (``HUILIU_SCREENSHOTS``) to look at.

Never ``playwright install``: the browser is the system's (``apt-get install chromium fonts-wqy-zenhei``,
which ``scripts/test`` does when it can).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huiliu.cli.demo import DemoStack
from huiliu.identity.accounts import Accounts
from huiliu.sandbox.company import ClaimSpec, ExpenseItem
from huiliu.sandbox.faults import Fault, FaultKind
from huiliu.store.schema import runs

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

CHROMIUM = os.environ.get("HUILIU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("HUILIU_SCREENSHOTS", Path(__file__).resolve().parents[2] / "var" / "screenshots"))
PASSWORD = "财务共享中心-口令-2026"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
TIMEOUT = 20_000  # ms: the machine may be busy


def _unavailable(what: str) -> None:
    message = f"{what} — scripts/test installs it (apt-get install chromium fonts-wqy-zenhei; pip install playwright)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not HAVE_CHROMIUM:
        _unavailable(f"no Chromium at {CHROMIUM}")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield chromium
        finally:
            await chromium.close()


def claim(stack: DemoStack, i: int) -> ClaimSpec:
    employee = stack.company.employees[i % len(stack.company.employees)]
    return ClaimSpec(employee, f"{employee.name}的差旅报销", (
        ExpenseItem("差旅费", Decimal(f"{300 + i}.80"), "上海—深圳高铁"),), "approved")


async def run_of(stack: DemoStack, key: str) -> str:
    """The id of the run of ``key``, once the worker has started it."""
    assert stack.hub is not None
    for _ in range(400):
        with stack.hub.db.read() as conn:
            found = conn.execute(select(runs.c.id).where(runs.c.business_key == key)).scalar()
        if found is not None:
            return str(found)
        await asyncio.sleep(0.025)
    raise AssertionError(f"no run of {key}")


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_finance_logs_in_watches_the_overview_reads_a_trace_fixes_a_dead_letter_and_switches_language(
        make_stack: Callable[..., DemoStack], browser: Any) -> None:
    async with make_stack() as stack:
        hub = stack.hub
        assert hub is not None
        [mistake] = stack.plan_mistakes(1)
        keys = [stack.submit(claim(stack, i)) for i in range(5)]
        bad_key = stack.submit(mistake)
        assert await stack.settle(expected_runs=6, timeout=60)
        with hub.db.begin() as conn:
            Accounts(hub.clock).add_user(conn, "张会计", PASSWORD, "integrator")
        base = f"http://127.0.0.1:{stack.port}"
        context = await browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 1000})
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))

        # log in: the console sends an anonymous visitor to the form, then back
        await page.goto(f"{base}/console/")
        assert "/console/login" in page.url
        await shot(page, "01-login")
        await page.fill("input[name=name]", "张会计")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console/")

        # the overview: the day's real numbers, charts drawn, a new approval shown without a reload
        assert await page.text_content('[data-key="approvals_today"]') == "6"
        assert await page.text_content('[data-key="documents_today"]') == "5"
        assert await page.text_content('[data-key="dead_letters_open"]') == "1"
        await page.wait_for_selector("#chart-throughput canvas")
        assert await page.is_hidden("#no-charts")
        await shot(page, "02-overview")
        keys.append(stack.submit(claim(stack, 9)))
        await page.wait_for_function(
            "document.querySelector('[data-key=\"approvals_today\"]').textContent === '7'", timeout=TIMEOUT)
        assert await page.text_content('[data-key="documents_today"]') in ("5", "6")

        # runs, and one run's trace
        await page.click("nav >> text=运行")
        await page.wait_for_selector("#runs")
        assert await page.locator("#runs tbody tr").count() == 7
        await shot(page, "03-runs")
        await page.fill("input[name=key]", keys[0])
        await page.click("form.filters button[type=submit]")
        await page.wait_for_selector(f"#runs >> text={keys[0]}")
        assert await page.locator("#runs tbody tr").count() == 1
        await page.click("#runs tbody tr a >> nth=0")
        await page.wait_for_selector("#trace")
        assert "kingdee.voucher.create" in await page.text_content("#effects")
        assert await page.locator("#events tr.call").count() > 0  # the HTTP calls made, each with its time
        await shot(page, "04-trace")

        # a run in flight: its page follows it without a reload (Kingdee's Save takes 3 s this once)
        stack.kd.faults.script("save", Fault(FaultKind.SLOW, delay=3.0))
        slow_key = stack.submit(claim(stack, 11))
        run_id = await run_of(stack, slow_key)
        await page.goto(f"{base}/console/runs/{run_id}")
        await page.evaluate("window.samePage = true")
        assert await page.is_visible("text=实时更新中")
        await page.wait_for_selector("#run-status >> text=成功", timeout=TIMEOUT)
        assert await page.evaluate("window.samePage === true")  # updated in place, not reloaded
        assert await page.is_hidden("text=实时更新中")  # and no longer polled

        # the dead letter: the document, the field and Kingdee's own words; correct, re-push, succeed
        await page.click("nav >> text=死信")
        await page.wait_for_selector("#causes")
        assert "ERP 拒绝" in await page.text_content("#causes")  # the cause in words finance uses
        await shot(page, "05-dead-letters")
        await page.click("#dead-letters tbody a >> nth=0")
        await page.wait_for_selector("#correct")
        message = await page.text_content("#vendor-message")
        assert "不存在" in message and "科目" in message
        document = await page.text_content("#document")
        assert mistake.employee.name in document and str(mistake.total) in document
        named = page.locator("#correct input.named")
        assert await named.count() == 1
        await shot(page, "06-dead-letter")
        await named.fill("6602.01")
        await page.fill("#correct input[name=note]", "培训费暂记入差旅费科目，待开设 6602.08")
        await page.click("#correct button[type=submit]")
        await page.wait_for_selector("#done")
        assert await stack.settle(expected_runs=8, timeout=60)
        with hub.db.read() as conn:
            statuses = {r.business_key: r.status for r in conn.execute(select(runs.c.business_key, runs.c.status))}
        assert statuses[bad_key] == "succeeded"
        await page.reload()
        assert "已重放" in await page.text_content("#dl-status")
        training = str(mistake.items[1].amount)
        fixed = [v for v in stack.kd.vouchers.values() if training in str(v.model)]
        assert len(fixed) == 1 and "6602.01" in str(fixed[0].model)  # once, on the corrected account
        await shot(page, "07-dead-letter-fixed")

        # English, remembered from page to page
        await page.click("#lang-switch")
        await page.wait_for_selector("text=Dead letters")
        await page.click("nav >> text=Overview")
        await page.wait_for_selector("text=Approvals handled today")
        assert await page.text_content('[data-key="dead_letters_open"]') == "0"
        await shot(page, "08-overview-en")
        assert all(u.startswith(base) for u in requests), [u for u in requests if not u.startswith(base)]
        await context.close()
