"""The Feishu sandbox's organisation directory (通讯录), as contact v3 lists it.

Routes (``Authorization: Bearer`` tenant token, the ``{"code", "msg", "data"}`` envelope):
``GET /open-apis/contact/v3/departments/:department_id/children?department_id_type=&page_size=&page_token=``
→ ``data: {items: [{department_id, open_department_id, name, parent_department_id, status}], has_more,
page_token}`` — the direct children (all descendants with ``fetch_child=true``), root ``0``; and
``GET /open-apis/contact/v3/users/find_by_department?department_id=&department_id_type=&page_size=&page_token=``
→ ``data: {items: [{user_id, open_id, name, employee_no, department_ids, status: {is_resigned,
is_activated, is_frozen}, orders: [{department_id, is_primary_dept}]}], has_more, page_token}`` — the
people directly in the department. ``page_size`` is at most 50 (10 when absent); ``department_id_type`` is
``open_department_id`` when absent, as Feishu documents. Department ids given in a request and returned in
a reply are of that type.

These are not in ``shared/contracts`` (§3 covers approvals only): the shape follows Feishu's public API
documentation and is unconfirmed, as are the error codes (99992402 bad parameter, 60001 not found, shared
with :mod:`.state`) and whether people who resigned are still listed (by default they are not).

The simulated company's departments keep the ERP's code as their custom ``department_id`` (as approvals
submitted by :meth:`FeishuSandbox.start_claim` carry it); people are listed under ``user_id`` = the
employee's ``oa_user_id`` and ``open_id`` ``ou_<number>``, with ``employee_no`` = the employee number.
Business helpers change the organisation the way HR does: :meth:`OrgDirectory.move`, :meth:`rename`,
:meth:`hire`, :meth:`leave`; :meth:`OrgDirectory.dept_id` finds a department by its ERP code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from huiliu.sandbox.company import Company
from huiliu.sandbox.feishu.state import BAD_PARAMS_CODE, NOT_FOUND_CODE, _ApiError

__all__ = ["MAX_PAGE_SIZE", "ROOT_DEPT_ID", "OrgDirectory"]

ROOT_DEPT_ID = "0"
"""Feishu's root department (the tenant itself), the same in every id type."""
MAX_PAGE_SIZE = 50
_DEFAULT_PAGE_SIZE = 10
_ID_TYPES = ("department_id", "open_department_id")


@dataclass
class _Dept:
    department_id: str
    open_department_id: str
    name: str
    parent: str
    """The parent's ``department_id`` (``0`` under the root)."""
    code: str | None = None


@dataclass
class _User:
    user_id: str
    open_id: str
    name: str
    employee_no: str | None
    department_ids: list[str] = field(default_factory=list)
    """``department_id`` of each department, the main one first."""
    resigned: bool = False
    listed: bool = True


