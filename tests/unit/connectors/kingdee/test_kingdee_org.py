"""kingdee.org.sync: the hub's directory into Kingdee departments and employees, against the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from kingdee_rig import KdEnv, MakeEnv

from huiliu.connectors.kingdee import ORG_SYNC
from huiliu.errors import MappingError, TransientError
from huiliu.i18n import Lang
from huiliu.sandbox.faults import Fault, FaultKind

DEPT, EMP = "BD_DEPARTMENT", "BD_EMPINFO"


def dept(number: str, name: str, parent: str | None = None, active: bool = True) -> dict[str, Any]:
    return {"number": number, "name": name, "parent_number": parent, "active": active}


def emp(number: str, name: str, department: str | None, active: bool = True) -> dict[str, Any]:
    return {"number": number, "name": name, "department_number": department, "active": active}


def directory() -> dict[str, Any]:
    """A small company; children listed before their parents on purpose."""
    return {
        "departments": [dept("BM0301", "华东销售部", "BM03"), dept("BM03", "销售中心", "HQ"),
                        dept("HQ", "汇流示范有限公司"), dept("BM04", "研发中心", "HQ")],
        "employees": [emp("E1001", "欧阳明", "BM0301"), emp("E1002", "司马晴", "BM04"),
                      emp("E1003", "上官云", "BM03"), emp("E1004", "诸葛亮", "BM04")],
    }


def counts(result: dict[str, Any], kind: str) -> tuple[int, ...]:
    c = result[kind]
    return c["created"], c["updated"], c["unchanged"], c["disabled"], c["failed"]


def record(env: KdEnv, form: str, number: str) -> Any:
    found = env.sandbox.org_record(form, number)
    assert found is not None, number
    return found


async def test_first_sync_creates_everything_audited_and_a_second_run_saves_nothing(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    first = await env.run(ORG_SYNC, directory())
    assert counts(first, "departments") == (4, 0, 0, 0, 0) and counts(first, "employees") == (4, 0, 0, 0, 0)
    assert first["problems"] == []
    east = record(env, DEPT, "BM0301")
    assert (east.model["FName"], east.model["FParentID"], east.status) == ("华东销售部", {"FNumber": "BM03"}, "C")
    assert east.model["FUseOrgId"] == {"FNumber": "100"} and east.model["FForbidStatus"] == "A"
    person = record(env, EMP, "E1001")
    assert (person.model["FName"], person.status) == ("欧阳明", "C")
    assert person.model["FPostEntity"] == [{"FPostDept": {"FNumber": "BM0301"}, "FIsFirstPost": True,
                                            "FWorkOrgId": {"FNumber": "100"}}]
    # one BatchSave per level of the tree (HQ; BM03, BM04; BM0301), one for the employees
    assert env.sandbox.batch_save_calls == 4 and env.sandbox.save_calls == 0
    saved = dict(env.sandbox.org_saved)
    again = await env.run(ORG_SYNC, directory())
    assert dict(env.sandbox.org_saved) == saved  # nothing saved the second time
    assert counts(again, "departments") == (0, 0, 4, 0, 0) and counts(again, "employees") == (0, 0, 4, 0, 0)


async def test_renames_moves_transfers_leavers_and_removed_departments_touch_only_what_changed(
        make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    await env.run(ORG_SYNC, directory())
    saved = dict(env.sandbox.org_saved)
    changed = directory()
    changed["departments"][0] = dept("BM0301", "华东销售部", "BM04")  # moved
    changed["departments"][3] = dept("BM04", "研发与创新中心", "HQ")  # renamed
    changed["departments"].append(dept("BM05", "已撤销的部门", "HQ", active=False))  # never in Kingdee
    changed["employees"][2] = emp("E1003", "上官云", "BM04")  # transferred
    changed["employees"][3] = emp("E1004", "诸葛亮", "BM04", active=False)  # left
    result = await env.run(ORG_SYNC, changed)
    assert counts(result, "departments") == (0, 2, 3, 0, 0), result
    assert counts(result, "employees") == (0, 1, 2, 1, 0) and result["problems"] == []
    assert env.sandbox.org_saved[DEPT] - saved[DEPT] == 2 and env.sandbox.org_saved[EMP] - saved[EMP] == 1
    moved, renamed = record(env, DEPT, "BM0301"), record(env, DEPT, "BM04")
    assert moved.model["FParentID"] == {"FNumber": "BM04"} and renamed.model["FName"] == "研发与创新中心"
    assert moved.status == renamed.status == "C"  # un-audited for the Save, audited again
    assert record(env, EMP, "E1003").model["FPostEntity"][0]["FPostDept"] == {"FNumber": "BM04"}
    assert record(env, EMP, "E1004").model["FForbidStatus"] == "B"
    assert env.sandbox.org_record(DEPT, "BM05") is None  # an inactive department is not created
    # The leaver comes back: enabled again (反禁用), no Save since nothing else differs.
    before = dict(env.sandbox.org_saved)
    changed["employees"][3] = emp("E1004", "诸葛亮", "BM04")
    back = await env.run(ORG_SYNC, changed)
    assert counts(back, "employees") == (0, 1, 3, 0, 0) and dict(env.sandbox.org_saved) == before
    assert record(env, EMP, "E1004").model["FForbidStatus"] == "A"


async def test_a_removed_department_is_disabled_after_its_people(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    await env.run(ORG_SYNC, directory())
    gone = directory()
    gone["departments"][0] = dept("BM0301", "华东销售部", "BM03", active=False)
    gone["employees"][0] = emp("E1001", "欧阳明", "BM0301", active=False)
    result = await env.run(ORG_SYNC, gone)
    assert counts(result, "departments")[3] == 1 and counts(result, "employees")[3] == 1
    assert record(env, DEPT, "BM0301").model["FForbidStatus"] == "B"


async def test_an_item_kingdee_refuses_is_reported_in_its_words_and_the_rest_goes_on(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    listing = directory()
    listing["employees"].insert(1, emp("E1009", "无部门的人", "BM99"))  # BM99 is in neither system
    listing["departments"].append(dept("BM06", "即将撤销", "HQ"))
    listing["employees"].append(emp("E1010", "留守者", "BM06"))
    result = await env.run(ORG_SYNC, listing)
    assert counts(result, "employees") == (5, 0, 0, 0, 1)
    [problem] = result["problems"]
    assert (problem["kind"], problem["number"], problem["operation"]) == ("employee", "E1009", "BatchSave")
    assert "部门“BM99”不存在或未审核" in problem["vendor_message"] and "E1009" in problem["message"]
    assert env.sandbox.org_record(EMP, "E1009") is None and env.sandbox.org_record(EMP, "E1002") is not None
    # A department removed while someone there is still in use: Kingdee refuses the 禁用, reported.
    listing["departments"][-1] = dept("BM06", "即将撤销", "HQ", active=False)
    again = await env.run(ORG_SYNC, listing)
    [refusal] = [p for p in again["problems"] if p["kind"] == "department"]
    assert refusal["operation"] == "Forbid" and "E1010" in refusal["vendor_message"]
    assert counts(again, "departments")[4] == 1 and record(env, DEPT, "BM06").model["FForbidStatus"] == "A"


async def test_records_kingdee_already_has_are_matched_by_number_and_erp_only_ones_left_alone(
        make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    env.sandbox.add_department("HQ", "汇流示范有限公司")
    env.sandbox.add_department("BM03", "销售部（旧名）", "HQ")
    env.sandbox.add_department("ERP-ONLY", "仅在金蝶中的部门", "HQ")
    result = await env.run(ORG_SYNC, directory())
    assert counts(result, "departments") == (2, 1, 1, 0, 0)
    assert record(env, DEPT, "BM03").model["FName"] == "销售中心" and record(env, DEPT, "BM03").status == "C"
    assert record(env, DEPT, "ERP-ONLY").model["FForbidStatus"] == "A" and env.sandbox.bill_count(DEPT) == 5


async def test_a_record_left_unaudited_by_an_earlier_run_is_audited_without_saving(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    await env.run(ORG_SYNC, directory())
    person = record(env, EMP, "E1002")
    person.status = person.model["FDocumentStatus"] = "A"  # saved, then the run stopped before Submit
    saved = dict(env.sandbox.org_saved)
    result = await env.run(ORG_SYNC, directory())
    assert counts(result, "employees") == (0, 1, 3, 0, 0) and dict(env.sandbox.org_saved) == saved
    assert record(env, EMP, "E1002").status == "C"


async def test_saves_go_in_batches_of_the_configured_size(make_kd_env: MakeEnv) -> None:
    env = await make_kd_env(batch_size=2)
    listing = {"departments": [dept("HQ", "总部")],
               "employees": [emp(f"E2{n:03d}", f"员工{n}", "HQ") for n in range(5)]}
    result = await env.run(ORG_SYNC, listing)
    assert counts(result, "employees") == (5, 0, 0, 0, 0)
    assert env.sandbox.batch_save_calls == 1 + 3 and env.sandbox.org_saved[EMP] == 5


@pytest.mark.parametrize(("request_", "where"), [
    ({"employees": []}, "kingdee.org.sync.departments"),
    ({"departments": [], "employees": [{"number": "E1", "department_number": "HQ"}]},
     "kingdee.org.sync.employees.0.name"),
    ({"departments": [dept("HQ", "总部"), dept("HQ", "又一个总部")], "employees": []},
     "kingdee.org.sync.departments.1.number"),
    ({"departments": [{"number": "HQ", "name": "总部", "active": "yes"}], "employees": []},
     "kingdee.org.sync.departments.0.active"),
    ({"departments": [{"number": "HQ", "name": "总部", "parent_number": 7}], "employees": []},
     "kingdee.org.sync.departments.0.parent_number"),
    ({"departments": ["HQ"], "employees": []}, "kingdee.org.sync.departments.0"),
])
async def test_a_malformed_directory_is_refused_before_any_call(make_kd_env: MakeEnv, request_: dict[str, Any],
                                                                where: str) -> None:
    env = await make_kd_env()
    with pytest.raises(MappingError) as caught:
        await env.run(ORG_SYNC, request_)
    assert caught.value.where == where, caught.value.render(Lang.EN)
    assert env.sandbox.login_calls == 0  # not even a login: nothing reached Kingdee


async def test_a_batch_saved_whose_reply_was_lost_is_matched_on_the_retry_never_saved_twice(
        make_kd_env: MakeEnv) -> None:
    env = await make_kd_env()
    env.sandbox.faults.script("batch_save", Fault(FaultKind.APPLIED_REPLY_LOST))  # the first round: HQ
    with pytest.raises(TransientError):
        await env.run(ORG_SYNC, directory())
    assert record(env, DEPT, "HQ").status == "A"  # Kingdee saved it; the hub does not know
    result = await env.run(ORG_SYNC, directory(), attempt=2)
    assert counts(result, "departments") == (3, 1, 0, 0, 0) and result["problems"] == []
    assert env.sandbox.bill_count(DEPT) == 4 and env.sandbox.org_saved[DEPT] == 4  # HQ saved once
    assert record(env, DEPT, "HQ").status == "C"
