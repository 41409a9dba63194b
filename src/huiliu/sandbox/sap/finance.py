"""SAP sandbox enterprise projects, supplier payment checks and the journal entry item view.

Owns: :class:`Finance`: enterprise projects (``A_EnterpriseProject``, keyed by ``ProjectUUID``; the project's
code is also its top WBS element), the extra checks of a payment entry (``AccountingDocumentType`` ``KZ``: a
supplier line naming a known supplier with a positive debit) and of WBS assignments, and the item rows served
as ``A_JournalEntryItemBasic`` (header fields repeated on every item, as that entity does). Does not own: HTTP,
envelopes, faults or the balance and period checks of every entry (:mod:`.app`).

Unconfirmed, simulated as the public API names suggest: ``ProjectProfileCode`` is required; a duplicate
``Project`` is refused with ``CNV_PE/012``; items carry ``WBSElement``; amounts in company code currency equal
those in transaction currency (one currency, rate 1).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from huiliu.sandbox.sap.refusal import Refused, decimal_of

__all__ = ["PAYMENT_TYPE", "Finance"]

PAYMENT_TYPE = "KZ"
"""The document type of a vendor payment (付款凭证)."""


@dataclass
class Finance:
    """Projects and journal entry items of the simulated system. Mutable; :class:`~.app.SapSandbox` owns one.

    Attributes:
        company_code: the one company code.
        currency: the company code currency.
        projects: ``ProjectUUID`` → project.
        items: ``<document>/<year>/<line>`` → journal entry item row.
    """

    company_code: str
    currency: str = "CNY"
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def codes(self) -> set[str]:
        """The codes (``Project``, also the top WBS element) of every project."""
        return {str(p["Project"]) for p in self.projects.values()}

    def create_project(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an enterprise project; its code must be new and it needs a profile."""
        code = str(body.get("Project") or "")
        if not code or len(code) > 24:
            raise Refused(400, "CNV_PE/001", f"项目编号 {code} 为空或超过 24 位")
        if not body.get("ProjectDescription"):
            raise Refused(400, "CNV_PE/002", f"项目 {code} 缺少描述 ProjectDescription")
        if not body.get("ProjectProfileCode"):
            raise Refused(400, "CNV_PE/003", f"项目 {code} 缺少项目参数文件 ProjectProfileCode")
        if body.get("CompanyCode", self.company_code) != self.company_code:
            raise Refused(400, "CNV_PE/004", f"公司代码 {body.get('CompanyCode')} 不存在")
        if code in self.codes():
            raise Refused(400, "CNV_PE/012", f"项目 {code} 已存在")
        row = {k: v for k, v in body.items() if not isinstance(v, Mapping | list)}
        row.update({"ProjectUUID": str(uuid.UUID(int=next(self._ids))), "Project": code,
                    "ProcessingStatus": "00"})
        self.projects[row["ProjectUUID"]] = row
        return row

    def check(self, body: Mapping[str, Any], items: list[Any], partners: Mapping[str, Any]) -> None:
        """The checks a payment entry and WBS assignments add to those of every journal entry."""
        codes = self.codes()
        for index, item in enumerate(items, start=1):
            if not isinstance(item, Mapping):
                raise Refused(400, "F5/702", f"第 {index} 个行项目格式不正确")
            wbs = item.get("WBSElement")
            if wbs and str(wbs) not in codes:
                raise Refused(400, "KI/235", f"WBS 元素 {wbs} 不存在")
            supplier = item.get("Supplier")
            if supplier and str(supplier) not in partners:
                raise Refused(400, "F5/104", f"供应商 {supplier} 不存在")
        if body.get("AccountingDocumentType") != PAYMENT_TYPE:
            return
        vendor = [i for i in items if i.get("Supplier")]
        if not vendor:
            raise Refused(400, "F5/808", "付款凭证（KZ）需要一个供应商行项目")
        for item in vendor:
            if decimal_of(item.get("AmountInTransactionCurrency"), "AmountInTransactionCurrency") <= 0:
                raise Refused(400, "F5/809", "付款金额必须大于零（供应商行应为借方）")

    def index(self, header: Mapping[str, Any], items: list[Mapping[str, Any]]) -> None:
        """Record a posted entry's items as ``A_JournalEntryItemBasic`` rows."""
        posting = str(header.get("PostingDate") or "")[:10]
        stamp = int(datetime.fromisoformat(posting).replace(tzinfo=UTC).timestamp() * 1000) if posting else None
        head = {k: v for k, v in header.items() if not isinstance(v, Mapping | list) and not k.startswith("_")}
        for line, item in enumerate(items, start=1):
            row = {**head, **{k: v for k, v in item.items() if not isinstance(v, Mapping | list)},
                   "LedgerGLLineItem": f"{line:06d}", "PostingDate": stamp,
                   "AmountInCompanyCodeCurrency": item.get("AmountInTransactionCurrency"),
                   "CompanyCodeCurrency": self.currency, "IsReversed": False}
            self.items[f"{header['AccountingDocument']}/{header['FiscalYear']}/{line:06d}"] = row
