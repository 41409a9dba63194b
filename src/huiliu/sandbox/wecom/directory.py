"""The WeCom sandbox's organisation directory (通讯录), as the classic ``cgi-bin`` endpoints list it.

Routes (``?access_token=`` in the query, HTTP 200 with ``errcode``/``errmsg`` in the body):
``GET /cgi-bin/department/list?id=`` → ``{"errcode":0,"department":[{id,name,parentid,order}]}`` — the
department and every department below it (recursively), the root's ``parentid`` 0; without ``id`` the
whole tree. ``GET /cgi-bin/user/list?department_id=`` → ``{"errcode":0,"userlist":[{userid,name,department,
main_department,status,extattr}]}`` — the people directly in that department, unpaged. ``status``: 1 active,
2 disabled, 4 not activated, 5 left (退出企业). No mobile, no e-mail (WeCom stopped returning them to apps
created after 2022-06-20). The employee number (工号) is a custom attribute (``extattr``, name ``工号``).

These are not in ``shared/contracts`` (§2 covers approvals only): the shape follows WeCom's public API
documentation and is unconfirmed; so are the errcodes 60123 (unknown department) and 40058.

Business helpers change the organisation the way HR does: :meth:`OrgDirectory.move`, :meth:`rename`,
:meth:`hire`, :meth:`leave`; :meth:`OrgDirectory.dept_id` finds a department by its ERP code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from huiliu.sandbox.company import Company

__all__ = ["DEPT_NOT_FOUND_ERRCODE", "EMPLOYEE_NUMBER_ATTR", "ROOT_DEPT_ID", "STATUS_ACTIVE", "STATUS_LEFT",
           "OrgDirectory"]

ROOT_DEPT_ID = 1
"""WeCom's root department (the corp itself)."""
STATUS_ACTIVE, STATUS_DISABLED, STATUS_INACTIVATED, STATUS_LEFT = 1, 2, 4, 5
"""``status`` of a member: active, disabled, not activated yet, left the corp (退出企业)."""
DEPT_NOT_FOUND_ERRCODE = 60123
"""invalid party id (unconfirmed: not in the contract)."""
_INVALID_PARAMETER = 40058
EMPLOYEE_NUMBER_ATTR = "工号"
"""Name of the custom attribute (``extattr``) that carries the employee number."""


@dataclass
class _Dept:
    id: int
    name: str
    parentid: int
    order: int
    code: str | None = None


@dataclass
class _User:
    userid: str
    name: str
    employee_number: str | None
    department: list[int] = field(default_factory=list)
    status: int = STATUS_ACTIVE


class OrgDirectory:
    """Departments and members of one corp, built from the simulated company.

    Every employee with an ``oa_user_id`` is a member under that ``userid`` (the id the approvals carry),
    in their department and then any further departments they have (``Employee.departments``, ERP codes).
    """

    def __init__(self, company: Company | None) -> None:
        root = _Dept(ROOT_DEPT_ID, company.name if company else "示范公司", 0, 0)
        self.depts: dict[int, _Dept] = {ROOT_DEPT_ID: root}
        self.users: dict[str, _User] = {}
        if company is None:
            return
        ids = {d.number: 2 + i for i, d in enumerate(company.departments)}
        for i, d in enumerate(company.departments):
            parent = ids[d.parent_number] if d.parent_number else ROOT_DEPT_ID
            self.depts[ids[d.number]] = _Dept(ids[d.number], d.name, parent, 100_000_000 - i, d.number)
        for e in company.employees:
            if e.oa_user_id:
                extra = [ids[n] for n in e.departments if n in ids and n != e.department_number]
                self.users[e.oa_user_id] = _User(e.oa_user_id, e.name, e.number,
                                                 [ids[e.department_number], *extra])

    def dept_id(self, code: str) -> int:
        """The WeCom id of the department with this code (the ERP's number)."""
        return next(d.id for d in self.depts.values() if d.code == code)

    # -- HR's changes ---------------------------------------------------------------------------

    def add_department(self, dept_id: int, name: str, parent_id: int = ROOT_DEPT_ID,
                       code: str | None = None) -> None:
        """Create a department."""
        if parent_id not in self.depts:
            raise KeyError(parent_id)
        self.depts[dept_id] = _Dept(dept_id, name, parent_id, 0, code)

    def move(self, dept_id: int, parent_id: int) -> None:
        """Give a department a new parent."""
        self.depts[dept_id].parentid = parent_id

    def rename(self, dept_id: int, name: str) -> None:
        """Rename a department."""
        self.depts[dept_id].name = name

    def hire(self, userid: str, name: str, employee_number: str | None, dept_ids: list[int],
             status: int = STATUS_ACTIVE) -> None:
        """Add (or re-add) a member; the first department is the main one."""
        self.users[userid] = _User(userid, name, employee_number, list(dept_ids), status)

    def leave(self, userid: str, *, listed: bool = True) -> None:
        """A member leaves: still listed with ``status`` 5 (退出企业), or deleted (``listed=False``)."""
        if listed:
            self.users[userid].status = STATUS_LEFT
        else:
            del self.users[userid]

    # -- the API ----------------------------------------------------------------------------------

    def list_departments(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``department/list``: the department ``id`` and everything below it, breadth-first."""
        raw = query.get("id", "")
        if raw == "":
            top = ROOT_DEPT_ID
        elif raw.isdigit():
            top = int(raw)
        else:
            return {"errcode": _INVALID_PARAMETER, "errmsg": f"invalid parameter: id {raw!r}"}
        if top not in self.depts:
            return {"errcode": DEPT_NOT_FOUND_ERRCODE, "errmsg": f"invalid party id {top}"}
        found, frontier, seen = [self.depts[top]], [top], {top}
        while frontier:
            children = sorted((d for d in self.depts.values() if d.parentid in frontier and d.id not in seen),
                              key=lambda d: (-d.order, d.id))
            found += children
            frontier = [d.id for d in children]
            seen.update(frontier)
        return {"errcode": 0, "errmsg": "ok", "department": [
            {"id": d.id, "name": d.name, "parentid": d.parentid, "order": d.order} for d in found]}

    def list_users(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``user/list``: the members directly in ``department_id``, unpaged."""
        raw = query.get("department_id", "")
        if not raw.isdigit():
            return {"errcode": _INVALID_PARAMETER, "errmsg": "invalid parameter: department_id"}
        dept = int(raw)
        if dept not in self.depts:
            return {"errcode": DEPT_NOT_FOUND_ERRCODE, "errmsg": f"invalid party id {dept}"}
        members = sorted((u for u in self.users.values() if dept in u.department), key=lambda u: u.userid)
        return {"errcode": 0, "errmsg": "ok", "userlist": [_member(u) for u in members]}


def _member(user: _User) -> dict[str, Any]:
    # WeCom lists a member's departments in its own order, not necessarily the main one first.
    departments = sorted(user.department)
    item: dict[str, Any] = {"userid": user.userid, "name": user.name, "department": departments,
                            "main_department": user.department[0] if user.department else ROOT_DEPT_ID,
                            "status": user.status}
    if user.employee_number:
        item["extattr"] = {"attrs": [{"type": 0, "name": EMPLOYEE_NUMBER_ATTR,
                                      "text": {"value": user.employee_number}}]}
    return item
