"""Directory sync: an OA's departments and people into the hub's golden master data and crosswalk.

One pass compares what the OA lists with what it listed last time (``org_units`` / ``org_users``) and
writes only the differences, in bulk, in the caller's transaction:

* departments: created, renamed, moved (a new parent), removed; a child listed before its parent, or in
  a batch without it, keeps its OA parent id and is attached when the parent arrives; a cycle is refused;
* people: joined, changed (name, departments — the main one first — or an employee number filled in),
  left (``active`` false, or absent from a complete listing), rehired (the same employee number back,
  under the old or a new OA user id: the crosswalk is moved to the new id, the golden employee kept).

People are matched on the employee number (工号) and the OA user id, never on phone or e-mail. The
crosswalk links OA user id ⇄ employee number (the golden id) ⇄ ERP user; OA department id ⇄ golden
department number. Every change is one event-log entry (``directory.*``), so process mining and audits
see the organisation's history. A leaver's in-flight approvals (tasks still waiting on them, from the
event log) are listed in the report for transfer.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, insert, select, update

from huiliu.bus import EventLog
from huiliu.crosswalk import Crosswalk
from huiliu.i18n import Text, t
from huiliu.model import Clock, OrgUnit, OrgUser
from huiliu.store import dumps, loads
from huiliu.store.schema import crosswalk, departments, employees, event_log, org_units, org_users

__all__ = ["DirectorySync", "Problem", "SyncReport"]

_UNIT_TYPE = "department"
_USER_TYPE = "user"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the listing the sync could not apply, and how to fix it in the OA.

    Attributes:
        where: ``department:<OA id>`` or ``user:<OA id>``.
        message: what is wrong and how to fix it (Chinese first).
    """

    where: str
    message: Text


@dataclass
class SyncReport:
    """What one sync changed (OA ids per kind of change) and what it could not apply."""

    system: str
    units_created: list[str] = field(default_factory=list)
    units_renamed: list[str] = field(default_factory=list)
    units_moved: list[str] = field(default_factory=list)
    units_removed: list[str] = field(default_factory=list)
    users_joined: list[str] = field(default_factory=list)
    users_changed: list[str] = field(default_factory=list)
    users_left: list[str] = field(default_factory=list)
    users_rehired: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    leavers_in_flight: dict[str, list[str]] = field(default_factory=dict)
    """OA user id of a leaver → approval instances with a task still waiting on them (to transfer)."""
    seconds: float = 0.0

    @property
    def changes(self) -> int:
        """How many departments and people changed."""
        return sum(len(v) for v in (self.units_created, self.units_renamed, self.units_moved, self.units_removed,
                                    self.users_joined, self.users_changed, self.users_left, self.users_rehired))


