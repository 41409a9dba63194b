"""Reading WeCom's organisation directory (通讯录) as canonical departments and people.

One ``department/list`` from the root department (``directory_root_id``, 1 by default) gives the whole
tree — WeCom lists a department and every department below it — then each department's members with
``user/list`` (WeCom does not page it); a person listed in several departments is merged, their
``main_department`` put first. The employee number is the field ``employee_number_field`` names (the
``userid`` by default, or a custom attribute ``extattr:<name>``), never the phone or e-mail, which WeCom
no longer returns to apps created after 2022-06-20. ``status`` 2 (disabled) and 5 (left) read as
``active=False``; 4 (not activated yet) is still an active member. WeCom keeps no department code, so
``OrgUnit.code`` is ``None``.

These endpoints are unconfirmed (not in shared/contracts): their paths are settings and their shape follows
WeCom's public API documentation.
"""

from __future__ import annotations

from typing import Any

from huiliu.connectors.wecom.client import WeComClient
from huiliu.connectors.wecom.errors import SYSTEM
from huiliu.errors import VendorRejected
from huiliu.i18n import t
from huiliu.model import OrgUnit, OrgUser

__all__ = ["INACTIVE_STATUSES", "read_directory"]

INACTIVE_STATUSES = frozenset({2, 5})
"""Member ``status`` values read as ``active=False``: 2 disabled (禁用), 5 left (退出企业). Unconfirmed."""

_EXTATTR = "extattr:"


async def read_directory(client: WeComClient) -> tuple[list[OrgUnit], list[OrgUser]]:
    """The whole directory: every department under the root, and everyone in them."""
    root = client.settings.directory_root_id
    number_field = client.settings.employee_number_field
    units: list[OrgUnit] = []
    order: list[int] = []
    seen: set[int] = set()
    for dept in await client.list_departments(root):
        dept_id = _dept_id(dept.get("id"), "department/list")
        if dept_id in seen:
            continue
        seen.add(dept_id)
        order.append(dept_id)
        parent = None if dept_id == root else str(_dept_id(dept.get("parentid"), "department/list"))
        units.append(OrgUnit(str(dept_id), str(dept.get("name") or dept_id), parent))
    if root not in seen:  # WeCom lists the department asked for first; be safe if it did not
        order.insert(0, root)
        units.insert(0, OrgUnit(str(root), "（根部门）"))
    people: dict[str, dict[str, Any]] = {}
    for dept_id in order:
        for person in await client.list_users(dept_id):
            userid = str(person.get("userid") or "")
            if userid and userid not in people:
                people[userid] = person
    users = [OrgUser(userid, str(p.get("name") or userid), _employee_number(p, number_field), _departments(p),
                     _status(p) not in INACTIVE_STATUSES)
             for userid, p in people.items()]
    return units, users


def _departments(person: dict[str, Any]) -> tuple[str, ...]:
    """The member's department ids, ``main_department`` first."""
    listed = person.get("department")
    ids = [str(d) for d in listed] if isinstance(listed, list) else []
    main = person.get("main_department")
    if main not in (None, "", 0) and str(main) in ids:
        ids.remove(str(main))
        ids.insert(0, str(main))
    return tuple(dict.fromkeys(ids))


def _employee_number(person: dict[str, Any], field: str) -> str | None:
    """The 工号 from ``field``: a plain field of the item, or ``extattr:<name>`` (a text custom attribute)."""
    value: Any = None
    if field.startswith(_EXTATTR):
        wanted = field[len(_EXTATTR):]
        extattr = person.get("extattr")
        attrs = extattr.get("attrs") if isinstance(extattr, dict) else None
        for attr in attrs if isinstance(attrs, list) else ():
            if isinstance(attr, dict) and attr.get("name") == wanted:
                text = attr.get("text")
                value = text.get("value") if isinstance(text, dict) else attr.get("value")
                break
    else:
        value = person.get(field)
    if value is None or isinstance(value, bool | dict | list):
        return None
    return str(value).strip() or None


def _status(person: dict[str, Any]) -> int:
    status = person.get("status", 1)
    if isinstance(status, str) and status.isdigit():
        return int(status)
    return status if isinstance(status, int) and not isinstance(status, bool) else 1


def _dept_id(value: Any, operation: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise VendorRejected(t(f"企业微信部门 id 无效：{value!r}", f"invalid WeCom department id: {value!r}"),
                         system=SYSTEM, operation=operation)
