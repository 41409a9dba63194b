"""Scenario 8, the nightly 对账 template end to end: the day's approved claims against the vouchers Kingdee
holds; a claim never posted is repaired by a re-drive, a voucher deleted or changed in Kingdee is
reported, and the differences raise one alert. Scenario 6, the organisation-sync template, on its schedule: the
OA directory into the hub, then the hub's directory into Kingdee's departments and employees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.connectors import ActionContext
from huiliu.errors import MappingError
from huiliu.i18n import Lang
from huiliu.sandbox import Fault, FaultKind
from huiliu.store import loads
from huiliu.store.schema import event_log, inbox, runs

RECON = "nightly-claim-voucher-reconciliation"
CLAIMS = "expense-claim-to-voucher"
BEIJING = ZoneInfo("Asia/Shanghai")


def reference(instance_id: str) -> str:
    return reference_for(f"{CLAIMS}:{instance_id}:post_voucher")


def run_context(stack: DemoStack, flow_id: str) -> tuple[str, dict[str, Any]]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        row = conn.execute(select(runs.c.status, runs.c.context).where(runs.c.flow_id == flow_id)).one()
    return row.status, loads(row.context)


async def test_the_nightly_reconciliation_reports_repairs_and_alerts(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=61) as stack:
        hub = stack.hub
        assert hub is not None
        first_seen = hub.scheduler()
        first_seen.tick()  # the hub knows the schedule from now on
        claims = [stack.submit(stack.company.claim(approve_rate=1.0)) for _ in range(4)]
        assert await stack.settle(expected_runs=4, timeout=60)
        stack.kd.faults.script("save", *[Fault(FaultKind.SERVER_ERROR)] * 6)  # every attempt: the run fails
        unposted = stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=5, timeout=60)
        deleted, changed = claims[0], claims[1]
        await hub.actions.get("kingdee.voucher.reverse")({"reference": reference(deleted)},
                                                         ActionContext("test", 1, "x"))  # deleted by hand in Kingdee
        [voucher] = stack.kd.find_by_reference(reference(changed))
        debit = next(e for e in voucher.model["FEntity"] if e.get("FDEBIT"))
        debit["FDEBIT"] = float(Decimal(str(debit["FDEBIT"])) + Decimal("100.00"))  # edited by hand in Kingdee
        with hub.db.read() as conn:
            finished = conn.execute(select(inbox.c.occurred_at).where(inbox.c.business_key == unposted)).scalar_one()
        day = finished.astimezone(BEIJING).date()
        fire = datetime(day.year, day.month, day.day, 1, 30, tzinfo=BEIJING) + timedelta(days=1)

        # Other shipped schedules (the 06:00 sync, the 07:00 budget check) may fall due too, by the hour
        fired = {f.flow_id: f for f in hub.scheduler().tick(fire.astimezone(UTC) + timedelta(seconds=5))}
        assert fired[RECON].started
        assert await stack.settle(expected_runs=5 + len(fired), timeout=60)
        status, context = run_context(stack, RECON)
        assert status == "succeeded", context
        report = context["steps"]["report"]
        same_day = [c for c in [*claims, unposted]]  # every claim finished today (Beijing)
        assert report["day"] == day.isoformat() and report["checked"] == len(same_day)
        assert report["by_kind"] == {"not_posted": 1, "missing_in_erp": 1, "amount_mismatch": 1}
        kinds = {d["business_key"]: d["kind"] for d in report["differences"]}
        assert kinds == {unposted: "not_posted", deleted: "missing_in_erp", changed: "amount_mismatch"}
        mismatch = next(d for d in report["differences"] if d["kind"] == "amount_mismatch")
        assert Decimal(mismatch["found"]) - Decimal(mismatch["expected"]) == Decimal("100.00")
        assert context["steps"]["repair"]["resumed"] == 1  # the failed claim, sent on
        assert context["steps"]["alert"]["new"] is True
        assert len(stack.kd.find_by_reference(reference(unposted))) == 1  # repaired: its voucher exists now
        with hub.db.read() as conn:
            alerts = conn.execute(select(inbox.c.payload).where(inbox.c.type == "hub.alert.raised")).scalars().all()
            logged = conn.execute(select(event_log.c.activity).where(
                event_log.c.activity.in_(["alert.raised", "reconcile.reported"]))).scalars().all()
        assert len(alerts) == 1 and sorted(logged) == ["alert.raised", "reconcile.reported"]
        alert = loads(alerts[0])["document"]
        assert alert["title"] == f"{day.isoformat()} 报销对账差异 3 笔" and alert["level"] == "warning"

        again_fired = {f.flow_id: f for f in hub.scheduler().tick(fire.astimezone(UTC) + timedelta(seconds=9))}
        assert again_fired[RECON].started is False  # once
        again = await hub.actions.get("hub.reconcile.vouchers")(
            {"flow": CLAIMS, "day": day.isoformat()}, ActionContext("test", 1, "x"))
        assert again["by_kind"] == {"missing_in_erp": 1, "amount_mismatch": 1}  # the repaired one matches now


async def test_bad_reconciliation_requests_are_clear_errors(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        assert stack.hub is not None
        reconcile = stack.hub.actions.get("hub.reconcile.vouchers")
        ctx = ActionContext("test", 1, "x")
        for request, says in [({"day": "2026-11-25"}, "`flow`"),
                              ({"flow": "nope", "day": "2026-11-25"}, "flow nope is not loaded"),
                              ({"flow": CLAIMS, "day": "25/11/2026"}, "not a date"),
                              ({"flow": CLAIMS, "day": "2026-11-25", "read": "kingdee.nope"}, "kingdee.nope")]:
            with pytest.raises(MappingError) as info:
                await reconcile(request, ctx)
            assert says in info.value.render(Lang.EN), (request, info.value.render(Lang.EN))
        empty = await reconcile({"flow": CLAIMS, "day": "2020-01-01"}, ctx)
        assert (empty["checked"], empty["differences"], empty["repair"]) == (0, [], None)


async def test_a_redrive_needs_tz_aware_iso_times(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        assert stack.hub is not None
        redrive = stack.hub.actions.get("hub.flow.redrive")
        ctx = ActionContext("test", 1, "x")
        until = "2026-11-26T00:00:00+08:00"
        for request, where, says in [
                ({"since": "2026-11-25T00:00:00+08:00", "until": until}, "hub.flow.redrive.flow", "`flow`"),
                ({"flow": CLAIMS, "since": "yesterday", "until": until}, "hub.flow.redrive.since", "ISO 8601"),
                ({"flow": CLAIMS, "since": "2026-11-25T00:00:00", "until": until}, "hub.flow.redrive.since",
                 "no time zone"),
                ({"flow": CLAIMS, "since": "2026-11-25T00:00:00+08:00"}, "hub.flow.redrive.until", "`until`")]:
            with pytest.raises(MappingError) as info:
                await redrive(request, ctx)
            assert info.value.where == where and says in info.value.render(Lang.EN), request


def latest_run(stack: DemoStack, flow_id: str) -> tuple[str, dict[str, Any]]:
    assert stack.hub is not None
    with stack.hub.db.read() as conn:
        row = conn.execute(select(runs.c.status, runs.c.context).where(runs.c.flow_id == flow_id)
                           .order_by(runs.c.started_at.desc()).limit(1)).one()
    return row.status, loads(row.context)


async def test_the_organisation_sync_template_syncs_every_oa_on_its_schedule(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=62) as stack:
        hub = stack.hub
        assert hub is not None
        kd, company = stack.kd, stack.company
        scheduler = hub.scheduler()
        now = datetime.now(UTC)
        scheduler.tick(now)
        org = stack.ding.directory
        org.hire("u-new-9", "司马新人", "E9009", [org.dept_id("BM04")])
        local = now.astimezone(BEIJING)
        six = datetime(local.year, local.month, local.day, 6, 0, tzinfo=BEIJING)
        six = six if six > local else six + timedelta(days=1)
        # Other shipped schedules (the 01:30 对账, the 07:00 budget check) may fall due too, by the hour
        fired = {f.flow_id: f for f in scheduler.tick(six.astimezone(UTC) + timedelta(seconds=1))}
        assert fired["organisation-sync"].started
        assert await stack.settle(expected_runs=len(fired), timeout=60)
        status, context = latest_run(stack, "organisation-sync")
        assert status == "succeeded", context
        report = context["steps"]["sync"]["systems"]["dingtalk"]
        assert "u-new-9" in report["users_joined"] and report["problems"] == []
        again = await hub.actions.get("hub.directory.sync")({"oa": "dingtalk"}, ActionContext("t", 1, "x"))
        assert again["systems"]["dingtalk"]["users_joined"] == []  # a second sync finds nothing new
        assert again["systems"]["dingtalk"]["units_created"] == []

        # Kingdee now holds the whole company (and the OA's root department above it), audited, in Chinese.
        push = context["steps"]["push"]
        assert push["problems"] == [], push["problems"]
        assert push["departments"]["created"] == len(company.departments) + 1
        assert push["employees"]["created"] == len(company.employees) + 1
        for d in company.departments:
            held = kd.org_record("BD_Department", d.number)
            assert held is not None and (held.model["FName"], held.status) == (d.name, "C"), d
        for e in company.employees:
            held = kd.org_record("BD_Empinfo", e.number)
            assert held is not None and held.model["FName"] == e.name, e
            assert held.model["FPostEntity"][0]["FPostDept"] == {"FNumber": e.department_number}
        assert kd.org_record("BD_Empinfo", "E9009") is not None
        read = context["steps"]["read"]
        assert {d["number"] for d in read["departments"]} >= {d.number for d in company.departments}
        with pytest.raises(MappingError) as refused:  # the golden tables keep no change time
            await hub.actions.get("hub.directory.read")({"since": now.isoformat()}, ActionContext("t", 1, "x"))
        assert "since" in refused.value.render(Lang.EN)

        # The next day: HR moved and renamed a department, hired one person, and one left.
        saved = dict(kd.org_saved)
        south, ceo, rnd = org.dept_id("BM0302"), org.dept_id("BM01"), org.dept_id("BM04")
        leaver = company.employees[3]
        assert leaver.oa_user_id is not None
        org.move(south, ceo)
        org.rename(rnd, "研发与创新中心")
        org.leave(leaver.oa_user_id)
        org.hire("u-new-10", "欧阳新", "E9010", [rnd])
        next_day = {f.flow_id: f for f in scheduler.tick(six.astimezone(UTC) + timedelta(days=1, seconds=1))}
        assert next_day["organisation-sync"].started
        assert await stack.settle(expected_runs=len(fired) + len(next_day), timeout=60)
        status, context = latest_run(stack, "organisation-sync")
        assert status == "succeeded", context
        push = context["steps"]["push"]
        assert push["problems"] == [], push["problems"]
        assert (push["departments"]["updated"], push["departments"]["created"]) == (2, 0)
        assert (push["employees"]["created"], push["employees"]["disabled"], push["employees"]["updated"]) == (
            1, 1, 0)
        renamed, moved = kd.org_record("BD_Department", "BM04"), kd.org_record("BD_Department", "BM0302")
        assert renamed is not None and (renamed.model["FName"], renamed.status) == ("研发与创新中心", "C")
        assert moved is not None and moved.model["FParentID"] == {"FNumber": "BM01"}
        hired, gone = kd.org_record("BD_Empinfo", "E9010"), kd.org_record("BD_Empinfo", leaver.number)
        assert hired is not None and hired.model["FName"] == "欧阳新" and hired.status == "C"
        assert hired.model["FPostEntity"][0]["FPostDept"] == {"FNumber": "BM04"}
        assert gone is not None and gone.model["FForbidStatus"] == "B"  # 禁用
        # Nothing else was saved again: the two departments and the new hire, one Save each.
        assert kd.org_saved["BD_DEPARTMENT"] - saved["BD_DEPARTMENT"] == 2
        assert kd.org_saved["BD_EMPINFO"] - saved["BD_EMPINFO"] == 1
