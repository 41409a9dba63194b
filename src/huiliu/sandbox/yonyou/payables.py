"""Yonyou sandbox payments (付款单) and projects (项目档案), with the checks Yonyou makes.

Owns: :class:`Payables`, which keeps payments and projects beside a :class:`~.ledger.Ledger` and shares its ids,
numbering, vendors, closed periods and ``resubmitCheckKey`` register. Does not own: tokens, envelopes or faults
(:mod:`.app`), vouchers (:mod:`.ledger`; project costs are voucher entries with a project auxiliary).

Unconfirmed behaviour, simulated as integrators describe Yonyou's 应付 / 资金 modules: a payment is saved 开立
(``status`` 0) and audited to 已审核 (1); its settlement (``settleStatus``) is 0 待结算 until the cashier settles
it (1 已结算, :meth:`Payables.settle`); numbers are ``FKD<yyyymmdd><nnnn>``; a payment in a closed period, of a
vendor or project that does not exist, or of an amount that is not positive is refused with a Chinese message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from huiliu.sandbox.yonyou.ledger import APPROVED, DRAFT, Ledger, Refusal, amount

__all__ = ["SETTLED", "UNSETTLED", "Payables"]

UNSETTLED, SETTLED = "0", "1"


@dataclass
class Payables:
    """Payments and projects of the tenant. Mutable; :class:`~.app.YonyouSandbox` owns one.

    Attributes:
        ledger: the tenant's ledger (vendors, ids, periods, ``resubmitCheckKey`` register).
        payments: id → payment (header with ``bodyItem`` lines).
        projects: id → project.
    """

    ledger: Ledger
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ----------------------------------------------------------------- projects

    def save_project(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Save a new project (项目档案); its code must be new."""
        code, name = str(data.get("code") or ""), str(data.get("name") or "")
        if not code or not name:
            raise Refusal("项目编码和名称不能为空")
        if any(p["code"] == code for p in self.projects.values()):
            raise Refusal(f"项目编码[{code}]已存在")
        project = {**dict(data), "id": self.ledger.next_id(), "code": code, "name": name, "enable": "1",
                   "pubts": self.ledger.stamp()}
        project.pop("_status", None)
        self.projects[project["id"]] = project
        return {"id": project["id"], "code": code}

    def project_codes(self) -> set[str]:
        """The codes of every project."""
        return {str(p["code"]) for p in self.projects.values()}

    # ----------------------------------------------------------------- payments

    def save_payment(self, data: Mapping[str, Any], key: Any) -> dict[str, Any]:
        """Save a payment (付款单) 开立: vendor, project, period, amounts and lines are checked."""
        ledger = self.ledger
        ledger.check_key(key)
        if data.get("_status", "Insert") != "Insert":
            raise Refusal("仅支持新增（_status=Insert）")
        for name in ("org_code", "vouchdate", "supplier_code", "currency_code"):
            if not data.get(name):
                raise Refusal(f"表头字段[{name}]不能为空")
        if data["org_code"] != ledger.org_code:
            raise Refusal(f"财务组织[{data['org_code']}]不存在")
        vendor = str(data["supplier_code"])
        if not any(v["code"] == vendor for v in ledger.vendors.values()):
            raise Refusal(f"供应商[{vendor}]不存在或未分配到组织[{ledger.org_code}]")
        period = str(data["vouchdate"])[:7]
        if period in ledger.closed_periods:
            raise Refusal(f"会计期间[{period}]已结账，不能保存付款单")
        total = amount(data.get("oriSum"), "付款金额")
        if total <= 0:
            raise Refusal(f"付款金额[{total}]必须大于0")
        lines = data.get("bodyItem")
        if not isinstance(lines, list) or not lines:
            raise Refusal("付款单表体不能为空")
        projects = self.project_codes()
        stored, line_sum = [], amount(0, "")
        for row, line in enumerate(lines, start=1):
            if not isinstance(line, Mapping):
                raise Refusal(f"表体第{row}行格式不正确")
            money = amount(line.get("oriSum"), f"表体第{row}行付款金额")
            if money <= 0:
                raise Refusal(f"表体第{row}行：付款金额必须大于0")
            project = line.get("project_code") or data.get("project_code")
            if project and str(project) not in projects:
                raise Refusal(f"表体第{row}行：项目[{project}]不存在或已停用")
            line_sum += money
            stored.append({**dict(line), "id": ledger.next_id()})
        if line_sum != total:
            raise Refusal(f"表头付款金额[{total}]与表体合计[{line_sum}]不一致")
        payment_id = ledger.next_id()
        code = ledger.number("FKD", str(data["vouchdate"])[:10].replace("-", ""))
        payment = {**{k: v for k, v in data.items() if k not in ("_status", "resubmitCheckKey")}, "id": payment_id,
                   "code": code, "status": DRAFT, "settleStatus": UNSETTLED, "bodyItem": stored,
                   "pubts": ledger.stamp()}
        self.payments[payment_id] = payment
        if key is not None:
            ledger.resubmit_keys[str(key)] = code
        return {"id": payment_id, "code": code, "status": DRAFT}

    def payment(self, payment_id: str) -> dict[str, Any]:
        """The payment by id, or a refusal."""
        payment = self.payments.get(str(payment_id))
        if payment is None:
            raise Refusal(f"付款单[{payment_id}]不存在")
        return payment

    def audit(self, items: Any) -> dict[str, Any]:
        """``batchaudit`` of ``[{"id"}]``: 开立 → 已审核."""
        if not isinstance(items, list) or not items:
            raise Refusal("参数data不能为空")
        done = []
        for item in items:
            payment = self.payment(str(item.get("id")) if isinstance(item, Mapping) else "")
            if payment["status"] != DRAFT:
                raise Refusal(f"付款单[{payment['code']}]不是开立态，不能审核")
            payment["status"] = APPROVED
            payment["pubts"] = self.ledger.stamp()
            done.append({"id": payment["id"], "code": payment["code"], "status": APPROVED})
        return {"count": len(done), "sucessCount": len(done), "infos": done}

    def settle(self, payment_id: str) -> None:
        """The cashier settles (结算) an audited payment: the money has left the bank."""
        payment = self.payment(payment_id)
        if payment["status"] != APPROVED:
            raise Refusal(f"付款单[{payment['code']}]未审核，不能结算")
        payment["settleStatus"] = SETTLED
        payment["pubts"] = self.ledger.stamp()
