"""The DingTalk sandbox's organisation directory (通讯录), as the legacy ``oapi`` endpoints list it.

Routes (legacy style: ``?access_token=`` in the query, HTTP 200 with ``errcode``/``errmsg`` in the body):
``POST /topapi/v2/department/listsub`` ``{dept_id}`` → ``{"errcode":0,"result":[{dept_id,name,parent_id,
source_identifier}]}`` and ``POST /topapi/v2/user/list`` ``{dept_id,cursor,size≤100}`` →
``{"errcode":0,"result":{"has_more","next_cursor","list":[{userid,name,job_number,dept_id_list,active}]}}``.
These are not in ``shared/contracts`` (the DingTalk section covers approvals only); the shape follows the
public SDKs' request classes and is marked unconfirmed in the connector.

Business helpers change the organisation the way HR does: :meth:`OrgDirectory.move`, :meth:`rename`,
:meth:`hire`, :meth:`leave`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from huiliu.sandbox.company import Company

__all__ = ["ROOT_DEPT_ID", "OrgDirectory"]

ROOT_DEPT_ID = 1
"""DingTalk's root department (the company itself)."""
_PAGE_MAX = 100


@dataclass
class _Dept:
    dept_id: int
    name: str
    parent_id: int | None
    code: str | None = None


@dataclass
class _User:
    userid: str
    name: str
    job_number: str | None
    dept_id_list: list[int] = field(default_factory=list)


class OrgDirectory:
    """Departments and people of one tenant, built from the simulated company."""

    def __init__(self, company: Company | None) -> None:
        root = _Dept(ROOT_DEPT_ID, company.name if company else "示范公司", None)
        self.depts: dict[int, _Dept] = {ROOT_DEPT_ID: root}
        self.users: dict[str, _User] = {}
        if company is None:
            return
        ids = {d.number: 100 + i for i, d in enumerate(company.departments)}
        for d in company.departments:
            parent = ids[d.parent_number] if d.parent_number else ROOT_DEPT_ID
            self.depts[ids[d.number]] = _Dept(ids[d.number], d.name, parent, d.number)
        for e in company.employees:
            if e.oa_user_id:
                self.users[e.oa_user_id] = _User(e.oa_user_id, e.name, e.number, [ids[e.department_number]])

    def dept_id(self, code: str) -> int:
        """The DingTalk id of the department with this code (the ERP's number)."""
        return next(d.dept_id for d in self.depts.values() if d.code == code)

    # -- HR's changes ---------------------------------------------------------------------------

    def move(self, dept_id: int, parent_id: int) -> None:
        """Give a department a new parent."""
        self.depts[dept_id].parent_id = parent_id

    def rename(self, dept_id: int, name: str) -> None:
        """Rename a department."""
        self.depts[dept_id].name = name

    def hire(self, userid: str, name: str, job_number: str | None, dept_ids: list[int]) -> None:
        """Add (or re-add) a person."""
        self.users[userid] = _User(userid, name, job_number, list(dept_ids))

    def leave(self, userid: str) -> None:
        """A person leaves: they disappear from the listing."""
        del self.users[userid]

    # -- the API ----------------------------------------------------------------------------------

    def list_sub(self, body: dict[str, Any]) -> dict[str, Any]:
        """``topapi/v2/department/listsub``: the direct children of ``dept_id``."""
        parent = _int(body.get("dept_id"), ROOT_DEPT_ID)
        if parent not in self.depts:
            return {"errcode": 60003, "errmsg": "部门不存在"}
        children = [d for d in self.depts.values() if d.parent_id == parent]
        return {"errcode": 0, "errmsg": "ok", "result": [
            {"dept_id": d.dept_id, "name": d.name, "parent_id": d.parent_id,
             **({"source_identifier": d.code} if d.code else {})} for d in children]}

    def list_users(self, body: dict[str, Any]) -> dict[str, Any]:
        """``topapi/v2/user/list``: one page of the people directly in ``dept_id``."""
        dept = _int(body.get("dept_id"), -1)
        cursor, size = _int(body.get("cursor"), 0), _int(body.get("size"), 0)
        if dept not in self.depts:
            return {"errcode": 60003, "errmsg": "部门不存在"}
        if not 1 <= size <= _PAGE_MAX:
            return {"errcode": 40035, "errmsg": f"不合法的参数：size 须在 1 到 {_PAGE_MAX} 之间"}
        members = sorted((u for u in self.users.values() if dept in u.dept_id_list), key=lambda u: u.userid)
        page = members[cursor:cursor + size]
        more = cursor + size < len(members)
        return {"errcode": 0, "errmsg": "ok", "result": {
            "has_more": more, **({"next_cursor": cursor + size} if more else {}),
            "list": [{"userid": u.userid, "name": u.name, "dept_id_list": list(u.dept_id_list), "active": True,
                      **({"job_number": u.job_number} if u.job_number else {})} for u in page]}}


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return default
