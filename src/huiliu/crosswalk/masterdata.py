"""Golden master data (departments, employees, cost centres) and the lookups flows make against it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from huiliu.crosswalk.crosswalk import Crosswalk
from huiliu.model import CostCenter, Department, Employee
from huiliu.store.schema import cost_centers, departments, employees

__all__ = ["DEPARTMENT_FIELDS", "EMPLOYEE_FIELDS", "MasterData"]

EMPLOYEE_FIELDS = ("number", "name", "department_number", "department_name", "cost_center", "erp_user")
"""What an ``employee`` lookup finds (flows read these; the loader checks names against them)."""
DEPARTMENT_FIELDS = ("number", "name", "parent_number", "cost_center", "active")
"""What a ``department`` lookup finds."""

_EMPLOYEE = (
    select(employees, departments.c.name.label("department_name"), departments.c.cost_center)
    .select_from(employees.outerjoin(departments, departments.c.number == employees.c.department_number))
    .where(employees.c.number == bindparam("number"))
)


class MasterData:
    """Loads master data and answers lookups by any system's native id."""

    def __init__(self, crosswalk: Crosswalk) -> None:
        self.crosswalk = crosswalk

    def load(self, conn: Connection, *, depts: Iterable[Department], people: Iterable[Employee],
             centers: Iterable[CostCenter], oa_system: str) -> None:
        """Replace the master data with these records and link each OA user id to its employee."""
        conn.execute(delete(cost_centers))
        conn.execute(delete(departments))
        conn.execute(delete(employees))
        rows: list[dict[str, str | None]] = [{"number": c.number, "name": c.name} for c in centers]
        if rows:
            conn.execute(insert(cost_centers), rows)
        rows = [{"number": d.number, "name": d.name, "parent_number": d.parent_number,
                 "cost_center": d.cost_center} for d in depts]
        if rows:
            conn.execute(insert(departments), rows)
        people = list(people)
        if people:
            conn.execute(insert(employees), [{"number": e.number, "name": e.name,
                                              "department_number": e.department_number,
                                              "erp_user": e.erp_user} for e in people])
        for e in people:
            if e.oa_user_id:
                self.crosswalk.link(conn, entity="employee", golden_id=e.number, system=oa_system,
                                    native_type="user", native_id=e.oa_user_id)

    def lookup(self, conn: Connection, entity: str, system: str, key: str) -> Mapping[str, Any] | None:
        """Find a golden record by a system's native id (``system="hub"`` means the golden id itself)."""
        if entity == "employee":
            number = key if system == "hub" else self.crosswalk.golden_id(
                conn, system=system, native_type="user", native_id=key)
            if number is None:
                return None
            row = conn.execute(_EMPLOYEE, {"number": number}).first()
            if row is None:
                return None
            return {name: getattr(row, name) for name in EMPLOYEE_FIELDS}
        if entity == "department":
            row = conn.execute(select(departments).where(departments.c.number == key)).first()
            return None if row is None else {name: getattr(row, name) for name in DEPARTMENT_FIELDS}
        return None
