"""Directory sync against a real database: trees, moves, renames, leavers, rehires, bad listings."""

from __future__ import annotations

from sqlalchemy import select

from huiliu.bus import EventLog
from huiliu.crosswalk import Crosswalk, MasterData
from huiliu.identity import DirectorySync, SyncReport
from huiliu.model import OrgUnit, OrgUser
from huiliu.store import Database
from huiliu.store.schema import crosswalk, departments, employees, event_log
from huiliu.testing import FakeClock

ROOT = OrgUnit("1", "汇流科技")
FIN = OrgUnit("10", "财务部", "1", code="BM002")
SALES = OrgUnit("20", "销售部", "1")
EAST = OrgUnit("21", "华东销售组", "20")
WEST = OrgUnit("22", "华西销售组", "20")


def people() -> list[OrgUser]:
    return [
        OrgUser("u-li", "李娜", "E1001", ("10",)),
        OrgUser("u-wang", "王强", "E1002", ("21", "10")),  # in two departments, main one first
        OrgUser("u-zhao", "赵敏", "E1003", ("22",)),
    ]


def sync(db: Database, clock: FakeClock, units: list[OrgUnit], users: list[OrgUser], *,
         complete: bool = True) -> SyncReport:
    with db.begin() as conn:
        return DirectorySync(Crosswalk(clock), EventLog(clock), clock).apply(
            conn, "dingtalk", units, users, complete=complete)


def golden_departments(db: Database) -> dict[str, tuple[str, str | None, bool]]:
    with db.read() as conn:
        return {r.number: (r.name, r.parent_number, r.active) for r in conn.execute(select(departments))}


def golden_employees(db: Database) -> dict[str, tuple[str, str, bool]]:
    with db.read() as conn:
        return {r.number: (r.name, r.department_number, r.active) for r in conn.execute(select(employees))}


def user_links(db: Database) -> dict[str, str]:
    with db.read() as conn:
        return dict(conn.execute(select(crosswalk.c.native_id, crosswalk.c.golden_id).where(
            crosswalk.c.system == "dingtalk", crosswalk.c.native_type == "user")).all())


def test_first_sync_builds_the_tree_even_with_children_listed_before_parents(db: Database, clock: FakeClock) -> None:
    report = sync(db, clock, [WEST, EAST, FIN, SALES, ROOT], people())  # leaves first, root last
    assert sorted(report.units_created) == ["1", "10", "20", "21", "22"]
    assert sorted(report.users_joined) == ["u-li", "u-wang", "u-zhao"]
    assert report.problems == []
    depts = golden_departments(db)
    assert depts["BM002"] == ("财务部", "dingtalk-1", True)  # the OA's department code becomes the number
    assert depts["dingtalk-21"] == ("华东销售组", "dingtalk-20", True)
    assert depts["dingtalk-20"] == ("销售部", "dingtalk-1", True)
    assert depts["dingtalk-1"][1] is None
    staff = golden_employees(db)
    assert staff["E1002"] == ("王强", "dingtalk-21", True)
    assert user_links(db) == {"u-li": "E1001", "u-wang": "E1002", "u-zhao": "E1003"}
    with db.read() as conn:  # the flows' lookup resolves an OA user id to the employee and department
        found = MasterData(Crosswalk(clock)).lookup(conn, "employee", "dingtalk", "u-wang")
    assert found is not None and found["number"] == "E1002" and found["department_name"] == "华东销售组"


def test_a_repeat_of_the_same_listing_changes_nothing(db: Database, clock: FakeClock) -> None:
    sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people())
    with db.read() as conn:
        logged = len(conn.execute(select(event_log.c.id)).all())
    again = sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people())
    assert again.changes == 0 and again.problems == []
    with db.read() as conn:
        assert len(conn.execute(select(event_log.c.id)).all()) == logged


