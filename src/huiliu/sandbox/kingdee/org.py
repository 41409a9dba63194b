"""Kingdee sandbox organisation base data: departments (部门 ``BD_Department``) and employees (员工 ``BD_Empinfo``).

Owns: :class:`OrgBook`, the mixin that saves (Save and BatchSave, creating or — with the internal id in the
model — updating), queries, and runs 禁用 / 反禁用 (``ExcuteOperation`` with ``opNumber`` ``Forbid`` /
``Enable``) on these two forms; Submit / Audit / UnAudit reuse :class:`~.bills.BillBook`'s moves. Save checks
what the ERP checks: name, number, creating and using organisation present; the number unique in its use
organisation; the parent department (departments) or the post's department (employees, entry
``FPostEntity``) existing, audited and not forbidden; no department its own ancestor; an audited or
submitted record not modified (un-audit it first). 禁用 of a department that still has employees in use
is refused. Every save is counted per form in ``org_saved`` (saved or refused).

Unconfirmed (shared/contracts §4 is silent on base data; keys follow integrators' code and are mirrored by
the connector's ``OrgSyncSettings``): the form ids; the keys ``FDEPTID``, ``FParentID``, ``FID``,
``FCreateOrgId``, ``FUseOrgId``, ``FPostEntity`` with ``FPostDept`` / ``FWorkOrgId`` / ``FIsFirstPost``;
``FForbidStatus`` ``A`` / ``B``; the operation numbers; whether an audited record must be un-audited before
a Save; the refusal of 禁用 for a department with people; the wording of every refusal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from huiliu.sandbox.kingdee.bills import SandboxBill, _ids
from huiliu.sandbox.kingdee.vouchers import _envelope, _key, _number_of, _Outcome, _RejectedError, _status

__all__ = ["DEPARTMENT_FORM", "EMPLOYEE_FORM", "ORG_FORMS", "OrgBook"]

DEPARTMENT_FORM = "BD_DEPARTMENT"
EMPLOYEE_FORM = "BD_EMPINFO"
ORG_FORMS = frozenset({DEPARTMENT_FORM, EMPLOYEE_FORM})
"""Upper-case form ids this mixin answers."""

_FORBIDDEN, _IN_USE = "B", "A"
_POSTS = "FPOSTENTITY"


@dataclass(frozen=True)
class _Form:
    caption: str
    id_key: str
    fields: frozenset[str]
    entry_fields: frozenset[str] = frozenset()


_FORMS = {
    DEPARTMENT_FORM: _Form("部门", "FDEPTID", frozenset({
        "FDEPTID", "FNUMBER", "FNAME", "FPARENTID", "FCREATEORGID", "FUSEORGID", "FDOCUMENTSTATUS",
        "FFORBIDSTATUS", "FFULLNAME", "FDESCRIPTION", "FHELPCODE"})),
    EMPLOYEE_FORM: _Form("员工", "FID", frozenset({
        "FID", "FNUMBER", "FSTAFFNUMBER", "FNAME", "FCREATEORGID", "FUSEORGID", "FDOCUMENTSTATUS",
        "FFORBIDSTATUS", "FMOBILE", "FEMAIL", "FDESCRIPTION"}),
        frozenset({"FPOSTDEPT", "FWORKORGID", "FPOST", "FISFIRSTPOST", "FSTAFFSTARTDATE"})),
}


class OrgBook:
    """Departments and employees of :class:`~huiliu.sandbox.kingdee.KingdeeSandbox` (a mixin).

    The attributes below are set by ``KingdeeSandbox.__init__``.
    """

    books: dict[str, str]
    bills: dict[str, dict[int, SandboxBill]]
    org_saved: Counter[str]
    _next_id: int
    _bill_transition: Callable[[str, str, dict[str, Any]], _Outcome]
    _parse_filter: Callable[..., list[tuple[str, Any]]]

    # ----------------------------------------------------------------- inspection and seeding

    def org_record(self, form: str, number: str, use_org: str = "100") -> SandboxBill | None:
        """The department or employee with this number in ``use_org``, or ``None``."""
        return next((r for r in self.bills.get(form.upper(), {}).values()
                     if r.number == number and _org_of(r.model) == use_org), None)

    def add_department(self, number: str, name: str, parent: str | None = None, *,
                       use_org: str = "100") -> SandboxBill:
        """An audited department already in the ERP, as one keyed in by hand would be."""
        model: dict[str, Any] = {"FNumber": number, "FName": name, "FCreateOrgId": {"FNumber": use_org},
                                 "FUseOrgId": {"FNumber": use_org}}
        if parent is not None:
            model["FParentID"] = {"FNumber": parent}
        outcome = _Outcome()
        record = self._org_save_one(DEPARTMENT_FORM, model, 0, outcome)
        if record is None:
            raise ValueError(f"department {number} refused: {outcome.errors}")
        record.status = record.model["FDocumentStatus"] = "C"
        return record

    # ----------------------------------------------------------------- dispatch

    def _org_dispatch(self, form: str, operation: str, data: dict[str, Any], op_number: str | None) -> Any:
        """The reply to ``operation`` on ``form``; raises ``_RejectedError`` for a malformed request."""
        if operation in ("save", "batch_save"):
            models = _key(data, "Model")
            if operation == "save":
                models = [models] if isinstance(models, dict) else None
            if not isinstance(models, list) or not models:
                raise _RejectedError("Model", "参数Model不能为空", 8)
            outcome = _Outcome()
            for index, model in enumerate(models):
                self.org_saved[form] += 1
                if not isinstance(model, dict):
                    outcome.fail("Model", "数据包格式不正确", index)
                    continue
                self._org_save_one(form, model, index, outcome)
            extra = ({"Id": outcome.successes[0]["Id"], "Number": outcome.successes[0]["Number"]}
                     if operation == "save" and outcome.successes else {})
            return _envelope(_status(outcome.errors, outcome.successes), **extra)
        if operation in ("submit", "audit", "unaudit", "delete"):
            outcome = self._bill_transition(form, operation, data)
            return _envelope(_status(outcome.errors, outcome.successes))
        if operation == "execute" and op_number is not None and op_number.upper() in ("FORBID", "ENABLE"):
            outcome = self._forbid(form, op_number.upper() == "FORBID", data)
            return _envelope(_status(outcome.errors, outcome.successes))
        raise _RejectedError("formid", f"本模拟器不支持对“{form}”执行{op_number or operation}", 4)

    # ----------------------------------------------------------------- Save

    def _org_save_one(self, form: str, model: dict[str, Any], index: int, outcome: _Outcome) -> SandboxBill | None:
        spec = _FORMS[form]
        records = self.bills.setdefault(form, {})
        errors = len(outcome.errors)
        raw_id = _key(model, spec.id_key)
        existing: SandboxBill | None = None
        if raw_id not in (None, 0, "", "0"):
            existing = records.get(int(raw_id)) if str(raw_id).isdigit() else None
            if existing is None:
                outcome.fail(spec.id_key, f"{spec.caption}内码“{raw_id}”对应的数据不存在", index)
                return None
            if existing.status in ("B", "C"):
                state = "已审核" if existing.status == "C" else "正在审核"
                outcome.fail(None, f"{spec.caption}“{existing.number}”{state}，不允许修改，请先反审核", index)
                return None
            if existing.model.get("FForbidStatus") == _FORBIDDEN:
                outcome.fail(None, f"{spec.caption}“{existing.number}”已禁用，不允许修改", index)
                return None
        merged = {**(existing.model if existing else {}), **model}
        number = str(_key(merged, "FNumber") or "").strip()
        label = "员工编号" if form == EMPLOYEE_FORM else "编码"
        if not number:
            outcome.fail("FNumber", f"字段“{label}”是必填项", index)
        if not str(_key(merged, "FName") or "").strip():
            outcome.fail("FName", "字段“名称”是必填项", index)
        orgs = set(self.books.values())
        for key, caption in (("FCreateOrgId", "创建组织"), ("FUseOrgId", "使用组织")):
            org = _number_of(_key(merged, key))
            if org is None:
                outcome.fail(key, f"字段“{caption}”是必填项", index)
            elif org not in orgs:
                outcome.fail(key, f"{caption}“{org}”不存在", index)
        use_org = _number_of(_key(merged, "FUseOrgId"))
        if number and any(r.number == number and _org_of(r.model) == use_org and r is not existing
                          for r in records.values()):
            outcome.fail("FNumber", f"{label}“{number}”已经存在，不允许重复", index)
        if form == DEPARTMENT_FORM:
            self._check_parent(merged, number, use_org, index, outcome)
        else:
            self._check_posts(merged, use_org, index, outcome)
        if len(outcome.errors) > errors:
            return None
        if existing is not None:
            existing.number = number
            existing.model = {**merged, spec.id_key: existing.id, "FDocumentStatus": existing.status}
            record = existing
        else:
            record = SandboxBill(self._next_id, number, "A", {**merged, spec.id_key: self._next_id,
                                                               "FDocumentStatus": "A", "FForbidStatus": _IN_USE})
            self._next_id += 1
            records[record.id] = record
        outcome.successes.append({"Id": record.id, "Number": number, "DIndex": index})
        return record

    def _usable_department(self, number: str, use_org: str | None) -> str | None:
        """Why a department cannot be referred to (missing, not audited, forbidden), or ``None``."""
        found = self.org_record(DEPARTMENT_FORM, number, use_org or "")
        if found is None or found.status != "C":
            return "不存在或未审核"
        if found.model.get("FForbidStatus") == _FORBIDDEN:
            return "已禁用"
        return None

    def _check_parent(self, model: Mapping[str, Any], number: str, use_org: str | None, index: int,
                      outcome: _Outcome) -> None:
        parent = _number_of(_key(model, "FParentID"))
        if parent is None:
            return
        seen: set[str] = {number}
        node_: str | None = parent
        while node_ is not None:  # the parent chain must not come back to this department
            if node_ in seen:
                outcome.fail("FParentID", "上级部门不能是本部门或其下级部门", index)
                return
            seen.add(node_)
            above = self.org_record(DEPARTMENT_FORM, node_, use_org or "")
            node_ = _number_of(_key(above.model, "FParentID")) if above is not None else None
        why = self._usable_department(parent, use_org)
        if why is not None:
            outcome.fail("FParentID", f"上级部门“{parent}”{why}", index)

    def _check_posts(self, model: Mapping[str, Any], use_org: str | None, index: int, outcome: _Outcome) -> None:
        posts = _key(model, _POSTS)
        if posts is None:
            return
        if not isinstance(posts, list):
            outcome.fail(_POSTS, "任岗信息格式不正确", index)
            return
        for row, post in enumerate(posts, start=1):
            department = _number_of(_key(post, "FPostDept")) if isinstance(post, dict) else None
            if department is None:
                outcome.fail("FPostDept", f"第{row}行任岗信息：字段“任职部门”是必填项", index)
                continue
            why = self._usable_department(department, use_org)
            if why is not None:
                outcome.fail("FPostDept", f"第{row}行任岗信息：部门“{department}”{why}", index)

    # ----------------------------------------------------------------- 禁用 / 反禁用

    def _forbid(self, form: str, forbid: bool, data: dict[str, Any]) -> _Outcome:
        outcome = _Outcome()
        records = self.bills.setdefault(form, {})
        caption = _FORMS[form].caption
        for index, raw in enumerate(_ids(data)):
            record = records.get(int(raw)) if str(raw).isdigit() else None
            if record is None:
                outcome.fail("Ids", "数据不存在", index)
                continue
            forbidden = record.model.get("FForbidStatus") == _FORBIDDEN
            if forbid and forbidden:
                outcome.fail("FForbidStatus", f"{caption}“{record.number}”已经是禁用状态", index)
                continue
            if not forbid and not forbidden:
                outcome.fail("FForbidStatus", f"{caption}“{record.number}”未禁用，无需反禁用", index)
                continue
            if forbid and form == DEPARTMENT_FORM:
                staff = [e.number for e in self.bills.get(EMPLOYEE_FORM, {}).values()
                         if e.model.get("FForbidStatus") != _FORBIDDEN and record.number in _post_departments(e.model)
                         and _org_of(e.model) == _org_of(record.model)]
                if staff:
                    outcome.fail(None, f"部门“{record.number}”下还有未禁用的员工（{'、'.join(staff[:5])}），不能禁用",
                                 index)
                    continue
            record.model["FForbidStatus"] = _FORBIDDEN if forbid else _IN_USE
            outcome.successes.append({"Id": record.id, "Number": record.number, "DIndex": index})
        return outcome

    # ----------------------------------------------------------------- ExecuteBillQuery

    def _org_query(self, form: str, data: Mapping[str, Any]) -> list[list[Any]]:
        spec = _FORMS[form]
        try:
            keys = [k.strip() for k in str(_key(data, "FieldKeys") or "").split(",") if k.strip()]
            if not keys:
                raise _RejectedError("FieldKeys", "参数FieldKeys不能为空", 8)
            for name in keys:
                head = name.split(".", maxsplit=1)[0].upper()
                if head not in spec.fields and head not in spec.entry_fields:
                    raise _RejectedError("FieldKeys", f"字段“{name}”在业务对象{form}中不存在", 9)
            conditions = self._parse_filter(str(_key(data, "FilterString") or ""), check=False)
        except _RejectedError as exc:
            status = _status([{"FieldName": exc.field_name, "Message": exc.message, "DIndex": 0}], [], exc.msg_code)
            return [[_envelope(status)]]
        per_entry = any(k.split(".", maxsplit=1)[0].upper() in spec.entry_fields for k in keys)
        rows = []
        for record in sorted(self.bills.get(form, {}).values(), key=lambda r: r.id):
            entries = _posts(record.model) if per_entry else [{}]
            for entry in entries or [{}]:
                if all(_matches(_value(record, spec, name, entry), want) for name, want in conditions):
                    rows.append([_value(record, spec, name, entry) for name in keys])
        top, start, limit = (int(_key(data, k) or 0) for k in ("TopRowCount", "StartRow", "Limit"))
        if top > 0:
            rows = rows[:top]
        return rows[start:start + limit if limit > 0 else None]


def _org_of(model: Mapping[str, Any]) -> str | None:
    return _number_of(_key(model, "FUseOrgId"))


def _posts(model: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    posts = _key(model, _POSTS)
    return [p for p in posts if isinstance(p, Mapping)] if isinstance(posts, list) else []


def _post_departments(model: Mapping[str, Any]) -> set[str]:
    return {n for n in (_number_of(_key(p, "FPostDept")) for p in _posts(model)) if n is not None}


def _value(record: SandboxBill, spec: _Form, name: str, entry: Mapping[str, Any]) -> Any:
    head, _, sub = name.partition(".")
    upper = head.upper()
    if upper == spec.id_key:
        return record.id
    if upper == "FNUMBER" and not sub:
        return record.number
    if upper == "FDOCUMENTSTATUS":
        return record.status
    value = _key(entry, head) if upper in spec.entry_fields else _key(record.model, head)
    for part in sub.split(".") if sub else []:
        value = _key(value, part) if isinstance(value, Mapping) else None
    return _key(value, "FNumber") if isinstance(value, Mapping) else value


def _matches(value: Any, want: Any) -> bool:
    if value is None:
        return False
    if isinstance(want, frozenset):
        return str(value) in want
    return str(value) == str(want)
