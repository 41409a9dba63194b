"""Kingdee sandbox forms besides vouchers: 付款单 ``AP_PAYBILL``, 采购合同 ``PUR_Contract``, suppliers and projects.

Owns: :class:`SandboxBill`, and :class:`BillBook`, the mixin that saves, moves (创建 A → Submit → 审核中 B →
Audit → 已审核 C) and queries these forms. Save checks what the ERP checks: the supplier (往来单位) exists,
the amount is positive, the period is open in the default account book, the number of base data and of
contracts is unique; a contract's own checks are in :mod:`.contracts`. A query may name a field of a
sub-entity (``FSOCIALCRECODE`` of ``FBaseInfo``) without the sub-entity, as K3Cloud's field keys do.
Does not own: vouchers (:mod:`.vouchers`) or the HTTP surface (:mod:`.app`).

Unconfirmed (contract §4 is silent on these forms; field keys follow integrators' code and may differ per
version), simulated here and mirrored by the connector's settings:

* the form ids ``AP_PAYBILL``, ``BD_Supplier`` and the project base data ``BD_Project``;
* the 付款单 keys ``FDATE``, ``FCONTACTUNITTYPE``, ``FCONTACTUNIT``, ``FCURRENCYID``, ``FREMARK`` and the entry
  ``FPAYBILLENTRY`` with ``FPAYTOTALAMOUNTFOR`` (amount) and ``FCOMMENT``; the header sum ``FPAYAMOUNTFOR``;
* the wording of every refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from huiliu.sandbox.kingdee.contracts import CONTRACT_FORM, check_contract
from huiliu.sandbox.kingdee.vouchers import _amount, _key, _number_of, _Outcome, _period_text, _RejectedError

__all__ = ["BILL_FORMS", "CONTRACT_FORM", "PAYMENT_FORM", "PROJECT_FORM", "SUPPLIER_FORM", "BillBook",
           "SandboxBill"]

PAYMENT_FORM = "AP_PAYBILL"
SUPPLIER_FORM = "BD_SUPPLIER"
PROJECT_FORM = "BD_PROJECT"
BILL_FORMS = frozenset({PAYMENT_FORM, SUPPLIER_FORM, PROJECT_FORM, CONTRACT_FORM})
"""Upper-case form ids this mixin answers."""
_PREFIX = {PAYMENT_FORM: "FKD", SUPPLIER_FORM: "VEN", PROJECT_FORM: "PRJ", CONTRACT_FORM: "CGHT"}
_FEN = Decimal("0.01")


@dataclass
class SandboxBill:
    """One bill or base-data record: its id (``FID``), number (``FBillNo`` / ``FNumber``), status and model."""

    id: int
    number: str
    status: str
    model: dict[str, Any]


def _ids(data: Mapping[str, Any]) -> list[Any]:
    """The ``Ids`` of a Submit / Audit / ExcuteOperation request: a list, or one comma-separated string."""
    ids: Any = _key(data, "Ids") or []
    if isinstance(ids, str):
        return [part.strip() for part in ids.split(",") if part.strip()]
    return list(ids)


class BillBook:
    """The non-voucher forms of :class:`~huiliu.sandbox.kingdee.KingdeeSandbox` (a mixin).

    The attributes below are set by ``KingdeeSandbox.__init__``.
    """

    reference_field: str
    closed_through: dict[str, str]
    books: dict[str, str]
    bills: dict[str, dict[int, SandboxBill]]
    _next_id: int

    def bill_count(self, form: str) -> int:
        """How many records ``form`` holds."""
        return len(self.bills.get(form.upper(), {}))

    def add_supplier(self, number: str, name: str, tax_id: str | None = None) -> SandboxBill:
        """An audited supplier (``BD_Supplier``) already in the ERP, as one keyed in by hand would be.

        ``tax_id`` (统一社会信用代码) goes where K3Cloud keeps it, ``FBaseInfo.FSOCIALCRECODE``.
        """
        model: dict[str, Any] = {"FNumber": number, "FName": name}
        if tax_id is not None:
            model["FBaseInfo"] = {"FSOCIALCRECODE": tax_id}
        bill, outcome = self._bill_save(SUPPLIER_FORM, {"Model": model})
        if bill is None:
            raise ValueError(f"supplier {number} refused: {outcome.errors}")
        bill.status = bill.model["FDocumentStatus"] = "C"
        return bill

    def _bill_save(self, form: str, data: dict[str, Any]) -> tuple[SandboxBill | None, _Outcome]:
        model = _key(data, "Model")
        if not isinstance(model, dict):
            raise _RejectedError("Model", "参数Model不能为空", 8)
        outcome = _Outcome()
        records = self.bills.setdefault(form, {})
        if form == PAYMENT_FORM:
            self._check_payment(model, outcome)
            number = f"{_PREFIX[form]}{len(records) + 1:06d}"
        elif form == CONTRACT_FORM:
            suppliers = {s.number: s.status for s in self.bills.get(SUPPLIER_FORM, {}).values()}
            check_contract(model, outcome, suppliers=suppliers, orgs=frozenset(self.books.values()))
            number = str(_key(model, "FBillNo") or "") or f"{_PREFIX[form]}{len(records) + 1:06d}"
            if any(r.number == number for r in records.values()):
                outcome.fail("FBillNo", f"单据编号“{number}”已经存在，不允许重复")
        else:
            number = str(_key(model, "FNumber") or "")
            if not number:
                outcome.fail("FNumber", "字段“编码”是必填项")
            elif any(r.number == number for r in records.values()):
                outcome.fail("FNumber", f"编码“{number}”已经存在，不允许重复")
            if not _key(model, "FName"):
                outcome.fail("FName", "字段“名称”是必填项")
        if outcome.errors:
            return None, outcome
        bill = SandboxBill(self._next_id, number, "A", {**model, "FID": self._next_id, "FBillNo": number,
                                                        "FDocumentStatus": "A"})
        self._next_id += 1
        records[bill.id] = bill
        outcome.successes.append({"Id": bill.id, "Number": number, "DIndex": 0})
        return bill, outcome

    def _check_payment(self, model: dict[str, Any], outcome: _Outcome) -> None:
        supplier = _number_of(_key(model, "FCONTACTUNIT"))
        if supplier is None:
            outcome.fail("FCONTACTUNIT", "字段“往来单位”是必填项")
        elif not any(s.number == supplier for s in self.bills.get(SUPPLIER_FORM, {}).values()):
            outcome.fail("FCONTACTUNIT", f"往来单位“{supplier}”不存在或未审核")
        raw_date = _key(model, "FDATE")
        try:
            day = date.fromisoformat(str(raw_date)[:10])
        except ValueError:
            outcome.fail("FDATE", f"业务日期“{raw_date}”格式不正确")
        else:
            period = day.isoformat()[:7]
            through = self.closed_through.get("001")
            if through is not None and period <= through:
                outcome.fail("FDATE", f"业务日期“{day.isoformat()}”所在的会计期间{_period_text(period)}已结账，"
                             "不能保存付款单")
        entries = _key(model, "FPAYBILLENTRY")
        if not isinstance(entries, list) or not entries:
            outcome.fail("FPAYBILLENTRY", "付款单明细不能为空")
            return
        total = Decimal(0)
        for index, entry in enumerate(entries):
            try:
                amount = _amount(_key(entry, "FPAYTOTALAMOUNTFOR") if isinstance(entry, dict) else None)
            except (InvalidOperation, ValueError):
                outcome.fail("FPAYTOTALAMOUNTFOR", f"第{index + 1}行明细：应付金额格式不正确", index)
                continue
            if amount <= 0:
                outcome.fail("FPAYTOTALAMOUNTFOR", f"第{index + 1}行明细：应付金额必须大于0", index)
            elif amount != amount.quantize(_FEN):
                outcome.fail("FPAYTOTALAMOUNTFOR", f"第{index + 1}行明细：金额精度不能超过2位小数", index)
            total += amount
        model["FPAYAMOUNTFOR"] = format(total, "f")

    def _bill_transition(self, form: str, operation: str, data: dict[str, Any]) -> _Outcome:
        outcome = _Outcome()
        records = self.bills.setdefault(form, {})
        numbers = [str(n) for n in _key(data, "Numbers") or []]
        chosen = [records.get(int(i)) if str(i).isdigit() else None for i in _ids(data)]
        chosen += [next((r for r in records.values() if r.number == n), None) for n in numbers]
        moves = {"submit": (("A", "D"), "B"), "audit": (("B",), "C"), "unaudit": (("C",), "D"),
                 "delete": (("A", "D"), "")}
        allowed, target = moves[operation]
        for index, bill in enumerate(chosen):
            if bill is None:
                outcome.fail("Ids", "单据不存在", index)
            elif bill.status not in allowed:
                outcome.fail("FDocumentStatus", f"单据{bill.number}状态为{bill.status}，不能执行{operation}", index)
            else:
                if target:
                    bill.status = bill.model["FDocumentStatus"] = target
                else:
                    del records[bill.id]
                outcome.successes.append({"Id": bill.id, "Number": bill.number, "DIndex": index})
        return outcome

    def _bill_rows(self, form: str, keys: list[str], conditions: list[tuple[str, Any]]) -> list[list[Any]]:
        rows = []
        for bill in self.bills.get(form, {}).values():
            if all(self._bill_value(bill, name) is not None and str(self._bill_value(bill, name)) in
                   (want if isinstance(want, frozenset) else {str(want)}) for name, want in conditions):
                rows.append([self._bill_value(bill, key) for key in keys])
        return rows

    @staticmethod
    def _bill_value(bill: SandboxBill, key: str) -> Any:
        head, _, sub = key.partition(".")
        upper = head.upper()
        if upper in ("FID", "FPAYBILLID", "FSUPPLIERID") and not sub:
            return bill.id
        if upper == "FBILLNO" or (upper == "FNUMBER" and not sub):
            return bill.number
        if upper == "FDOCUMENTSTATUS":
            return bill.status
        value = _key(bill.model, head)
        if value is None:  # a field of a sub-entity (FBaseInfo, FContractFin) is named without it
            for group in bill.model.values():
                if isinstance(group, dict) and _key(group, "FNumber") is None and _key(group, head) is not None:
                    value = _key(group, head)
                    break
        for part in sub.split(".") if sub else []:
            value = _key(value, part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            return _key(value, "FNumber")
        return value
