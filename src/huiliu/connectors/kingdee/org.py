"""``kingdee.org.sync``: the hub's golden directory into Kingdee departments (部门) and employees (员工).

Request: the result of ``hub.directory.read`` — ``{"departments": [{number, name, parent_number, active}],
"employees": [{number, name, department_number, active, erp_user?}]}``. Each record is matched by its number
(编码 / 员工编号) in ``settings.org_sync.use_org``, and only what differs is written:

* an active record Kingdee lacks is saved, submitted and audited (created); one whose name, parent
  department (departments) or department (employees) differs is un-audited, saved and audited again
  (updated); one Kingdee holds 禁用 is enabled again (反禁用, updated);
* an inactive record (a department removed in the OA, a leaver) that Kingdee holds in use is forbidden
  (禁用, ``Forbid``: disabled), employees before departments, since a department with people in use may be
  refused; an inactive record Kingdee lacks is not created;
* anything else is unchanged: a second run with the same directory makes no Save at all.

Departments are saved parents first, one level of the tree per BatchSave round, since Kingdee accepts a
parent only once it exists and is audited; employees after all departments. Saves go in BatchSave calls
of ``settings.batch_size``; Submit, Audit, UnAudit and the 禁用 operations take every id of a round in one
call. A record Kingdee refuses at any of these steps is reported in ``problems`` with Kingdee's own
message and does not stop the others; a record un-audited for an update whose Save is then refused is
audited again, so bills may keep referring to it. Records Kingdee holds that the directory does not list
(departments the ERP keeps for itself) are left alone.

Result: ``{"departments": {"created", "updated", "unchanged", "disabled", "failed"}, "employees": {…},
"problems": [{"kind", "number", "name", "operation", "field", "message", "message_en", "vendor_message"}]}``.

Safe to retry: every run starts by reading what Kingdee holds, and a number Kingdee already has is never
saved as new (K3Cloud refuses a duplicate 编码 too).

Unconfirmed (shared/contracts §4 is silent on base data): the forms, every field key, the 禁用 operation
numbers and the 禁用状态 values — all in :class:`~huiliu.connectors.kingdee.settings.OrgSyncSettings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from huiliu.connectors.base import ActionContext
from huiliu.connectors.kingdee.client import BatchOutcome, KingdeeClient, Service, quote
from huiliu.connectors.kingdee.ledger import AUDITED, CREATED, REAUDIT, SUBMITTED
from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import MappingError
from huiliu.i18n import t

__all__ = ["ORG_SYNC", "KingdeeOrg"]

ORG_SYNC = "kingdee.org.sync"

FORBIDDEN = "B"
"""禁用状态 of a forbidden record (``A`` is in use). Unconfirmed: the values integrators' queries compare with."""

Kind = Literal["department", "employee"]
_OUTCOMES = ("created", "updated", "unchanged", "disabled", "failed")


@dataclass(frozen=True, slots=True)
class _Wanted:
    """One record of the directory: ``link`` is the parent (departments) or the department (employees)."""

    number: str
    name: str
    link: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class _Held:
    """What Kingdee holds under a number."""

    id: int
    name: str
    link: str | None
    status: str
    forbidden: bool


@dataclass
class _Item:
    wanted: _Wanted
    held: _Held | None
    outcome: str = "unchanged"


@dataclass
class _Report:
    counts: dict[Kind, dict[str, int]] = field(default_factory=lambda: {
        "department": dict.fromkeys(_OUTCOMES, 0), "employee": dict.fromkeys(_OUTCOMES, 0)})
    problems: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, kind: Kind, item: _Item, operation: str, vendor: tuple[str | None, str]) -> None:
        field_name, message = vendor
        what = t(f"金蝶拒绝了{_CAPTION[kind]} {item.wanted.number}（{item.wanted.name}）的{operation}：{message}",
                 f"Kingdee refused {operation} of {kind} {item.wanted.number} ({item.wanted.name}): {message}")
        self.problems.append({"kind": kind, "number": item.wanted.number, "name": item.wanted.name,
                              "operation": operation, "field": field_name, "message": what.zh,
                              "message_en": what.en, "vendor_message": message})

    def result(self, items: Mapping[Kind, Sequence[_Item]]) -> dict[str, Any]:
        for kind, listed in items.items():
            for item in listed:
                self.counts[kind][item.outcome] += 1
        return {"departments": self.counts["department"], "employees": self.counts["employee"],
                "problems": self.problems}


