"""Organisation master data: departments, employees, cost centres."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CostCenter", "Department", "Employee", "OrgUnit", "OrgUser"]


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


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """A department as an OA directory lists it: the vendor's id, not the ERP's number.

    Attributes:
        native_id: the OA's department id (DingTalk ``dept_id``, WeCom ``id``, Feishu ``department_id`` or
            ``open_department_id``, per setting).
        name: the department's name.
        parent_id: the OA id of the parent; ``None`` for the root.
        code: a department code the company keeps in the OA (e.g. the ERP's ``BM001``), when it has one.
    """

    native_id: str
    name: str
    parent_id: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class OrgUser:
    """A person as an OA directory lists them.

    Attributes:
        native_id: the OA's user id (DingTalk ``userid``, WeCom ``userid``, Feishu ``user_id``).
        name: the person's name.
        employee_number: 工号, the key OA and ERP share; matching uses it, never phone or e-mail
            (WeCom stopped returning those to apps created after 2022-06-20).
        department_ids: OA department ids, the main one first (a person may sit in several).
        active: ``False`` for someone who has left (or is disabled).
    """

    native_id: str
    name: str
    employee_number: str | None
    department_ids: tuple[str, ...] = field(default=())
    active: bool = True
