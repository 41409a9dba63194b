"""Reading Feishu's organisation directory (通讯录) as canonical departments and people.

Breadth-first from the root department (``directory_root_id``, ``0``) with contact v3
``departments/:department_id/children``, and each department's people with ``users/find_by_department``,
both page by page; a person listed in several departments is merged, the department ``orders`` marks
``is_primary_dept`` put first (else the first of ``department_ids``). Department ids are of
``directory_department_id_type`` (the custom ``department_id`` by default, which approvals carry too); a
person's id is ``user_id`` (``open_id`` only when the app may not read user ids), as the approval mapping
takes the originator. The employee number is ``employee_no`` (``employee_number_field``), never the phone
or e-mail. ``status.is_resigned`` (left) and ``status.is_frozen`` (disabled) read as ``active=False``.

These endpoints are unconfirmed (not in shared/contracts): their paths are settings and their shape follows
Feishu's public API documentation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from huiliu.connectors.feishu.client import FeishuClient
from huiliu.connectors.feishu.errors import SYSTEM
from huiliu.errors import VendorRejected
from huiliu.i18n import t
from huiliu.model import OrgUnit, OrgUser

__all__ = ["read_directory"]

_Page = tuple[list[dict[str, Any]], str | None]


async def read_directory(client: FeishuClient) -> tuple[list[OrgUnit], list[OrgUser]]:
    """The whole directory: every department under the root, and everyone in them."""
    settings = client.settings
    root, id_type, code_field = (settings.directory_root_id, settings.directory_department_id_type,
                                 settings.dept_code_field)
    units = [OrgUnit(root, "（根部门）")]
    people: dict[str, dict[str, Any]] = {}
    queue: deque[str] = deque([root])
    seen = {root}
    while queue:
        dept_id = queue.popleft()
        for child in await _all_pages(client.list_child_departments, dept_id, "department_children"):
            child_id = _dept_id(child.get(id_type))
            if child_id in seen:
                continue
            seen.add(child_id)
            queue.append(child_id)
            code = child.get(code_field) if code_field else None
            units.append(OrgUnit(child_id, str(child.get("name") or child_id),
                                 str(child.get("parent_department_id") or dept_id), str(code) if code else None))
        for person in await _all_pages(client.list_users, dept_id, "find_by_department"):
            user_id = str(person.get("user_id") or person.get("open_id") or "")
            if user_id and user_id not in people:
                people[user_id] = person
    number_field = settings.employee_number_field
    users = [OrgUser(user_id, str(p.get("name") or user_id), str(p.get(number_field) or "").strip() or None,
                     _departments(p), _active(p))
             for user_id, p in people.items()]
    return units, users


async def _all_pages(fetch: Callable[[str, str | None], Awaitable[_Page]], dept_id: str,
                     operation: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    tokens: set[str] = set()
    while True:
        page, token = await fetch(dept_id, token)
        items += page
        if token is None:
            return items
        if token in tokens:  # a loop would never end, and stopping would read part as all
            raise VendorRejected(t(f"飞书通讯录分页重复返回 page_token {token}",
                                   f"Feishu directory paging returned page_token {token} again"),
                                 system=SYSTEM, operation=operation)
        tokens.add(token)


def _departments(person: dict[str, Any]) -> tuple[str, ...]:
    """The person's department ids, the primary one (``orders[].is_primary_dept``) first."""
    listed = person.get("department_ids")
    ids = [str(d) for d in listed if d not in (None, "")] if isinstance(listed, list) else []
    orders = person.get("orders")
    primary = next((o.get("department_id") for o in orders if isinstance(o, dict) and o.get("is_primary_dept")),
                   None) if isinstance(orders, list) else None
    if primary is not None and str(primary) in ids:
        ids.remove(str(primary))
        ids.insert(0, str(primary))
    return tuple(dict.fromkeys(ids))


def _active(person: dict[str, Any]) -> bool:
    status = person.get("status")
    if not isinstance(status, dict):
        return True
    return not (status.get("is_resigned") is True or status.get("is_frozen") is True)


def _dept_id(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise VendorRejected(t(f"飞书部门 id 无效：{value!r}", f"invalid Feishu department id: {value!r}"),
                         system=SYSTEM, operation="department_children")