def test_moves_renames_removals_changes_and_leavers_are_reflected(db: Database, clock: FakeClock) -> None:
    sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people())
    clock.advance(86400)
    moved_east = OrgUnit("21", "华东大区", "1")  # renamed and moved from 销售部 to the root
    staff = [OrgUser("u-li", "李娜", "E1001", ("10", "21")),  # now also in 华东大区
             OrgUser("u-wang", "王强", "E1002", ("21", "10"))]  # 赵敏 is gone: she left
    report = sync(db, clock, [ROOT, FIN, SALES, moved_east], staff)  # 华西销售组 was dissolved
    assert report.units_renamed == ["21"] and report.units_moved == ["21"] and report.units_removed == ["22"]
    assert report.users_changed == ["u-li"] and report.users_left == ["u-zhao"]
    assert report.users_joined == [] and report.users_rehired == []
    depts = golden_departments(db)
    assert depts["dingtalk-21"] == ("华东大区", "dingtalk-1", True)
    assert depts["dingtalk-22"][2] is False
    assert golden_employees(db)["E1003"] == ("赵敏", "dingtalk-22", False)
    # The crosswalk stays whole: a leaver's approvals still resolve to their employee.
    assert user_links(db)["u-zhao"] == "E1003"
    with db.read() as conn:
        found = MasterData(Crosswalk(clock)).lookup(conn, "employee", "dingtalk", "u-zhao")
        history = [a for (a,) in conn.execute(select(event_log.c.activity).where(
            event_log.c.case_id == "department:dingtalk-21").order_by(event_log.c.id))]
    assert found is not None and found["name"] == "赵敏"
    assert history == ["directory.department.created", "directory.department.renamed",
                       "directory.department.moved"]


def test_a_child_in_an_earlier_partial_batch_is_attached_when_its_parent_arrives(db: Database,
                                                                                 clock: FakeClock) -> None:
    first = sync(db, clock, [ROOT, EAST], [], complete=False)  # 华东销售组 before 销售部 exists
    assert [p.where for p in first.problems] == ["department:21"]
    assert "尚未同步" in first.problems[0].message.zh
    assert golden_departments(db)["dingtalk-21"] == ("华东销售组", None, True)
    sync(db, clock, [SALES], [], complete=False)
    assert golden_departments(db)["dingtalk-21"] == ("华东销售组", "dingtalk-20", True)


def test_a_rehire_under_a_new_oa_id_moves_the_link_and_keeps_the_employee(db: Database, clock: FakeClock) -> None:
    sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people())
    sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people()[:2])  # 赵敏 leaves
    assert golden_employees(db)["E1003"][2] is False
    back = [*people()[:2], OrgUser("u-zhao-2", "赵敏", "E1003", ("10",))]  # back, with a new OA account
    report = sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], back)
    assert report.users_rehired == ["u-zhao-2"] and report.users_joined == []
    assert golden_employees(db)["E1003"] == ("赵敏", "BM002", True)
    links = user_links(db)
    assert links["u-zhao-2"] == "E1003" and "u-zhao" not in links
    # Back again under the same id, after a second departure.
    sync(db, clock, [ROOT], [OrgUser("u-zhao-2", "赵敏", "E1003", ("1",), active=False)], complete=False)
    assert golden_employees(db)["E1003"][2] is False
    again = sync(db, clock, [ROOT], [OrgUser("u-zhao-2", "赵敏", "E1003", ("1",))], complete=False)
    assert again.users_rehired == ["u-zhao-2"]
    assert golden_employees(db)["E1003"][2] is True


def test_a_leavers_waiting_approvals_are_listed_for_transfer(db: Database, clock: FakeClock) -> None:
    sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people())
    log = EventLog(clock)
    with db.begin() as conn:
        for case, activity in [("inst-1", "task.start"), ("inst-2", "task.start"), ("inst-2", "task.finish"),
                               ("inst-3", "task.start")]:
            log.record(conn, case_id=case, activity=activity, system="dingtalk", actor="u-zhao")
        log.record(conn, case_id="inst-4", activity="task.start", system="dingtalk", actor="u-li")
    report = sync(db, clock, [ROOT, FIN, SALES, EAST, WEST], people()[:2])
    assert report.leavers_in_flight == {"u-zhao": ["inst-1", "inst-3"]}