class DirectorySync:
    """Applies an OA directory listing to the hub's golden data, in the caller's transaction.

    Args:
        crosswalk: the links between OA ids and golden ids.
        eventlog: where each change is recorded.
        clock: the time of changes.
    """

    def __init__(self, crosswalk: Crosswalk, eventlog: EventLog, clock: Clock) -> None:
        self.crosswalk = crosswalk
        self.eventlog = eventlog
        self.clock = clock

    def apply(self, conn: Connection, system: str, units: Sequence[OrgUnit], users: Sequence[OrgUser], *,
              complete: bool) -> SyncReport:
        """Apply a listing.

        Args:
            conn: an open write transaction.
            system: the OA (``dingtalk``, ``wecom``, ``feishu`` …).
            units: departments listed.
            users: people listed.
            complete: ``True`` when the listing is the whole directory (what is absent was removed or
                has left); ``False`` for a partial one, e.g. the departments and people named by change
                events.
        """
        started = time.perf_counter()
        report = SyncReport(system)
        now = self.clock.now()
        events: list[dict[str, Any]] = []
        numbers = self._sync_units(conn, system, units, complete, now, report, events)
        self._sync_users(conn, system, users, complete, now, numbers, report, events)
        if report.users_left:
            report.leavers_in_flight = _waiting_on(conn, system, report.users_left)
        self.eventlog.record_many(conn, events)
        report.seconds = time.perf_counter() - started
        return report

    # -- departments ---------------------------------------------------------------------------------

    def _sync_units(self, conn: Connection, system: str, units: Sequence[OrgUnit], complete: bool,
                    now: datetime, report: SyncReport, events: list[dict[str, Any]]) -> dict[str, str]:
        """Departments; returns OA id → golden number for every department of this OA."""
        known = {r.native_id: r for r in conn.execute(select(org_units).where(org_units.c.system == system))}
        listed: dict[str, OrgUnit] = {}
        for unit in units:
            if unit.native_id in listed:
                report.problems.append(Problem(f"department:{unit.native_id}", t(
                    f"部门 {unit.native_id} 在列表中出现了两次，按最后一次处理",
                    f"department {unit.native_id} is listed twice; the last one is used")))
            listed[unit.native_id] = unit
        parents = {k: r.parent_id for k, r in known.items()} | {k: u.parent_id for k, u in listed.items()}
        for native_id in [k for k in listed if _in_cycle(k, parents)]:
            report.problems.append(Problem(f"department:{native_id}", t(
                f"部门 {native_id} 的上级链形成了环，未同步；请在 OA 中修正上级部门",
                f"department {native_id}'s parents form a cycle; not synced — fix its parent in the OA")))
            del listed[native_id]
        linked = dict(conn.execute(select(crosswalk.c.native_id, crosswalk.c.golden_id).where(
            crosswalk.c.system == system, crosswalk.c.native_type == _UNIT_TYPE)).all())
        numbers = {k: r.number for k, r in known.items()}
        taken = set(conn.execute(select(departments.c.number)).scalars())
        created: list[OrgUnit] = []
        owned = set(numbers.values()) | {n for k, n in linked.items() if k not in listed}
        for native_id, unit in listed.items():
            if native_id not in known:
                # Linked by an integrator, else the department whose code the OA keeps (the ERP's number,
                # adopted if that department exists), else a number of our own.
                number = linked.get(native_id)
                if number is None and unit.code and unit.code not in owned:
                    number = unit.code
                if number is None:
                    number = _free_number(f"{system}-{native_id}", taken)
                owned.add(number)
                taken.add(number)
                numbers[native_id] = number
                created.append(unit)
        # Parents resolve against this listing and what earlier ones brought; unknown parents wait.
        golden_rows: list[dict[str, Any]] = []
        unit_rows: list[dict[str, Any]] = []
        renamed: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        for unit in created:
            parent_number = numbers.get(unit.parent_id) if unit.parent_id else None
            if unit.parent_id and parent_number is None:
                report.problems.append(Problem(f"department:{unit.native_id}", t(
                    f"部门 {unit.name} 的上级部门 {unit.parent_id} 尚未同步；上级到达后自动挂接",
                    f"department {unit.name}'s parent {unit.parent_id} is not synced yet; attached when it arrives")))
            golden_rows.append({"number": numbers[unit.native_id], "name": unit.name, "parent_number": parent_number,
                                "cost_center": None, "active": True})
            unit_rows.append({"system": system, "native_id": unit.native_id, "name": unit.name,
                              "parent_id": unit.parent_id, "number": numbers[unit.native_id], "active": True,
                              "updated_at": now})
            report.units_created.append(unit.native_id)
            events.append(_event(f"department:{numbers[unit.native_id]}", "directory.department.created", system,
                                 {"id": unit.native_id, "name": unit.name, "parent": unit.parent_id}, now))
        existing_golden = set(conn.execute(select(departments.c.number).where(
            departments.c.number.in_([r["number"] for r in golden_rows]))).scalars()) if golden_rows else set()
        fresh = [r for r in golden_rows if r["number"] not in existing_golden]
        if fresh:
            conn.execute(insert(departments), fresh)
        relinked = [r for r in golden_rows if r["number"] in existing_golden]
        if relinked:  # an integrator pre-linked this OA id to an ERP department that exists: keep its number
            _bulk_update(conn, departments, ("number",), ("name", "parent_number", "active"), relinked)
        if unit_rows:
            conn.execute(insert(org_units), unit_rows)
        new_links = [u for u in created if u.native_id not in linked]
        if new_links:
            conn.execute(insert(crosswalk), [
                {"entity": "department", "golden_id": numbers[u.native_id], "system": system,
                 "native_type": _UNIT_TYPE, "native_id": u.native_id, "native_number": u.code, "created_at": now}
                for u in new_links])
        created_ids = {u.native_id for u in created}
        for native_id, unit in listed.items():
            old = known.get(native_id)
            if old is None:
                continue
            number = old.number
            if old.name != unit.name or not old.active:
                renamed.append({"system": system, "native_id": native_id, "name": unit.name, "number": number,
                                "active": True, "updated_at": now})
                if old.name != unit.name:
                    report.units_renamed.append(native_id)
                    events.append(_event(f"department:{number}", "directory.department.renamed", system,
                                         {"id": native_id, "from": old.name, "to": unit.name}, now))
            if old.parent_id != unit.parent_id:
                moved.append({"system": system, "native_id": native_id, "parent_id": unit.parent_id,
                              "number": number, "parent_number": numbers.get(unit.parent_id or ""),
                              "updated_at": now})
                report.units_moved.append(native_id)
                events.append(_event(f"department:{number}", "directory.department.moved", system,
                                     {"id": native_id, "from": old.parent_id, "to": unit.parent_id}, now))
        # Children that were waiting for a parent created now.
        for native_id, old in known.items():
            if old.parent_id in created_ids and native_id not in listed:
                moved.append({"system": system, "native_id": native_id, "parent_id": old.parent_id,
                              "number": old.number, "parent_number": numbers[old.parent_id], "updated_at": now})
        if renamed:
            _bulk_update(conn, org_units, ("system", "native_id"), ("name", "active", "updated_at"), renamed)
            _bulk_update(conn, departments, ("number",), ("name", "active"), renamed)
        if moved:
            _bulk_update(conn, org_units, ("system", "native_id"), ("parent_id", "updated_at"), moved)
            _bulk_update(conn, departments, ("number",), ("parent_number",), moved)
        # Children listed in this batch before their parent: their parent number is known only now.
        late = [{"number": numbers[u.native_id], "parent_number": numbers[u.parent_id]}
                for u in created if u.parent_id and u.parent_id in numbers and u.parent_id in created_ids]
        if late:
            _bulk_update(conn, departments, ("number",), ("parent_number",), late)
        if complete:
            gone = [k for k, r in known.items() if r.active and k not in listed]
            if gone:
                conn.execute(update(org_units).where(org_units.c.system == system, org_units.c.native_id.in_(gone))
                             .values(active=False, updated_at=now))
                conn.execute(update(departments).where(departments.c.number.in_([numbers[k] for k in gone]))
                             .values(active=False))
                for k in gone:
                    report.units_removed.append(k)
                    events.append(_event(f"department:{numbers[k]}", "directory.department.removed", system,
                                         {"id": k, "name": known[k].name}, now))
        return numbers

    # -- people -------------------------------------------------------------------------------------

    def _sync_users(self, conn: Connection, system: str, users: Sequence[OrgUser], complete: bool,
                    now: datetime, numbers: Mapping[str, str], report: SyncReport,
                    events: list[dict[str, Any]]) -> None:
        known = {r.native_id: r for r in conn.execute(select(org_users).where(org_users.c.system == system))}
        golden = {r.number: r for r in conn.execute(select(employees.c.number, employees.c.name,
                                                           employees.c.department_number, employees.c.active))}
        # employee number → this OA's user id
        links = dict(conn.execute(select(crosswalk.c.golden_id, crosswalk.c.native_id).where(
            crosswalk.c.system == system, crosswalk.c.native_type == _USER_TYPE)).all())
        owner_of = {native: number for number, native in links.items()}  # OA user id → employee number
        listed = {user.native_id: user for user in users}
        claimed: dict[str, str] = {}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        golden_new: list[dict[str, Any]] = []
        golden_upd: list[dict[str, Any]] = []
        link_new: list[dict[str, Any]] = []
        relinks: list[dict[str, Any]] = []
        for user in listed.values():
            number = (user.employee_number or "").strip() or None
            old = known.get(user.native_id)
            row = {"system": system, "native_id": user.native_id, "name": user.name, "employee_number": number,
                   "department_ids": dumps(list(user.department_ids)), "active": user.active,
                   "left_at": None if user.active else (old.left_at if old is not None and old.left_at else now),
                   "updated_at": now}
            if old is None:
                inserts.append(row)
            elif (old.name, old.employee_number, old.department_ids, old.active) != (
                    user.name, number, row["department_ids"], user.active):
                updates.append(row)
            where = f"user:{user.native_id}"
            if number is None:
                if old is None or old.employee_number is not None:
                    report.problems.append(Problem(where, t(
                        f"{user.name}（{user.native_id}）没有工号，无法与 ERP 员工对应；请在 OA 通讯录中填写工号",
                        f"{user.name} ({user.native_id}) has no employee number, so cannot be matched to an ERP "
                        "employee; fill in the employee number (工号) in the OA directory")))
                continue
            if claimed.get(number, user.native_id) != user.native_id:
                report.problems.append(Problem(where, t(
                    f"工号 {number} 同时属于 {claimed[number]} 与 {user.native_id}；请在 OA 中更正其中一人的工号",
                    f"employee number {number} belongs to both {claimed[number]} and {user.native_id}; "
                    "correct one of them in the OA")))
                continue
            claimed[number] = user.native_id
            owner = owner_of.get(user.native_id)
            if owner is not None and owner != number:
                report.problems.append(Problem(where, t(
                    f"{user.name}（{user.native_id}）已对应员工 {owner}，通讯录给出的工号却是 {number}；"
                    "身份变更需人工确认，未改动",
                    f"{user.name} ({user.native_id}) is linked to employee {owner}, but the directory gives "
                    f"employee number {number}; an identity change needs a person to confirm it, nothing changed")))
                continue
            linked_to = links.get(number)
            if old is not None and old.employee_number not in (None, number) and linked_to == user.native_id:
                report.problems.append(Problem(where, t(
                    f"{user.name} 的工号由 {old.employee_number} 改为 {number}；身份变更需人工确认，未自动改绑",
                    f"{user.name}'s employee number changed from {old.employee_number} to {number}; an identity "
                    "change needs a person to confirm it, so the link was not moved")))
                continue
            main = numbers.get(user.department_ids[0]) if user.department_ids else None
            depts = [numbers[d] for d in user.department_ids if d in numbers]
            detail = {"id": user.native_id, "number": number, "name": user.name, "departments": depts}
            case = f"employee:{number}"
            was = golden.get(number)
            if was is None:
                golden_new.append({"number": number, "name": user.name, "department_number": main or "",
                                   "erp_user": None, "active": user.active,
                                   "left_at": None if user.active else now})
            elif (was.name, was.department_number, was.active) != (user.name, main or "", user.active):
                golden_upd.append({"number": number, "name": user.name, "department_number": main or "",
                                   "active": user.active, "left_at": None if user.active else now})
            if linked_to is None:
                link_new.append({"entity": "employee", "golden_id": number, "system": system,
                                 "native_type": _USER_TYPE, "native_id": user.native_id, "native_number": None,
                                 "created_at": now})
                links[number] = user.native_id
            elif linked_to != user.native_id:
                previous = known.get(linked_to)
                if previous is not None and previous.active and linked_to not in listed and not complete:
                    report.problems.append(Problem(where, t(
                        f"工号 {number} 仍属于在职的 {linked_to}；请先让其离职或更正工号",
                        f"employee number {number} still belongs to {linked_to}, who has not left; "
                        "mark them as left or correct the number first")))
                    continue
                relinks.append({"entity": "employee", "golden_id": number, "system": system,
                                "native_type": _USER_TYPE, "native_id": user.native_id})
                links[number] = user.native_id
            if old is None or not old.active:
                if user.active and ((was is not None and not was.active) or old is not None):
                    report.users_rehired.append(user.native_id)
                    events.append(_event(case, "directory.user.rehired", system, detail, now))
                elif user.active:
                    report.users_joined.append(user.native_id)
                    events.append(_event(case, "directory.user.joined", system, detail, now))
                elif old is None:
                    report.users_left.append(user.native_id)
                    events.append(_event(case, "directory.user.left", system, detail, now))
                continue
            if not user.active:
                report.users_left.append(user.native_id)
                events.append(_event(case, "directory.user.left", system, detail, now))
            elif (old.name, old.employee_number, loads(old.department_ids)) != (
                    user.name, number, list(user.department_ids)):
                report.users_changed.append(user.native_id)
                events.append(_event(case, "directory.user.changed", system, {
                    **detail, "from": {"name": old.name, "departments": loads(old.department_ids)}}, now))
        if inserts:
            conn.execute(insert(org_users), inserts)
        if updates:
            _bulk_update(conn, org_users, ("system", "native_id"),
                         ("name", "employee_number", "department_ids", "active", "left_at", "updated_at"), updates)
        if golden_new:
            conn.execute(insert(employees), golden_new)
        if golden_upd:
            _bulk_update(conn, employees, ("number",), ("name", "department_number", "active", "left_at"), golden_upd)
        if relinks:
            _bulk_update(conn, crosswalk, ("entity", "golden_id", "system", "native_type"), ("native_id",), relinks)
        if link_new:
            conn.execute(insert(crosswalk), link_new)
        if complete:
            gone = [k for k, r in known.items() if r.active and k not in listed]
            if gone:
                self._leave(conn, system, gone, known, set(claimed), now, report, events)

    def _leave(self, conn: Connection, system: str, gone: Iterable[str], known: Mapping[str, Any],
               kept: set[str], now: datetime, report: SyncReport, events: list[dict[str, Any]]) -> None:
        """People absent from a complete listing have left.

        Their employee number stays active only if someone listed now holds it (a rehire under a new id).
        """
        gone = list(gone)
        conn.execute(update(org_users).where(org_users.c.system == system, org_users.c.native_id.in_(gone))
                     .values(active=False, left_at=now, updated_at=now))
        numbers = [known[k].employee_number for k in gone if known[k].employee_number not in (None, *kept)]
        if numbers:
            conn.execute(update(employees).where(employees.c.number.in_(numbers)).values(active=False, left_at=now))
        for k in gone:
            report.users_left.append(k)
            events.append(_event(f"employee:{known[k].employee_number or k}", "directory.user.left", system,
                                 {"id": k, "number": known[k].employee_number, "name": known[k].name}, now))


