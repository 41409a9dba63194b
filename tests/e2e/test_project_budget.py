"""Scenario 7, project budget vs ERP actuals, end to end through the Kingdee sandbox: budgets set by the
project_budget_set template (Kingdee project ensured, budget held by the hub), costs posted in Kingdee with
the project dimension, the daily project_budget_check template on its schedule; one alert per level and
budget, a raised budget re-arms; bad input is a clear error and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from huiliu.cli.demo import DemoStack
from huiliu.connectors import ActionContext
from huiliu.errors import MappingError
from huiliu.i18n import Lang
from huiliu.store import loads
from huiliu.store.schema import event_log, inbox, project_budgets, runs

SET = "project-budget-set"
CHECK = "project-budget-check"
BEIJING = ZoneInfo("Asia/Shanghai")
AUX = {"department": "FFLEX5", "employee": "FFLEX7", "project": "FFLEX9"}
PROJECTS = [("LX-01", "P-2026-01", "华东仓储改造项目", "500000.00"),
            ("LX-02", "P-2026-02", "门店数字化项目", "200000.00"),
            ("LX-03", "P-2026-03", "总部会议室改造", "80000.00")]


def stack_options() -> dict[str, Any]:
    """The project dimension mapped in the Kingdee account and in the hub's Kingdee settings."""
    return {"kd_options": {"aux_fields": AUX}, "kingdee_settings": {"aux_fields": AUX}}


def ctx(key: str) -> ActionContext:
    return ActionContext(key, 1, key[-20:])


async def post_cost(stack: DemoStack, reference: str, amount: str, project: str | None, *,
                    refund: bool = False) -> None:
    """A Kingdee voucher booking ``amount`` on 6602.05 with ``project`` in the project dimension (a refund
    credits the expense instead); posted and audited through ``kingdee.voucher.create``."""
    assert stack.hub is not None
    employee = stack.company.employees[0]
    aux = [["department", employee.department_number], ["employee", employee.number]]
    aux += [["project", project]] if project else []
    expense = {"summary": "项目费用", "account": "6602.05", "direction": "credit" if refund else "debit",
               "amount": {"amount": amount, "currency": "CNY"}, "aux": aux}
    bank = {"summary": "银行存款", "account": "1002.01", "direction": "debit" if refund else "credit",
            "amount": {"amount": amount, "currency": "CNY"}, "aux": []}
    voucher = {"reference": reference, "book": "main", "date": "2026-11-20", "group": "记", "currency": "CNY",
               "lines": [bank, expense] if refund else [expense, bank]}
    await stack.hub.actions.get("kingdee.voucher.create")({"voucher": voucher}, ctx(reference))


def next_seven(after: datetime) -> datetime:
    """The first 07:00 Beijing time after ``after``, plus a second (when the schedule is due)."""
    local = after.astimezone(BEIJING)
    seven = datetime(local.year, local.month, local.day, 7, 0, tzinfo=BEIJING)
    seven = seven if seven > local else seven + timedelta(days=1)
    return seven.astimezone(UTC) + timedelta(seconds=1)


def ended(stack: DemoStack) -> int:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())


def checks(stack: DemoStack) -> list[tuple[str, dict[str, Any]]]:
    """Every run of the check template, oldest first: its status and its ``check`` step's output."""
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        rows = conn.execute(select(runs.c.status, runs.c.context).where(runs.c.flow_id == CHECK)
                            .order_by(runs.c.started_at)).all()
    return [(row.status, loads(row.context)["steps"].get("check")) for row in rows]


def alerts(stack: DemoStack) -> list[dict[str, Any]]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        payloads = conn.execute(select(inbox.c.payload).where(inbox.c.type == "hub.alert.raised")
                                .order_by(inbox.c.received_at)).scalars().all()
    return [loads(p)["document"] for p in payloads]


async def fire(stack: DemoStack, at: datetime) -> dict[str, Any]:
    """Fire the schedules due at ``at`` (the check and any other shipped schedule), wait, return the check."""
    assert stack.hub is not None
    before = ended(stack)
    fired = {f.flow_id: f for f in stack.hub.scheduler().tick(at)}
    assert fired[CHECK].started
    assert await stack.settle(expected_runs=before + sum(f.started for f in fired.values()), timeout=60)
    status, report = checks(stack)[-1]
    assert status == "succeeded", report
    return report


