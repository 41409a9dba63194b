"""Reading WeCom's directory (通讯录) from the WeCom sandbox over real HTTP, and syncing it into golden data."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from huiliu.bus import EventLog
from huiliu.connectors.http import HttpClient
from huiliu.connectors.wecom import WeComClient, WeComSettings, read_directory
from huiliu.crosswalk import Crosswalk
from huiliu.errors import AuthExpired, TransientError, VendorRejected
from huiliu.identity import DirectorySync, SyncReport
from huiliu.model import OrgUnit, OrgUser
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import Company, make_company
from huiliu.sandbox.wecom import OrgDirectory, WeComSandbox
from huiliu.store import Database
from huiliu.store.schema import crosswalk, departments, employees
from huiliu.testing import FakeClock

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP = {"corp_id": "wx49f0ab532d5d035a", "corp_secret": "corp-s3cret", "callback_token": "123456",
        "encoding_aes_key": AES}
BY_EXTATTR = {"employee_number_field": "extattr:工号"}


@dataclass
class Env:
    sandbox: WeComSandbox
    company: Company
    clock: FakeClock
    faults: FaultPlan
    url: str
    session: aiohttp.ClientSession

    @property
    def org(self) -> OrgDirectory:
        return self.sandbox.directory

    def client(self, **over: Any) -> WeComClient:
        settings = WeComSettings.model_validate({"base_url": self.url, **CORP, **over})
        return WeComClient(settings, HttpClient("wecom", self.session, timeout=2.0), self.clock)

    async def read(self, **over: Any) -> tuple[dict[str, OrgUnit], dict[str, OrgUser]]:
        units, users = await read_directory(self.client(**over))
        assert len({u.native_id for u in units}) == len(units) and len({u.native_id for u in users}) == len(users)
        return {u.native_id: u for u in units}, {u.native_id: u for u in users}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock, faults, company = FakeClock(), FaultPlan(), make_company()
    sandbox = WeComSandbox(**CORP, company=company, clock=clock, faults=faults)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        yield Env(sandbox, company, clock, faults, srv.url, session)


async def test_the_whole_company_is_read_back_as_a_tree_with_its_people(env: Env) -> None:
    units, users = await env.read(**BY_EXTATTR)
    assert units["1"].parent_id is None and units["1"].name == env.company.name  # the corp itself
    assert len(units) == 1 + len(env.company.departments)
    for dept in env.company.departments:
        unit = units[str(env.org.dept_id(dept.number))]
        parent = str(env.org.dept_id(dept.parent_number)) if dept.parent_number else "1"
        assert (unit.name, unit.parent_id, unit.code) == (dept.name, parent, None)
    assert len(users) == len(env.company.employees)
    for person in env.company.employees:
        assert person.oa_user_id is not None
        user = users[person.oa_user_id]
        assert (user.name, user.employee_number, user.active) == (person.name, person.number, True)
        assert user.department_ids == (str(env.org.dept_id(person.department_number)),)
    # user/list once per department; department/list once for the whole tree
    assert env.sandbox.calls["department_list"] == 1 and env.sandbox.calls["user_list"] == len(units)


async def test_the_employee_number_is_the_userid_by_default(env: Env) -> None:
    _, users = await env.read()
    assert all(u.employee_number == u.native_id for u in users.values())
    env.org.hire("E9001", "欧阳新", None, [env.org.dept_id("BM04")])  # userid = 工号, no custom attribute
    _, by_attr = await env.read(**BY_EXTATTR)
    assert by_attr["E9001"].employee_number is None
    _, by_id = await env.read()
    assert by_id["E9001"].employee_number == "E9001"


async def test_a_person_in_several_departments_is_read_once_with_the_main_one_first(env: Env) -> None:
    south, rnd, fin = env.org.dept_id("BM0302"), env.org.dept_id("BM04"), env.org.dept_id("BM02")
    env.org.hire("u-multi", "司马多", "E9100", [south, rnd, fin])  # main: 华南销售组
    _, users = await env.read(**BY_EXTATTR)
    multi = users["u-multi"]
    # WeCom lists department ids in ascending order; the main one must still come first.
    assert multi.department_ids == (str(south), str(fin), str(rnd))
    assert multi.employee_number == "E9100"
    assert len(users) == len(env.company.employees) + 1


async def test_leavers_and_disabled_members_are_inactive_and_deleted_ones_absent(env: Env) -> None:
    left, deleted = env.company.employees[0].oa_user_id, env.company.employees[1].oa_user_id
    assert left and deleted
    env.org.leave(left)  # status 5, still listed
    env.org.leave(deleted, listed=False)
    env.org.hire("u-off", "禁用者", "E9200", [env.org.dept_id("BM01")], status=2)
    env.org.hire("u-new", "未激活", "E9201", [env.org.dept_id("BM01")], status=4)
    _, users = await env.read()
    assert users[left].active is False and users["u-off"].active is False
    assert users["u-new"].active is True  # invited, not activated yet: still an employee
    assert deleted not in users
    assert sum(u.active for u in users.values()) == len(env.company.employees) - 2 + 1


async def test_moves_and_renames_by_hr_are_visible_on_the_next_read(env: Env) -> None:
    south, ceo, rnd = env.org.dept_id("BM0302"), env.org.dept_id("BM01"), env.org.dept_id("BM04")
    env.org.add_department(50, "华南一组", south)
    env.org.move(south, ceo)
    env.org.rename(rnd, "研发与创新中心")
    units, _ = await env.read()
    assert units[str(south)].parent_id == str(ceo)
    assert units[str(rnd)].name == "研发与创新中心"
    assert units["50"].parent_id == str(south)  # a grandchild of a moved department is still found


async def test_a_large_department_is_read_whole_without_paging(env: Env) -> None:
    rnd = env.org.dept_id("BM04")
    for i in range(250):
        env.org.hire(f"u-bulk-{i:03d}", f"批量{i}", f"E7{i:03d}", [rnd])
    _, users = await env.read(**BY_EXTATTR)
    bulk = [u for u in users.values() if u.native_id.startswith("u-bulk-")]
    assert len(bulk) == 250 and {u.employee_number for u in bulk} == {f"E7{i:03d}" for i in range(250)}


async def test_an_expired_token_is_refreshed_once_and_the_read_completes(env: Env) -> None:
    client = env.client()
    await client.access_token()
    env.faults.script("user_list", Fault(FaultKind.EXPIRED_TOKEN))
    units, users = await read_directory(client)
    assert len(users) == len(env.company.employees)
    assert env.sandbox.calls["gettoken"] == 2
    assert env.sandbox.calls["user_list"] == len(units) + 1


async def test_a_failing_call_fails_the_whole_read(env: Env) -> None:
    env.faults.script("user_list", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired):  # one refresh only, then the error
        await read_directory(env.client())
    env.faults.script("department_list", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError):
        await read_directory(env.client())


async def test_an_unknown_root_department_is_refused_with_wecoms_errcode(env: Env) -> None:
    with pytest.raises(VendorRejected) as refused:
        await read_directory(env.client(directory_root_id=999))
    assert refused.value.vendor_code == "60123"


def _sync(db: Database, clock: FakeClock, listing: tuple[list[OrgUnit], list[OrgUser]]) -> SyncReport:
    with db.begin() as conn:
        return DirectorySync(Crosswalk(clock), EventLog(clock), clock).apply(
            conn, "wecom", listing[0], listing[1], complete=True)


async def test_sync_follows_moves_renames_leavers_and_joiners(env: Env, db: Database, clock: FakeClock) -> None:
    org = env.org
    first = _sync(db, clock, await read_directory(env.client(**BY_EXTATTR)))
    assert len(first.units_created) == 1 + len(env.company.departments) and first.problems == []
    assert sorted(first.users_joined) == sorted(e.oa_user_id or "" for e in env.company.employees)
    south, ceo, rnd = org.dept_id("BM0302"), org.dept_id("BM01"), org.dept_id("BM04")
    leaver = env.company.employees[3]
    assert leaver.oa_user_id is not None
    org.move(south, ceo)
    org.rename(rnd, "研发与创新中心")
    org.leave(leaver.oa_user_id)
    org.hire("u-new-1", "欧阳新", "E9001", [rnd, south])
    second = _sync(db, clock, await read_directory(env.client(**BY_EXTATTR)))
    assert second.units_moved == [str(south)] and second.units_renamed == [str(rnd)]
    assert second.users_left == [leaver.oa_user_id] and second.users_joined == ["u-new-1"]
    assert second.units_created == [] and second.units_removed == [] and second.problems == []
    with db.read() as conn:
        depts = {r.number: r for r in conn.execute(select(departments))}
        staff = {r.number: r for r in conn.execute(select(employees))}
        links = dict(conn.execute(select(crosswalk.c.native_id, crosswalk.c.golden_id).where(
            crosswalk.c.system == "wecom", crosswalk.c.native_type == "user")).all())
    # WeCom keeps no department code: the golden numbers are the hub's own.
    assert depts[f"wecom-{south}"].parent_number == f"wecom-{ceo}"
    assert depts[f"wecom-{rnd}"].name == "研发与创新中心" and depts["wecom-1"].parent_number is None
    assert staff[leaver.number].active is False and staff[leaver.number].left_at is not None
    assert staff["E9001"].department_number == f"wecom-{rnd}" and staff["E9001"].active is True
    stayer = env.company.employees[0]
    assert staff[stayer.number].active is True
    assert staff[stayer.number].department_number == f"wecom-{org.dept_id(stayer.department_number)}"
    assert links[leaver.oa_user_id] == leaver.number and links["u-new-1"] == "E9001"
    third = _sync(db, clock, await read_directory(env.client(**BY_EXTATTR)))
    assert third.changes == 0