def _open_id(prefix: str, key: str) -> str:
    return f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class OrgDirectory:
    """Departments and people of one tenant, built from the simulated company."""

    def __init__(self, company: Company | None) -> None:
        self.depts: dict[str, _Dept] = {}
        self.users: dict[str, _User] = {}
        if company is None:
            return
        for d in company.departments:
            self.add_department(d.number, d.name, d.parent_number or ROOT_DEPT_ID, code=d.number)
        for e in company.employees:
            if e.oa_user_id:
                extra = [n for n in e.departments if n in self.depts and n != e.department_number]
                self.hire(e.oa_user_id, e.name, e.number, [e.department_number, *extra])

    def dept_id(self, code: str) -> str:
        """The custom ``department_id`` of the department with this code (the ERP's number)."""
        return next(d.department_id for d in self.depts.values() if d.code == code)

    def open_dept_id(self, department_id: str) -> str:
        """The ``open_department_id`` of a department (``0`` for the root)."""
        return ROOT_DEPT_ID if department_id == ROOT_DEPT_ID else self.depts[department_id].open_department_id

    # -- HR's changes ---------------------------------------------------------------------------

    def add_department(self, department_id: str, name: str, parent: str = ROOT_DEPT_ID,
                       code: str | None = None) -> None:
        """Create a department under ``parent`` (a ``department_id``)."""
        if parent != ROOT_DEPT_ID and parent not in self.depts:
            raise KeyError(parent)
        self.depts[department_id] = _Dept(department_id, _open_id("od-", department_id), name, parent, code)

    def move(self, department_id: str, parent: str) -> None:
        """Give a department a new parent."""
        if parent != ROOT_DEPT_ID and parent not in self.depts:
            raise KeyError(parent)
        self.depts[department_id].parent = parent

    def rename(self, department_id: str, name: str) -> None:
        """Rename a department."""
        self.depts[department_id].name = name

    def hire(self, user_id: str, name: str, employee_no: str | None, department_ids: list[str]) -> None:
        """Add (or re-add) a person; the first department is the main one."""
        open_id = f"ou_{employee_no.lower()}" if employee_no else _open_id("ou_", user_id)
        self.users[user_id] = _User(user_id, open_id, name, employee_no, list(department_ids))

    def leave(self, user_id: str, *, listed: bool = False) -> None:
        """A person resigns: no longer listed, or (``listed=True``) listed with ``is_resigned``."""
        user = self.users[user_id]
        user.resigned, user.listed = True, listed

    # -- the API ----------------------------------------------------------------------------------

    def children(self, department_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``departments/:department_id/children``: one page of the department's children."""
        id_type, size, offset = _paging(query)
        parent = self._resolve(department_id, id_type)
        if query.get("fetch_child") == "true":
            found: list[_Dept] = []
            frontier, seen = {parent}, {parent}
            while frontier:
                layer = [d for d in self.depts.values() if d.parent in frontier and d.department_id not in seen]
                found += layer
                frontier = {d.department_id for d in layer}
                seen |= frontier
        else:
            found = [d for d in self.depts.values() if d.parent == parent]
        items = [{"name": d.name, "department_id": d.department_id, "open_department_id": d.open_department_id,
                  "parent_department_id": self._id(d.parent, id_type), "status": {"is_deleted": False}}
                 for d in found]
        return _page(items, size, offset)

    def find_by_department(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``users/find_by_department``: one page of the people directly in ``department_id``."""
        id_type, size, offset = _paging(query)
        dept = self._resolve(query.get("department_id", ""), id_type)
        members = sorted((u for u in self.users.values() if u.listed and dept in u.department_ids),
                         key=lambda u: u.user_id)
        items = [{"user_id": u.user_id, "open_id": u.open_id, "name": u.name,
                  **({"employee_no": u.employee_no} if u.employee_no else {}),
                  # Feishu's order of department_ids is its own; the primary one is marked in ``orders``.
                  "department_ids": sorted(self._id(d, id_type) for d in u.department_ids),
                  "status": {"is_resigned": u.resigned, "is_activated": not u.resigned, "is_frozen": False},
                  "orders": [{"department_id": self._id(d, id_type), "is_primary_dept": i == 0}
                             for i, d in enumerate(u.department_ids)]}
                 for u in members]
        return _page(items, size, offset)

    def _resolve(self, given: str, id_type: str) -> str:
        """The ``department_id`` of a department named in ``id_type``."""
        if given == ROOT_DEPT_ID:
            return ROOT_DEPT_ID
        if id_type == "department_id" and given in self.depts:
            return given
        if id_type == "open_department_id":
            for d in self.depts.values():
                if d.open_department_id == given:
                    return d.department_id
        raise _ApiError(NOT_FOUND_CODE, f"department not found: {given!r}")

    def _id(self, department_id: str, id_type: str) -> str:
        return department_id if id_type == "department_id" else self.open_dept_id(department_id)


def _paging(query: Mapping[str, str]) -> tuple[str, int, int]:
    id_type = query.get("department_id_type") or "open_department_id"
    if id_type not in _ID_TYPES:
        raise _ApiError(BAD_PARAMS_CODE, f"invalid department_id_type: {id_type!r}")
    try:
        size = int(query.get("page_size") or _DEFAULT_PAGE_SIZE)
        offset = int(query.get("page_token") or 0)
    except ValueError:
        raise _ApiError(BAD_PARAMS_CODE, "page_size and page_token must be integers") from None
    if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
        raise _ApiError(BAD_PARAMS_CODE, f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return id_type, size, offset


def _page(items: list[dict[str, Any]], size: int, offset: int) -> dict[str, Any]:
    page = items[offset:offset + size]
    more = offset + size < len(items)
    return {"items": page, "has_more": more, **({"page_token": str(offset + size)} if more else {})}
