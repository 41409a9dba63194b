"""Many approvals merged into one voucher per day and department (汇总凭证), end to end: each claim's
voucher is built, none posted; the 01:00 schedule posts one balanced voucher per department in one
batch, amounts to the fen; a late approval is merged on its own by a later run, never twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from huiliu.cli.demo import DemoStack
from huiliu.connectors import ActionContext
from huiliu.errors import MappingError
from huiliu.i18n import Lang
from huiliu.sandbox import Fault, FaultKind
from huiliu.service import TEMPLATES
from huiliu.store import loads
from huiliu.store.schema import inbox, runs

BEIJING = ZoneInfo("Asia/Shanghai")
AGAIN = """\
id: merge-again
version: "1"
title: 补做某天的汇总
trigger: {manual: true}
steps:
  - id: merge
    call: hub.voucher.merge
    with: {flow: expense-claim-daily-voucher, step: voucher, post: kingdee.voucher.create_batch, day: "{{ form.day }}"}
"""


def flows(tmp_path: Path) -> Path:
    directory = tmp_path / "flows"
    directory.mkdir()
    collect = (TEMPLATES / "expense_claim_daily_voucher.yaml").read_text(encoding="utf-8")
    assert "'PROC-EXPENSE-DAILY'" in collect
    (directory / "collect.yaml").write_text(collect.replace("'PROC-EXPENSE-DAILY'", "'PROC-EXPENSE'"),
                                            encoding="utf-8")  # the sandbox's claims use PROC-EXPENSE
    (directory / "merge.yaml").write_text((TEMPLATES / "daily_voucher_merge.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    (directory / "again.yaml").write_text(AGAIN, encoding="utf-8")
    return directory


def department_chart(stack: DemoStack) -> None:
    """A chart where expense and payable accounts carry the department only (what merging needs)."""
    for account in list(stack.kd.chart):
        if account.startswith("6602") or account == "2241.01":
            stack.kd.chart[account] = ("department",)


async def settled_claims(stack: DemoStack, count: int) -> tuple[list[Any], list[str], date]:
    """``count`` approved claims submitted and their runs settled; their specs, ids and (Beijing) day."""
    assert stack.hub is not None
    specs = [stack.company.claim(approve_rate=1.0) for _ in range(count)]
    ids = [stack.submit(spec) for spec in specs]
    assert await stack.settle(expected_runs=count, timeout=60)
    with stack.hub.db.read() as conn:
        finished = conn.execute(select(inbox.c.occurred_at).where(inbox.c.business_key == ids[0])).scalar_one()
    return specs, ids, finished.astimezone(BEIJING).date()


def entries(voucher: Any) -> list[tuple[str, Decimal, Decimal]]:
    return [(e["FACCOUNTID"]["FNumber"], Decimal(str(e.get("FDEBIT") or 0)), Decimal(str(e.get("FCREDIT") or 0)))
            for e in voucher.model["FEntity"]]


async def test_approvals_are_merged_into_one_voucher_per_day_and_department(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(seed=81, settings={"flows_dir": flows(tmp_path)}) as stack:
        hub = stack.hub
        assert hub is not None
        department_chart(stack)
        scheduler = hub.scheduler()
        scheduler.tick()
        specs, _ids, day = await settled_claims(stack, 8)
        assert stack.kd.count() == 0  # each claim's voucher is built, none posted
        fire = datetime(day.year, day.month, day.day, 1, 0, tzinfo=BEIJING) + timedelta(days=1)
        fired = {f.flow_id: f for f in scheduler.tick(fire.astimezone(UTC) + timedelta(seconds=3))}
        assert fired["daily-voucher-merge"].started
        assert await stack.settle(expected_runs=8 + len(fired), timeout=60)

        expected: dict[str, Decimal] = defaultdict(Decimal)
        for spec in specs:
            expected[spec.employee.department_number] += spec.total
        assert stack.kd.count() == len(expected)  # one voucher per department
        posted: dict[str, Decimal] = {}
        for voucher in stack.kd.vouchers.values():
            lines = entries(voucher)
            debit, credit = sum(d for _, d, _ in lines), sum(c for _, _, c in lines)
            assert debit == credit  # every merged voucher balances
            department = next(iter({e["FDetailID"]["FFLEX5"]["FNumber"] for e in voucher.model["FEntity"]}))
            posted[department] = debit
        assert posted == dict(expected)  # to the fen, per department
        with hub.db.read() as conn:
            context = loads(conn.execute(select(runs.c.context).where(
                runs.c.flow_id == "daily-voucher-merge")).scalar_one())
        merge = context["steps"]["merge"]
        assert len(merge["sources"]) == 8
        assert merge["failed"] == [] and merge["pending"] == [] and merge["earlier"] == 0
        assert sum(len(v["sources"]) for v in merge["vouchers"]) == 8

        late = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=9 + len(fired), timeout=60)
        _key, started = hub.start_flow("merge-again", inputs={"day": day.isoformat()})
        assert started
        assert await stack.settle(expected_runs=10 + len(fired), timeout=60)
        with hub.db.read() as conn:
            again = loads(conn.execute(select(runs.c.context).where(runs.c.flow_id == "merge-again"))
                          .scalar_one())["steps"]["merge"]
            late_day = conn.execute(select(inbox.c.occurred_at).where(inbox.c.business_key == late)).scalar_one()
        same_day = late_day.astimezone(BEIJING).date() == day  # (not so if the test straddles midnight)
        assert again["earlier"] == 8 and len(again["sources"]) == int(same_day)  # only the late one
        assert len(again["vouchers"]) == int(same_day)
        assert stack.kd.count() == len(expected) + int(same_day)  # nothing merged twice


async def test_a_merge_whose_reply_was_lost_is_not_posted_twice(
        make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(seed=82, settings={"flows_dir": flows(tmp_path)}) as stack:
        hub = stack.hub
        assert hub is not None
        department_chart(stack)
        specs, _ids, day = await settled_claims(stack, 5)
        stack.kd.faults.script("batch_save", Fault(FaultKind.APPLIED_REPLY_LOST))  # saved, the answer lost
        _key, started = hub.start_flow("merge-again", inputs={"day": day.isoformat()})
        assert started and await stack.settle(expected_runs=6, timeout=60)
        departments = {s.employee.department_number for s in specs}
        assert stack.kd.faults.injected.get("batch_save:applied_reply_lost") == 1
        assert stack.kd.count() == len(departments)  # the retry found the saved vouchers and adopted them
        with hub.db.read() as conn:
            merge = loads(conn.execute(select(runs.c.context).where(runs.c.flow_id == "merge-again"))
                          .scalar_one())["steps"]["merge"]
        assert len(merge["vouchers"]) == len(departments) and merge["failed"] == []


async def test_bad_merge_requests_are_clear_errors(make_stack: Callable[..., DemoStack], tmp_path: Path) -> None:
    async with make_stack(worker=False, settings={"flows_dir": flows(tmp_path)}) as stack:
        assert stack.hub is not None
        merge = stack.hub.actions.get("hub.voucher.merge")
        ctx = ActionContext("test", 1, "x")
        flow = "expense-claim-daily-voucher"
        for request, where, says in [
                ({"day": "2026-11-25"}, "hub.voucher.merge.flow", "`flow`"),
                ({"flow": "nope", "day": "2026-11-25"}, "hub.voucher.merge.flow", "flow nope is not loaded"),
                ({"flow": flow, "day": "25/11/2026"}, "hub.voucher.merge.day", "not a date"),
                ({"flow": flow, "day": "2026-11-25", "post": "kingdee.nope"}, "hub.voucher.merge.post",
                 "kingdee.nope")]:
            with pytest.raises(MappingError) as info:
                await merge(request, ctx)
            assert info.value.where == where and says in info.value.render(Lang.EN), request
        empty = await merge({"flow": flow, "day": "2020-01-01"}, ctx)
        assert (empty["sources"], empty["vouchers"], empty["pending"], empty["earlier"]) == ([], [], [], 0)