_CAPTION: dict[Kind, str] = {"department": "部门", "employee": "员工"}


class KingdeeOrg:
    """The ``kingdee.org.sync`` action over one client.

    Args:
        client: the Kingdee client.
        settings: the connector settings (``org_sync`` and ``batch_size``).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings) -> None:
        self.client = client
        self.settings = settings
        self.org = settings.org_sync

    async def __call__(self, request: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        """Bring Kingdee's departments and employees in line with the directory; see the module docstring."""
        departments = _records(request, "departments", "parent_number")
        employees = _records(request, "employees", "department_number")
        report = _Report()
        depts = _items(departments, await self._held("department"))
        people = _items(employees, await self._held("employee"))
        await self._enable("department", depts, report)
        for level in _levels(depts):
            await self._write("department", level, report)
        await self._enable("employee", people, report)
        await self._write("employee", people, report)
        await self._forbid("employee", people, report)
        await self._forbid("department", list(reversed([i for level in _levels(depts, all_items=True)
                                                        for i in level])), report)
        return report.result({"department": depts, "employee": people})

    # ------------------------------------------------------------------ reading Kingdee

    def _form(self, kind: Kind) -> str:
        return self.org.department_form if kind == "department" else self.org.employee_form

    def _id_field(self, kind: Kind) -> str:
        return self.org.department_id_field if kind == "department" else self.org.employee_id_field

    async def _held(self, kind: Kind) -> dict[str, _Held]:
        """Every record of ``kind`` Kingdee holds in the use organisation, by number (the oldest of a number)."""
        o = self.org
        number = "FNumber" if kind == "department" else o.employee_number_field
        link = o.department_parent_field if kind == "department" else o.employee_department_field
        keys = f"{self._id_field(kind)},{number},FName,{link}.FNumber,FDocumentStatus,{o.forbid_status_field}"
        where = f"FUseOrgId.FNumber={quote(o.use_org)}" if o.use_org is not None else ""
        rows: list[list[Any]] = []
        while True:
            page = await self.client.query(self._form(kind), keys, where, o.page_size, start_row=len(rows))
            rows.extend(page)
            if len(page) < o.page_size:
                break
        held: dict[str, _Held] = {}
        # Oldest first; an employee with several posts comes back once per post: the first one counts.
        for row in sorted((r for r in rows if len(r) >= 6 and r[0] is not None and r[1]), key=lambda r: int(r[0])):
            held.setdefault(str(row[1]), _Held(int(row[0]), str(row[2] or ""), str(row[3]) if row[3] else None,
                                               str(row[4] or ""), str(row[5] or "") == FORBIDDEN))
        return held

    # ------------------------------------------------------------------ writing

    def _model(self, kind: Kind, item: _Item) -> dict[str, Any]:
        o, wanted = self.org, item.wanted
        org = {"FNumber": o.use_org} if o.use_org is not None else None
        model: dict[str, Any] = {}
        if item.held is not None:
            model[self._id_field(kind)] = item.held.id
        model["FNumber" if kind == "department" else o.employee_number_field] = wanted.number
        model["FName"] = wanted.name
        if org is not None:
            model["FCreateOrgId"], model["FUseOrgId"] = org, dict(org)
        if kind == "department":
            model[o.department_parent_field] = {"FNumber": wanted.link} if wanted.link else None
        elif o.employee_post_entry is None:
            model[o.employee_department_field] = {"FNumber": wanted.link} if wanted.link else None
        elif wanted.link:
            post: dict[str, Any] = {o.employee_department_field: {"FNumber": wanted.link}, "FIsFirstPost": True}
            if org is not None:
                post["FWorkOrgId"] = dict(org)
            model[o.employee_post_entry] = [post]
        return model

    async def _enable(self, kind: Kind, items: Sequence[_Item], report: _Report) -> None:
        """反禁用 active records Kingdee holds forbidden (a rehire, a department back in use)."""
        await self._switch(kind, [i for i in items if i.wanted.active and i.held is not None and i.held.forbidden],
                           self.org.enable_operation, "updated", report)

    async def _forbid(self, kind: Kind, items: Sequence[_Item], report: _Report) -> None:
        """禁用 inactive records Kingdee holds in use."""
        await self._switch(kind, [i for i in items if not i.wanted.active and i.held is not None
                                  and not i.held.forbidden], self.org.forbid_operation, "disabled", report)

    async def _switch(self, kind: Kind, chosen: Sequence[_Item], op_number: str, done: str,
                      report: _Report) -> None:
        """Run the 禁用 / 反禁用 operation ``op_number`` on ``chosen``: each is ``done`` or failed, reported."""
        outcome = await self._operation(kind, op_number, chosen)
        for position, item in enumerate(chosen):
            if position in outcome.refused:
                item.outcome = "failed"
                report.refuse(kind, item, op_number, outcome.refused[position])
            else:
                item.outcome = done

    async def _operation(self, kind: Kind, op_number: str, items: Sequence[_Item]) -> BatchOutcome:
        ids = [i.held.id for i in items if i.held is not None]
        return await self._per_id(ids, lambda chunk: self.client.execute_operation(self._form(kind), op_number,
                                                                                   chunk))

    async def _transition(self, service: Service, kind: Kind, items: Sequence[_Item],
                          ids: Sequence[int]) -> tuple[list[_Item], dict[int, tuple[str | None, str]]]:
        """One Submit / Audit / UnAudit of ``items`` (with these ``ids``): the items it moved, and the refusals."""
        outcome = await self._per_id(ids, lambda chunk: self.client.transition(service, self._form(kind), chunk))
        moved = [item for position, item in enumerate(items) if position not in outcome.refused]
        return moved, dict(outcome.refused)

    async def _per_id(self, ids: Sequence[int],
                      call: Callable[[list[int]], Awaitable[BatchOutcome]]) -> BatchOutcome:
        """``call`` over ``ids`` in chunks of ``batch_size``; one outcome by position in ``ids``."""
        saved: dict[int, Any] = {}
        refused: dict[int, tuple[str | None, str]] = {}
        size = self.settings.batch_size
        for start in range(0, len(ids), size):
            outcome = await call(list(ids[start:start + size]))
            saved.update({start + k: v for k, v in outcome.saved.items()})
            refused.update({start + k: v for k, v in outcome.refused.items()})
        return BatchOutcome(saved, refused)

    async def _write(self, kind: Kind, items: Sequence[_Item], report: _Report) -> None:
        """Save what differs (created / updated) and bring it, and anything left unaudited, to 已审核."""
        audit = self.org.audit
        changed = [i for i in items if i.outcome != "failed" and i.wanted.active and _differs(i)]
        # An audited record cannot be saved: un-audit it first (反审核), audit it again afterwards.
        reopen = [i for i in changed if audit and i.held is not None and i.held.status == AUDITED]
        reopened, refused = await self._transition(Service.UNAUDIT, kind, reopen,
                                                   [i.held.id for i in reopen if i.held is not None])
        for position, vendor in refused.items():
            reopen[position].outcome = "failed"
            report.refuse(kind, reopen[position], "UnAudit", vendor)
        to_save = [i for i in changed if i.outcome != "failed"]
        ids: dict[int, int] = {}  # id(item) → Kingdee id, of what is saved now
        size = self.settings.batch_size
        for start in range(0, len(to_save), size):
            chunk = to_save[start:start + size]
            outcome = await self.client.batch_save(self._form(kind), [self._model(kind, i) for i in chunk])
            for position, item in enumerate(chunk):
                if position in outcome.saved:
                    ids[id(item)] = outcome.saved[position].id
                    item.outcome = "updated" if item.held is not None else "created"
                else:
                    item.outcome = "failed"
                    report.refuse(kind, item, "BatchSave", outcome.refused.get(position, (None, "未返回结果")))
        if not audit:
            return
        # Saved now (状态 创建 or 重新审核), re-opened but refused (audited again so bills may use it), or held
        # unaudited by an earlier run that stopped half-way.
        pending: list[tuple[_Item, int, str]] = [(i, ids[id(i)], CREATED) for i in to_save if id(i) in ids]
        pending += [(i, i.held.id, REAUDIT) for i in reopened if id(i) not in ids and i.held is not None]
        touched = {id(i) for i in reopen}
        pending += [(i, i.held.id, i.held.status) for i in items
                    if i.outcome != "failed" and i.wanted.active and i.held is not None and id(i) not in ids
                    and id(i) not in touched and i.held.status in (CREATED, REAUDIT, SUBMITTED)]
        submit = [(i, n) for i, n, status in pending if status != SUBMITTED]
        submitted, refused = await self._transition(Service.SUBMIT, kind, [i for i, _ in submit],
                                                    [n for _, n in submit])
        for position, vendor in refused.items():
            report.refuse(kind, submit[position][0], "Submit", vendor)
        ready = {id(i) for i in submitted} | {id(i) for i, _, status in pending if status == SUBMITTED}
        to_audit = [(i, n) for i, n, _ in pending if id(i) in ready]
        _, refused = await self._transition(Service.AUDIT, kind, [i for i, _ in to_audit], [n for _, n in to_audit])
        for position, vendor in refused.items():
            report.refuse(kind, to_audit[position][0], "Audit", vendor)
        for item, _, _ in pending:
            if item.outcome == "unchanged":
                item.outcome = "updated"  # brought to 已审核


