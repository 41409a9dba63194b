"""Directory sync from the DingTalk sandbox: a department moved, renamed, a person leaves, another joins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from huiliu.bus import reference_for
from huiliu.cli.demo import DemoStack
from huiliu.errors import TransientError
from huiliu.sandbox import Fault, FaultKind
from huiliu.store.schema import crosswalk, departments, employees


async def test_directory_sync_reflects_moves_renames_and_leavers_and_keeps_the_crosswalk(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=31) as stack:
        hub = stack.hub
        assert hub is not None
        first = await hub.sync_directory("dingtalk")
        # The OA keeps the ERP's department codes: the ERP departments are adopted, not duplicated.
        assert len(first.units_created) == 1 + len(stack.company.departments) and first.problems == []
        assert len(first.users_joined) == len(stack.company.employees)
        org = stack.ding.directory
        south, ceo, rnd = org.dept_id("BM0302"), org.dept_id("BM01"), org.dept_id("BM04")
        leaver = stack.company.employees[3]
        assert leaver.oa_user_id is not None
        # The leaver files a claim before leaving; it is approved after they have gone.
        spec = stack.company.claim(approve_rate=1.0)
        while spec.employee != leaver:
            spec = stack.company.claim(approve_rate=1.0)
        instance_id = stack.ding.start_claim(spec)
        org.move(south, ceo)
        org.rename(rnd, "研发与创新中心")
        org.leave(leaver.oa_user_id)
        org.hire("u-new-1", "欧阳新", "E9001", [rnd])
        second = await hub.sync_directory("dingtalk")
        assert second.units_moved == [str(south)] and second.units_renamed == [str(rnd)]
        assert second.users_left == [leaver.oa_user_id] and second.users_joined == ["u-new-1"]
        assert second.units_created == [] and second.problems == []
        with hub.db.read() as conn:
            depts = {r.number: r for r in conn.execute(select(departments))}
            staff = {r.number: r for r in conn.execute(select(employees))}
            links = dict(conn.execute(select(crosswalk.c.native_id, crosswalk.c.golden_id).where(
                crosswalk.c.system == "dingtalk", crosswalk.c.native_type == "user")).all())
        assert depts["BM0302"].parent_number == "BM01"
        assert depts["BM04"].name == "研发与创新中心"
        assert staff[leaver.number].active is False and staff[leaver.number].left_at is not None
        assert staff["E9001"].department_number == "BM04" and staff["E9001"].active is True
        assert links[leaver.oa_user_id] == leaver.number and links["u-new-1"] == "E9001"
        # A leaver's approval, finished after they left, still becomes their voucher.
        stack.ding.finish(instance_id, "approved")
        assert await stack.settle(expected_runs=1, timeout=30)
        [voucher] = stack.kd.find_by_reference(reference_for(f"expense-claim-to-voucher:{instance_id}:post_voucher"))
        assert leaver.name in voucher.model["FEntity"][0]["FEXPLANATION"]
        third = await hub.sync_directory("dingtalk")  # nothing changed since: nothing written
        assert third.changes == 0


async def test_a_directory_read_that_fails_changes_nothing(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(seed=31, worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        await hub.sync_directory("dingtalk")
        stack.ding.directory.leave(stack.company.employees[0].oa_user_id or "")
        stack.ding.faults.script("user_list", Fault(FaultKind.SERVER_ERROR))
        with pytest.raises(TransientError) as failed:
            await hub.sync_directory("dingtalk")
        assert failed.value.retryable and "503" in failed.value.render()
        with hub.db.read() as conn:
            active = conn.execute(select(employees.c.active).where(
                employees.c.number == stack.company.employees[0].number)).scalar_one()
        assert active is True  # a half-read directory must never make everyone "leave"


@pytest.mark.parametrize("oa", ["wecom", "feishu"])
async def test_wecom_and_feishu_directories_sync_through_the_hub(make_stack: Callable[..., DemoStack],
                                                                  oa: str) -> None:
    async with make_stack(seed=31, oa=oa, worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        first = await hub.sync_directory(oa)
        assert first.problems == [] and len(first.users_joined) == len(stack.company.employees)
        side = stack.wecom or stack.feishu
        assert side is not None
        leaver = stack.company.employees[5]
        assert leaver.oa_user_id is not None
        side.directory.leave(leaver.oa_user_id)
        second = await hub.sync_directory(oa)
        assert second.users_left == [leaver.oa_user_id] and second.changes == 1
        with hub.db.read() as conn:
            active = conn.execute(select(employees.c.active).where(employees.c.number == leaver.number)).scalar_one()
            link = conn.execute(select(crosswalk.c.golden_id).where(
                crosswalk.c.system == oa, crosswalk.c.native_id == leaver.oa_user_id)).scalar_one()
        assert active is False and link == leaver.number