async def test_budgets_against_kingdee_actuals_alert_once_per_level_and_rearm(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=71, **stack_options()) as stack:
        hub = stack.hub
        assert hub is not None
        start = datetime.now(UTC)
        hub.scheduler().tick(start)  # the hub knows the schedule from now on
        manager = stack.company.employees[1].oa_user_id
        for key, code, name, budget in PROJECTS:
            _, started = hub.start_flow(SET, key=key, inputs={"项目编码": code, "项目名称": name, "预算": budget,
                                                              "项目经理": manager})
            assert started
        assert await stack.settle(expected_runs=3, timeout=60)
        with hub.db.read() as conn:
            statuses = conn.execute(select(runs.c.status).where(runs.c.flow_id == SET)).scalars().all()
            held = {r.code: (r.name, r.budget, r.currency, r.manager) for r in conn.execute(select(project_budgets))}
        assert statuses == ["succeeded"] * 3
        assert held == {code: (name, budget, "CNY", manager) for _, code, name, budget in PROJECTS}
        assert stack.kd.bill_count("BD_PROJECT") == 3  # each project made once in Kingdee

        # P-01 under (123456.78 + 0.09 − 0.02 refunded), P-02 at exactly 90 %, P-03 over by 12.5 %
        for reference, amount, project in [("C-1", "123456.78", "P-2026-01"), ("C-2", "0.09", "P-2026-01"),
                                           ("C-3", "150000.00", "P-2026-02"), ("C-4", "30000.00", "P-2026-02"),
                                           ("C-5", "85000.00", "P-2026-03"), ("C-6", "5000.00", "P-2026-03"),
                                           ("C-7", "99999.99", None), ("C-8", "777.77", "P-UNBUDGETED")]:
            await post_cost(stack, reference, amount, project)
        await post_cost(stack, "R-1", "0.02", "P-2026-01", refund=True)

        at = next_seven(start)
        report = await fire(stack, at)
        table = {row["code"]: row for row in report["projects"]}
        assert [row["code"] for row in report["projects"]] == ["P-2026-01", "P-2026-02", "P-2026-03"]
        assert {k: {f: v for f, v in row.items() if f != "alert"} for k, row in table.items()} == {
            "P-2026-01": {"code": "P-2026-01", "name": "华东仓储改造项目", "currency": "CNY", "budget": "500000.00",
                          "actual": "123456.85", "remaining": "376543.15", "ratio": "0.2469", "status": "ok"},
            "P-2026-02": {"code": "P-2026-02", "name": "门店数字化项目", "currency": "CNY", "budget": "200000.00",
                          "actual": "180000.00", "remaining": "20000.00", "ratio": "0.9000", "status": "warning"},
            "P-2026-03": {"code": "P-2026-03", "name": "总部会议室改造", "currency": "CNY", "budget": "80000.00",
                          "actual": "90000.00", "remaining": "-10000.00", "ratio": "1.1250", "status": "over"},
        }
        assert "alert" not in table["P-2026-01"]
        assert table["P-2026-02"]["alert"] == {"key": "budget:P-2026-02:warning:200000.00", "level": "warning",
                                               "new": True}
        assert table["P-2026-03"]["alert"] == {"key": "budget:P-2026-03:over:80000.00", "level": "critical",
                                               "new": True}
        assert (report["counts"], report["checked"], report["alerts_new"]) == (
            {"ok": 1, "warning": 1, "over": 1, "error": 0}, 3, 2)
        raised = alerts(stack)
        assert [(a["level"], a["title"]) for a in raised] == [("warning", "项目 P-2026-02 预算已使用 90.0%"),
                                                              ("critical", "项目 P-2026-03 预算已超支 12.5%")]
        assert raised[1]["detail"] == {"code": "P-2026-03", "name": "总部会议室改造", "budget": "80000.00",
                                       "actual": "90000.00", "ratio": "1.1250", "currency": "CNY",
                                       "status": "over", "manager": manager}

        again = await fire(stack, at + timedelta(days=1))  # the next morning: nothing new
        assert again["projects"] == [{**row, "alert": {**row["alert"], "new": False}} if "alert" in row else row
                                     for row in report["projects"]]
        assert again["alerts_new"] == 0 and len(alerts(stack)) == 2

        raised_budget = {"项目编码": "P-2026-03", "项目名称": "总部会议室改造", "预算": "100000.00",
                         "项目经理": manager}
        _, started = hub.start_flow(SET, key="LX-03-2", inputs=raised_budget)  # 预算调整 approved
        assert started
        assert await stack.settle(expected_runs=ended(stack), timeout=60)
        await post_cost(stack, "C-9", "15000.00", "P-2026-03")
        third = await fire(stack, at + timedelta(days=2))
        over = next(row for row in third["projects"] if row["code"] == "P-2026-03")
        assert (over["budget"], over["actual"], over["remaining"], over["ratio"], over["status"]) == (
            "100000.00", "105000.00", "-5000.00", "1.0500", "over")
        assert over["alert"] == {"key": "budget:P-2026-03:over:100000.00", "level": "critical", "new": True}
        assert third["alerts_new"] == 1
        assert [a["title"] for a in alerts(stack)][2:] == ["项目 P-2026-03 预算已超支 5.0%"]  # re-alerted once
        assert stack.kd.bill_count("BD_PROJECT") == 3  # the budget change matched the project, made nothing

        with hub.db.read() as conn:
            logged = conn.execute(select(event_log.c.activity, event_log.c.outcome).where(
                event_log.c.activity.in_(["budget.set", "budget.checked", "alert.raised"]))
                .order_by(event_log.c.id)).all()
        assert [tuple(row) for row in logged if row.activity == "budget.checked"] == [("budget.checked", "over")] * 3
        assert [row.outcome for row in logged if row.activity == "budget.set"] == ["changed"] * 4
        assert [row.outcome for row in logged if row.activity == "alert.raised"] == ["warning", "critical",
                                                                                     "critical"]