def _differs(item: _Item) -> bool:
    held, wanted = item.held, item.wanted
    return held is None or (held.name, held.link or None) != (wanted.name, wanted.link or None)


def _items(wanted: Sequence[_Wanted], held: Mapping[str, _Held]) -> list[_Item]:
    return [_Item(w, held.get(w.number)) for w in wanted]


def _levels(items: Sequence[_Item], *, all_items: bool = False) -> list[list[_Item]]:
    """Departments by depth in the directory's tree, roots first; a parent outside the directory is a root.

    Without ``all_items`` only active departments are placed (the ones that may be saved).
    """
    parents = {i.wanted.number: i.wanted.link for i in items}

    def depth(number: str) -> int:
        seen, node, level = {number}, parents.get(number), 0
        while node is not None and node in parents and node not in seen:  # a cycle stops at its start
            seen.add(node)
            node, level = parents.get(node), level + 1
        return level

    levels: dict[int, list[_Item]] = {}
    for item in items:
        if all_items or item.wanted.active:
            levels.setdefault(depth(item.wanted.number), []).append(item)
    return [levels[k] for k in sorted(levels)]


def _records(request: Mapping[str, Any], name: str, link: str) -> list[_Wanted]:
    """The request's ``departments`` or ``employees``, checked whole before anything is sent to Kingdee."""
    raw = request.get(name)
    where = f"{ORG_SYNC}.{name}"
    if not isinstance(raw, list):
        raise MappingError(t(f"请求缺少 {name} 列表", f"the request has no {name} list"), where=where,
                           fix=t("流程应传入 hub.directory.read 的结果：{\"departments\": […], \"employees\": […]}",
                                 "the flow must pass what hub.directory.read returns: "
                                 "{\"departments\": […], \"employees\": […]}"))
    records: list[_Wanted] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        at = f"{where}.{index}"
        if not isinstance(entry, Mapping):
            raise MappingError(t("每一项应为 JSON 对象", "each entry must be a JSON object"), where=at)
        number, title = _text(entry, "number", at), _text(entry, "name", at)
        linked, active = entry.get(link), entry.get("active", True)
        if linked is not None and not isinstance(linked, str):
            raise MappingError(t(f"{link} 应为文本或 null", f"`{link}` must be a text or null"), where=f"{at}.{link}")
        if not isinstance(active, bool):
            raise MappingError(t("active 应为 true 或 false", "`active` must be true or false"),
                               where=f"{at}.active")
        if number in seen:
            raise MappingError(t(f"编号 {number} 出现了两次", f"number {number} is listed twice"),
                               where=f"{at}.number", fix=t("每个编号只能出现一次", "list each number once"))
        seen.add(number)
        records.append(_Wanted(number, title, (linked or "").strip() or None, active))
    return records


def _text(entry: Mapping[str, Any], key: str, at: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MappingError(t(f"缺少 {key}（文本）", f"`{key}` is missing or not a text"), where=f"{at}.{key}",
                           fix=t("检查通讯录同步的结果", "check what the directory sync produced"))
    return value.strip()
