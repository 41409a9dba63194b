"""Organisation master data: departments, employees, cost centres."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CostCenter", "Department", "Employee"]


@dataclass(frozen=True, slots=True)
class Department:
    """A department (部门). ``number`` is the code the ERP knows it by (e.g. ``BM001``)."""

    number: str
    name: str
    parent_number: str | None = None
    cost_center: str | None = None


@dataclass(frozen=True, slots=True)
class Employee:
    """An employee (员工). ``number`` is the employee number (工号), the key shared by OA and ERP."""

    number: str
    name: str
    department_number: str
    oa_user_id: str | None = None
    erp_user: str | None = None
    departments: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class CostCenter:
    """A cost centre (成本中心) that departments charge their costs to."""

    number: str
    name: str
