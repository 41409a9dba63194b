"""Reading DingTalk's organisation directory (通讯录) as canonical departments and people.

Breadth-first from the root department (id 1) with ``department/listsub``, and each department's people
page by page with ``user/list``; a person listed in several departments is merged, the department
DingTalk names first kept as the main one. The employee number is ``job_number`` (工号), never the
phone or e-mail. These endpoints are not in ``shared/contracts``: their shapes are unconfirmed, and the
field carrying a company's own department code is a setting (``dept_code_field``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from huiliu.connectors.dingtalk.client import DingTalkClient
from huiliu.connectors.dingtalk.errors import SYSTEM
from huiliu.errors import VendorRejected
from huiliu.i18n import t
from huiliu.model import OrgUnit, OrgUser

__all__ = ["ROOT_DEPT_ID", "read_directory"]

ROOT_DEPT_ID = 1


async def read_directory(client: DingTalkClient) -> tuple[list[OrgUnit], list[OrgUser]]:
    """The whole directory: every department under the root, and everyone in them."""
    code_field = client.settings.dept_code_field
    units = [OrgUnit(str(ROOT_DEPT_ID), "（根部门）")]
    people: dict[str, dict[str, Any]] = {}
    queue: deque[int] = deque([ROOT_DEPT_ID])
    seen = {ROOT_DEPT_ID}
    while queue:
        dept_id = queue.popleft()
        for child in await client.list_sub_departments(dept_id):
            child_id = _dept_id(child.get("dept_id"))
            if child_id in seen:
                continue
            seen.add(child_id)
            queue.append(child_id)
            code = child.get(code_field)
            units.append(OrgUnit(str(child_id), str(child.get("name") or child_id),
                                 str(child.get("parent_id") or dept_id), str(code) if code else None))
        cursor: int | None = 0
        while cursor is not None:
            page, cursor = await client.list_users(dept_id, cursor)
            for person in page:
                userid = str(person.get("userid") or "")
                if userid and userid not in people:
                    people[userid] = person
    users = [OrgUser(userid, str(p.get("name") or userid), str(p.get("job_number") or "").strip() or None,
                     tuple(str(d) for d in p.get("dept_id_list") or ()), bool(p.get("active", True)))
             for userid, p in people.items()]
    return units, users


def _dept_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise VendorRejected(t(f"钉钉部门 id 无效：{value!r}", f"invalid DingTalk department id: {value!r}"),
                         system=SYSTEM, operation="department/listsub")
