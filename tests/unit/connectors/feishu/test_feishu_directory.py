"""Reading Feishu's directory (通讯录) from the Feishu sandbox over real HTTP, and syncing it into golden data."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from huiliu.bus import EventLog
from huiliu.connectors.feishu import FeishuClient, FeishuSettings, read_directory
from huiliu.connectors.http import HttpClient
from huiliu.crosswalk import Crosswalk
from huiliu.errors import AuthExpired, TransientError, VendorRejected
from huiliu.identity import DirectorySync, SyncReport
from huiliu.model import OrgUnit, OrgUser
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import Company, make_company
from huiliu.sandbox.feishu import FeishuSandbox, OrgDirectory
from huiliu.store import Database
from huiliu.store.schema import crosswalk, departments, employees
from huiliu.testing import FakeClock

APP: dict[str, Any] = {"app_id": "cli_a1b2", "app_secret": "s3cret-value", "verification_token": "vt"}


@dataclass
class Env:
    sandbox: FeishuSandbox
    company: Company
    clock: FakeClock
    faults: FaultPlan
    url: str
    session: aiohttp.ClientSession

    @property
    def org(self) -> OrgDirectory:
        return self.sandbox.directory

    def client(self, **over: Any) -> FeishuClient:
        settings = FeishuSettings.model_validate({"base_url": self.url, **APP, **over})
        return FeishuClient(settings, HttpClient("feishu", self.session, timeout=2.0), self.clock)

    async def read(self, **over: Any) -> tuple[dict[str, OrgUnit], dict[str, OrgUser]]:
        units, users = await read_directory(self.client(**over))
        assert len({u.native_id for u in units}) == len(units) and len({u.native_id for u in users}) == len(users)
        return {u.native_id: u for u in units}, {u.native_id: u for u in users}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock, faults, company = FakeClock(), FaultPlan(), make_company()
    sandbox = FeishuSandbox(**APP, company=company, clock=clock, faults=faults)
    async with SandboxServer(sandbox.app) as srv, aiohttp.ClientSession() as session:
        yield Env(sandbox, company, clock, faults, srv.url, session)


async def test_the_whole_company_is_read_back_as_a_tree_with_its_people(env: Env) -> None:
    units, users = await env.read()
    assert units["0"].parent_id is None
    assert len(units) == 1 + len(env.company.departments)
    for dept in env.company.departments:
        # The company keeps the ERP's number as Feishu's custom department_id.
        assert units[dept.number] == OrgUnit(dept.number, dept.name, dept.parent_number or "0", dept.number)
    assert len(users) == len(env.company.employees)
    for person in env.company.employees:
        assert person.oa_user_id is not None
        user = users[person.oa_user_id]
        assert user == OrgUser(person.oa_user_id, person.name, person.number, (person.department_number,), True)
    assert env.sandbox.calls["department_children"] == len(units)
    assert env.sandbox.calls["find_by_department"] == len(units)


async def test_open_department_ids_when_configured(env: Env) -> None:
    units, users = await env.read(directory_department_id_type="open_department_id")
    south = env.org.open_dept_id("BM0302")
    assert south.startswith("od-") and units[south].code == "BM0302"  # the custom id is still the code
    assert units[south].parent_id == env.org.open_dept_id("BM03")
    person = env.company.employees[0]
    assert users[person.oa_user_id or ""].department_ids == (env.org.open_dept_id(person.department_number),)


async def test_more_than_one_page_of_departments_and_people_is_read_whole(env: Env) -> None:
    whole_units, whole_users = await env.read()
    env.sandbox.calls.clear()
    units, users = await env.read(directory_page_size=3)
    assert units == whole_units and users == whole_users
    top = sum(1 for d in env.company.departments if d.parent_number is None)
    assert top > 3  # the root's children take two pages
    # Each department is paged separately: ⌈n / 3⌉ calls each, at least one.
    per_dept = {"0": 0} | {d.number: 0 for d in env.company.departments}
    for e in env.company.employees:
        per_dept[e.department_number] += 1
    assert env.sandbox.calls["find_by_department"] == sum(max(1, -(-n // 3)) for n in per_dept.values())
    assert env.sandbox.calls["department_children"] > len(units)


async def test_a_person_in_several_departments_is_read_once_with_the_primary_one_first(env: Env) -> None:
    env.org.hire("u-multi", "司马多", "E9100", ["BM0302", "BM04", "BM02"])  # primary: 华南销售组
    _, users = await env.read(directory_page_size=5)
    # Feishu's department_ids come sorted here; ``orders`` marks the primary one.
    assert users["u-multi"].department_ids == ("BM0302", "BM02", "BM04")
    assert users["u-multi"].employee_number == "E9100"
    assert len(users) == len(env.company.employees) + 1


async def test_a_person_who_resigned_is_absent_or_read_as_inactive(env: Env) -> None:
    gone, listed = env.company.employees[0].oa_user_id or "", env.company.employees[1].oa_user_id or ""
    env.org.leave(gone)
    env.org.leave(listed, listed=True)  # a tenant that still lists them, with status.is_resigned
    _, users = await env.read()
    assert gone not in users
    assert users[listed].active is False
    assert sum(u.active for u in users.values()) == len(env.company.employees) - 2


async def test_moves_and_renames_by_hr_are_visible_on_the_next_read(env: Env) -> None:
    env.org.add_department("BM030201", "华南一组", "BM0302")
    env.org.move("BM0302", "BM01")
    env.org.rename("BM04", "研发与创新中心")
    units, _ = await env.read()
    assert units["BM0302"].parent_id == "BM01"
    assert units["BM04"].name == "研发与创新中心"
    assert units["BM030201"].parent_id == "BM0302"  # below a moved department, still found


async def test_an_expired_token_is_refreshed_once_and_the_read_completes(env: Env) -> None:
    client = env.client()
    await client.tenant_access_token()
    env.faults.script("find_by_department", Fault(FaultKind.EXPIRED_TOKEN))
    units, users = await read_directory(client)
    assert len(users) == len(env.company.employees)
    assert env.sandbox.calls["token"] == 2
    assert env.sandbox.calls["find_by_department"] == len(units) + 1


async def test_a_failing_call_fails_the_whole_read(env: Env) -> None:
    env.faults.script("department_children", Fault(FaultKind.EXPIRED_TOKEN), Fault(FaultKind.EXPIRED_TOKEN))
    with pytest.raises(AuthExpired):  # one refresh only, then the error
        await read_directory(env.client())
    env.faults.script("find_by_department", Fault(FaultKind.SERVER_ERROR))
    with pytest.raises(TransientError):
        await read_directory(env.client())


async def test_an_unknown_root_department_is_refused_with_feishus_code(env: Env) -> None:
    with pytest.raises(VendorRejected) as refused:
        await read_directory(env.client(directory_root_id="no-such-dept"))
    assert refused.value.vendor_code == "60001"


def _sync(db: Database, clock: FakeClock, listing: tuple[list[OrgUnit], list[OrgUser]]) -> SyncReport:
    with db.begin() as conn:
        return DirectorySync(Crosswalk(clock), EventLog(clock), clock).apply(
            conn, "feishu", listing[0], listing[1], complete=True)


async def test_sync_follows_moves_renames_leavers_and_joiners(env: Env, db: Database, clock: FakeClock) -> None:
    org = env.org
    first = _sync(db, clock, await read_directory(env.client(directory_page_size=7)))
    assert len(first.units_created) == 1 + len(env.company.departments) and first.problems == []
    assert sorted(first.users_joined) == sorted(e.oa_user_id or "" for e in env.company.employees)
    leaver = env.company.employees[3]
    assert leaver.oa_user_id is not None
    org.move("BM0302", "BM01")
    org.rename("BM04", "研发与创新中心")
    org.leave(leaver.oa_user_id)
    org.hire("u-new-1", "欧阳新", "E9001", ["BM04", "BM0302"])
    second = _sync(db, clock, await read_directory(env.client(directory_page_size=7)))
    assert second.units_moved == ["BM0302"] and second.units_renamed == ["BM04"]
    assert second.users_left == [leaver.oa_user_id] and second.users_joined == ["u-new-1"]
    assert second.units_created == [] and second.units_removed == [] and second.problems == []
    with db.read() as conn:
        depts = {r.number: r for r in conn.execute(select(departments))}
        staff = {r.number: r for r in conn.execute(select(employees))}
        links = dict(conn.execute(select(crosswalk.c.native_id, crosswalk.c.golden_id).where(
            crosswalk.c.system == "feishu", crosswalk.c.native_type == "user")).all())
    # The custom department_id is the ERP's number: golden departments keep the ERP numbers.
    assert depts["BM0302"].parent_number == "BM01" and depts["BM01"].parent_number == "feishu-0"
    assert depts["BM04"].name == "研发与创新中心"
    assert staff[leaver.number].active is False and staff[leaver.number].left_at is not None
    assert staff["E9001"].department_number == "BM04" and staff["E9001"].active is True
    stayer = env.company.employees[0]
    assert (staff[stayer.number].department_number, staff[stayer.number].active) == (stayer.department_number, True)
    assert links[leaver.oa_user_id] == leaver.number and links["u-new-1"] == "E9001"
    third = _sync(db, clock, await read_directory(env.client()))
    assert third.changes == 0