async def test_a_currency_mismatch_is_reported_for_that_project_and_the_check_goes_on(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False, **stack_options()) as stack:
        hub = stack.hub
        assert hub is not None
        budget_set, check = hub.actions.get("hub.budget.set"), hub.actions.get("hub.budget.check")
        await budget_set({"code": "P-USD", "name": "海外项目", "budget": "1000.00", "currency": "USD"}, ctx("s1"))
        await budget_set({"code": "P-CNY", "name": "国内项目", "budget": "0", "currency": "CNY"}, ctx("s2"))
        await post_cost(stack, "C-U", "12.34", "P-USD")
        report = await check({"actuals": "kingdee.project.actuals", "warn_at": "0.9"}, ctx("check-1"))
        cny, usd = report["projects"]  # by code
        assert cny == {"code": "P-CNY", "name": "国内项目", "currency": "CNY", "budget": "0.00", "actual": "0.00",
                       "remaining": "0.00", "ratio": None, "status": "ok"}  # a zero budget, nothing spent
        assert (usd["status"], usd["actual"], usd["remaining"], usd["error"]["kind"]) == (
            "error", "12.34", None, "currency_mismatch")
        assert usd["error"]["zh"] == "币别不一致：预算为 USD，实际成本为 CNY 12.34"
        assert report["counts"] == {"ok": 1, "warning": 0, "over": 0, "error": 1} and alerts(stack) == []

        await post_cost(stack, "C-Z", "0.01", "P-CNY")  # anything spent on a zero budget is an overrun
        report = await check({"warn_at": "0.9"}, ctx("check-2"))  # Kingdee is the default
        zero = report["projects"][0]
        assert (zero["status"], zero["ratio"], zero["alert"]["key"]) == ("over", None, "budget:P-CNY:over:0.00")
        assert [a["title"] for a in alerts(stack)] == ["项目 P-CNY 预算为 0，已发生 0.01 CNY"]
        windowed = await check({"since": "2026-11-21T00:00:00+08:00"}, ctx("check-3"))  # costs are of the 20th
        assert [row["actual"] for row in windowed["projects"]] == ["0.00", "0.00"]


async def test_bad_budget_input_is_a_clear_error_and_changes_nothing(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(**stack_options()) as stack:
        hub = stack.hub
        assert hub is not None
        budget_set, check = hub.actions.get("hub.budget.set"), hub.actions.get("hub.budget.check")
        good = {"code": "P-1", "name": "项目一"}
        for request, where, says in [
                ({**good, "budget": "-1.00"}, "hub.budget.set.budget", "cannot be negative"),
                ({**good, "budget": 1000.5}, "hub.budget.set.budget", "cannot be a float"),
                ({**good, "budget": "12万"}, "hub.budget.set.budget", "not a number"),
                ({**good, "budget": "100", "currency": "人民币"}, "hub.budget.set.currency", "not a currency"),
                ({"name": "项目一", "budget": "100"}, "hub.budget.set.code", "`code`")]:
            with pytest.raises(MappingError) as info:
                await budget_set(request, ctx("bad"))
            assert info.value.where == where and says in info.value.render(Lang.EN), info.value.render(Lang.EN)
            assert "位置" in info.value.render()  # Chinese first
        for request, where, says in [
                ({"actuals": "kingdee.nope.actuals"}, "hub.budget.check.actuals",
                 "available: kingdee.project.actuals"),
                ({"warn_at": "1.5"}, "hub.budget.check.warn_at", "at most 1"),
                ({"warn_at": 0.9}, "hub.budget.check.warn_at", "cannot be a float"),
                ({"since": "2026-11-01T00:00:00"}, "hub.budget.check.since", "tz-aware")]:
            with pytest.raises(MappingError) as info:
                await check(request, ctx("bad"))
            assert info.value.where == where and says in info.value.render(Lang.EN), info.value.render(Lang.EN)

        # through the template: a float budget from the API stops the run before Kingdee is called
        _, started = hub.start_flow(SET, key="LX-BAD", inputs={"项目编码": "P-9", "项目名称": "坏预算", "预算": 12.5})
        assert started and await stack.settle(expected_runs=1, timeout=60)
        with hub.db.read() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.flow_id == SET)).scalar_one()
            held = conn.execute(select(func.count()).select_from(project_budgets)).scalar_one()
        assert status == "failed" and held == 0
        assert stack.kd.bill_count("BD_PROJECT") == 0