def _bulk_update(conn: Connection, table: Table, keys: Sequence[str], sets: Sequence[str],
                 rows: Sequence[Mapping[str, Any]]) -> None:
    """``UPDATE table SET sets WHERE keys`` for each row, in one executemany (rows name plain columns)."""
    statement = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in keys)).values(
        {c: bindparam(f"v_{c}") for c in sets})
    conn.execute(statement, [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in sets}} for r in rows])


def _in_cycle(start: str, parents: Mapping[str, str | None]) -> bool:
    seen = {start}
    node = parents.get(start)
    while node is not None:
        if node in seen:
            return True
        seen.add(node)
        node = parents.get(node)
    return False


def _free_number(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3`` … when a department already has that number."""
    number, n = wanted[:60], 2
    while number in taken:
        number, n = f"{wanted[:55]}-{n}", n + 1
    return number


def _event(case: str, activity: str, system: str, detail: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"case_id": case, "activity": activity, "system": system, "detail": detail, "at": at}


def _waiting_on(conn: Connection, system: str, user_ids: Sequence[str]) -> dict[str, list[str]]:
    """Approval instances with a task still waiting on each of these people, from the task events."""
    open_tasks: dict[tuple[str, str], int] = {}
    rows = conn.execute(select(event_log.c.case_id, event_log.c.actor, event_log.c.activity).where(and_(
        event_log.c.system == system, event_log.c.actor.in_(list(user_ids)),
        event_log.c.activity.like("task.%"))).order_by(event_log.c.id))
    for case, actor, activity in rows:
        key = (actor, case)
        open_tasks[key] = open_tasks.get(key, 0) + (1 if activity == "task.start" else -1)
    waiting: dict[str, list[str]] = {}
    for (actor, case), count in open_tasks.items():
        if count > 0:
            waiting.setdefault(actor, []).append(case)
    return {k: sorted(v) for k, v in waiting.items()}
