"""ERPNext sandbox accounting: Payment Entry, Journal Entry, Project and the General Ledger they post.

Owns: :class:`Accounts` (the :class:`~huiliu.sandbox.erpnext.documents.DocumentHooks` of the accounting
DocTypes): the seeded chart of accounts (numbered, named ``<number> - <name> - <abbr>`` as ERPNext names them)
and cost centres, naming (``ACC-PAY-.YYYY.-``, ``ACC-JV-.YYYY.-``, ``PROJ-.####``, ``ACC-GLE-.YYYY.-``), the
checks on save (a Payment Entry's amount and bank reference, a Journal Entry's balance and rows, links to
Account / Cost Center / Project / Supplier), and on submit the ``GL Entry`` rows (one per account side, with
``project`` and ``cost_center``), marked ``is_cancelled`` on cancel; submitting or cancelling inside the closed
period is refused. Does not own: storage, naming series counters, HTTP (:mod:`.documents`, :mod:`.app`).

Simulated where the contract is unconfirmed (§7 lists no field of these DocTypes): every field name and the
wording of each refusal are ERPNext's as remembered (v14/v15), not taken from a live site; a Payment Entry
without ``paid_to`` gets the company's default payable account (``set_missing_values``); the closed period is
one date (an ``Accounting Period`` closed up to it, or ``Accounts Frozen Till Date``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from huiliu.sandbox.erpnext.documents import FrappeError, Ledger, validation

__all__ = ["ACCOUNTS", "Accounts"]

ACCOUNTS = (("1002", "银行存款", "Asset", "Bank"), ("1122", "应收账款", "Asset", "Receivable"),
            ("2202", "应付账款", "Liability", "Payable"), ("2241", "其他应付款", "Liability", ""),
            ("5001", "生产成本", "Expense", "Cost of Goods Sold"), ("6601", "销售费用", "Expense", ""),
            ("6602", "管理费用", "Expense", ""), ("6603", "财务费用", "Expense", ""))
"""The seeded chart of accounts: number, name, root type, account type."""

_CENT = Decimal("0.01")
_NAMING = {"Payment Entry": "ACC-PAY-", "Journal Entry": "ACC-JV-", "GL Entry": "ACC-GLE-"}


def _amount(value: Any) -> Decimal:
    decimal = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value or 0))
    return decimal.quantize(_CENT, rounding=ROUND_HALF_UP)


class Accounts:
    """The accounting controllers of the sandbox site.

    Args:
        ledger: the site's documents.
        company: the one company.
        abbr: its abbreviation, the suffix of account and cost centre names.
        closed_until: accounting entries dated on or before it cannot be submitted or cancelled.
    """

    def __init__(self, ledger: Ledger, company: str, abbr: str = "HL", closed_until: date | None = None) -> None:
        self.ledger = ledger
        self.company = company
        self.abbr = abbr
        self.closed_until = closed_until
        self._projects = 0

    def seed(self) -> None:
        """Insert the chart of accounts, the cost centres and the company's default payable account."""
        docs = self.ledger.docs
        for number, name, root, kind in ACCOUNTS:
            full = f"{number} - {name} - {self.abbr}"
            docs["Account"][full] = {"name": full, "account_name": name, "account_number": number, "root_type": root,
                                     "account_type": kind, "company": self.company, "is_group": 0,
                                     "account_currency": "CNY", "disabled": 0, "docstatus": 0}
        for name in (self.company, "研发部", "销售部"):
            full = f"{name} - {self.abbr}"
            docs["Cost Center"][full] = {"name": full, "cost_center_name": name, "company": self.company,
                                         "is_group": 0, "docstatus": 0}
        docs["Company"][self.company].update(default_payable_account=f"2202 - 应付账款 - {self.abbr}",
                                             cost_center=f"{self.company} - {self.abbr}", abbr=self.abbr)

    # ----------------------------------------------------------------- DocumentHooks

    def name(self, doctype: str, doc: Mapping[str, Any]) -> str | None:
        """Series names of the accounting DocTypes; ``PROJ-0001`` for projects."""
        if doctype in _NAMING:
            return self.ledger.series_name(_NAMING[doctype])
        if doctype == "Project":
            self._projects += 1
            return f"PROJ-{self._projects:04d}"
        return None

    def validate(self, doctype: str, doc: dict[str, Any]) -> None:
        """Check a Payment Entry, Journal Entry or Project on save, completing derived fields."""
        if doctype == "Payment Entry":
            self._validate_payment(doc)
        elif doctype == "Journal Entry":
            self._validate_journal(doc)
        elif doctype == "Project" and not doc.get("project_name"):
            raise FrappeError(417, "MandatoryError", "Error: Value missing for Project: Project Name")

    def on_submit(self, doctype: str, doc: dict[str, Any]) -> None:
        """Post the General Ledger of a Payment Entry or Journal Entry."""
        if doctype == "Payment Entry":
            self._check_period(doc)
            paid = _amount(doc["paid_amount"])
            common = {"project": doc.get("project"), "posting_date": doc["posting_date"]}
            self._gl(doc, [{"account": doc["paid_to"], "debit": paid, "credit": Decimal(0),
                            "party_type": doc["party_type"], "party": doc["party"], **common},
                           {"account": doc["paid_from"], "debit": Decimal(0), "credit": paid, **common}])
            doc["status"] = "Submitted"
        elif doctype == "Journal Entry":
            self._check_period(doc)
            self._gl(doc, [{"account": row["account"], "debit": _amount(row.get("debit_in_account_currency")),
                            "credit": _amount(row.get("credit_in_account_currency")), "project": row.get("project"),
                            "cost_center": row.get("cost_center"), "party_type": row.get("party_type"),
                            "party": row.get("party"), "posting_date": doc["posting_date"]}
                           for row in doc["accounts"]])

    def on_cancel(self, doctype: str, doc: dict[str, Any]) -> None:
        """Mark the document's General Ledger entries cancelled (they stay, ``is_cancelled`` 1)."""
        if doctype not in ("Payment Entry", "Journal Entry"):
            return
        self._check_period(doc)
        for entry in self.ledger.docs["GL Entry"].values():
            if entry["voucher_no"] == doc["name"]:
                entry.update(is_cancelled=1, modified=self.ledger.stamp())

    # ----------------------------------------------------------------- checks

    def _check_period(self, doc: Mapping[str, Any]) -> None:
        if self.closed_until is not None and date.fromisoformat(str(doc["posting_date"])) <= self.closed_until:
            raise validation(f"You cannot create or cancel any accounting entries with in the closed Accounting "
                             f"Period {self.closed_until.year}-{self.closed_until.month:02d} (closed until "
                             f"{self.closed_until.isoformat()})", "ClosedAccountingPeriod")

    def _mandatory(self, doctype: str, doc: Mapping[str, Any], names: tuple[str, ...]) -> None:
        for name in names:
            if doc.get(name) in (None, ""):
                raise FrappeError(417, "MandatoryError",
                                  f"Error: Value missing for {doctype}: {self.ledger.fields[doctype][name]}")

    def _validate_payment(self, doc: dict[str, Any]) -> None:
        if not doc.get("paid_to") and doc.get("payment_type") == "Pay":
            doc["paid_to"] = self.ledger.docs["Company"].get(str(doc.get("company")), {}).get(
                "default_payable_account")
        self._mandatory("Payment Entry", doc, ("payment_type", "party_type", "party", "company", "posting_date",
                                               "paid_from", "paid_to"))
        if doc["party_type"] == "Supplier":
            if doc["party"] not in self.ledger.docs["Supplier"]:
                raise validation(f"Could not find Party: {doc['party']}", "LinkValidationError")
            doc["party_name"] = self.ledger.docs["Supplier"][doc["party"]]["supplier_name"]
        if _amount(doc.get("paid_amount")) <= 0:
            raise validation("Paid Amount must be greater than zero")  # wording simulated
        doc.setdefault("received_amount", doc["paid_amount"])
        source = self.ledger.docs["Account"][doc["paid_from"]]
        doc["paid_from_account_currency"] = source["account_currency"]
        if source["account_type"] == "Bank" and not (doc.get("reference_no") and doc.get("reference_date")):
            raise validation("Reference No and Reference Date is mandatory for Bank transaction")
        doc.setdefault("status", "Draft")

    def _validate_journal(self, doc: dict[str, Any]) -> None:
        self._mandatory("Journal Entry", doc, ("company", "posting_date"))
        rows = doc.get("accounts") or []
        if not rows:
            raise FrappeError(417, "MandatoryError", "Error: Value missing for Journal Entry: Accounting Entries")
        debit = credit = Decimal(0)
        accounts = self.ledger.docs["Account"]
        for index, row in enumerate(rows, start=1):
            account = row.get("account")
            if not account:
                raise FrappeError(417, "MandatoryError",
                                  f"Error: Value missing for Journal Entry Account: Account (row {index})")
            if account not in accounts:
                raise validation(f"Could not find Row #{index}: Account: {account}", "LinkValidationError")
            if accounts[account]["is_group"]:
                raise validation(f"Row #{index}: Account {account} is a group account")
            for field, target in (("cost_center", "Cost Center"), ("project", "Project")):
                if row.get(field) and row[field] not in self.ledger.docs[target]:
                    raise validation(f"Could not find Row #{index}: {target}: {row[field]}", "LinkValidationError")
            row_debit = _amount(row.get("debit_in_account_currency"))
            row_credit = _amount(row.get("credit_in_account_currency"))
            if row_debit < 0 or row_credit < 0:
                raise validation(f"Row {index}: Debit and Credit cannot be negative")
            if not row_debit and not row_credit:
                raise validation(f"Row {index}: Both Debit and Credit values cannot be zero")
            row.update(idx=index, doctype="Journal Entry Account", parentfield="accounts",
                       debit_in_account_currency=float(row_debit), credit_in_account_currency=float(row_credit),
                       debit=float(row_debit), credit=float(row_credit))
            debit += row_debit
            credit += row_credit
        if debit != credit:
            raise validation(f"Total Debit must be equal to Total Credit. The difference is {debit - credit}")
        doc.update(total_debit=float(debit), total_credit=float(credit), title=rows[0]["account"])
        doc.setdefault("voucher_type", "Journal Entry")

    def _gl(self, doc: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
        for row in rows:
            values = {**row, "debit": float(row["debit"]), "credit": float(row["credit"]),
                      "voucher_type": doc["doctype"], "voucher_no": doc["name"], "company": doc["company"],
                      "is_cancelled": 0, "remarks": doc.get("user_remark") or doc.get("remarks"), "docstatus": 1}
            self.ledger.insert("GL Entry", values)