def test_bad_listings_are_reported_and_nothing_wrong_is_applied(db: Database, clock: FakeClock) -> None:
    loop_a, loop_b = OrgUnit("30", "甲", "31"), OrgUnit("31", "乙", "30")
    staff = [OrgUser("u-li", "李娜", "E1001", ("10",)),
             OrgUser("u-nobody", "无工号", None, ("10",)),
             OrgUser("u-twin", "李娜二", "E1001", ("10",))]  # the same employee number twice
    report = sync(db, clock, [ROOT, FIN, loop_a, loop_b], staff)
    where = sorted(p.where for p in report.problems)
    assert where == ["department:30", "department:31", "user:u-nobody", "user:u-twin"]
    texts = {p.where: p.message for p in report.problems}
    assert "环" in texts["department:30"].zh and "cycle" in texts["department:30"].en
    assert "工号" in texts["user:u-nobody"].zh and "employee number" in texts["user:u-nobody"].en
    assert set(golden_departments(db)) == {"dingtalk-1", "BM002"}
    assert set(golden_employees(db)) == {"E1001"} and user_links(db) == {"u-li": "E1001"}


def test_an_oa_department_pre_linked_to_an_erp_department_keeps_the_erp_number(db: Database,
                                                                             clock: FakeClock) -> None:
    with db.begin() as conn:
        conn.execute(departments.insert(), [{"number": "BM009", "name": "旧名", "parent_number": None,
                                              "cost_center": "CC01", "active": True}])
        Crosswalk(clock).link(conn, entity="department", golden_id="BM009", system="dingtalk",
                              native_type="department", native_id="20")
    sync(db, clock, [ROOT, SALES, EAST], [])
    depts = golden_departments(db)
    assert depts["BM009"] == ("销售部", "dingtalk-1", True)
    assert depts["dingtalk-21"][1] == "BM009"


def test_an_oa_department_code_adopts_the_erp_department_of_that_number(db: Database, clock: FakeClock) -> None:
    with db.begin() as conn:  # master data loaded from the ERP before the first sync
        conn.execute(departments.insert(), [{"number": "BM002", "name": "财务部", "parent_number": None,
                                              "cost_center": "CC01", "active": True}])
    report = sync(db, clock, [ROOT, FIN], [])
    assert report.units_created == ["1", "10"] and report.problems == []
    depts = golden_departments(db)
    assert set(depts) == {"dingtalk-1", "BM002"}  # adopted, not a second "BM002-2"
    assert depts["BM002"] == ("财务部", "dingtalk-1", True)
    # A second OA department claiming the same code gets a number of its own.
    again = sync(db, clock, [ROOT, FIN, OrgUnit("11", "财务二部", "1", code="BM002")], [])
    assert again.units_created == ["11"]
    assert golden_departments(db)["dingtalk-11"][0] == "财务二部"


def test_an_oa_user_linked_to_another_employee_number_is_reported_not_relinked(db: Database,
                                                                                clock: FakeClock) -> None:
    sync(db, clock, [ROOT, FIN], [OrgUser("u-li", "李娜", "E1001", ("10",))])
    report = sync(db, clock, [ROOT, FIN], [OrgUser("u-li", "李娜", "U-LI-2024", ("10",))], complete=False)
    assert [p.where for p in report.problems] == ["user:u-li"]
    assert "E1001" in report.problems[0].message.zh and "U-LI-2024" in report.problems[0].message.en
    assert user_links(db) == {"u-li": "E1001"} and set(golden_employees(db)) == {"E1001"}
