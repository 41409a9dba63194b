"""ERPNext sandbox documents: DocTypes the hub uses, naming, validation, docstatus moves, list queries.

Owns: :class:`FrappeError` (an exception with its HTTP status and ``exc_type``, contract §7), the stored
documents (plain dictionaries), naming (Supplier by ``supplier_name``, Item by ``item_code``, Purchase Order by
the ``PUR-ORD-.YYYY.-`` series), the checks ``insert`` / ``save`` make (mandatory fields, links, zero
quantities, duplicates, unique custom fields), submit (docstatus 0 → 1), cancel (1 → 2, refused while a
submitted Purchase Receipt links to the order), ``frappe.get_list`` filtering / ordering / paging, and the
``modified`` stamp in the site's time zone. Does not own: HTTP, auth or faults (:mod:`.app`).

Simulated where the contract is unconfirmed: the wording of each ``_server_messages`` entry (taken from
Frappe/ERPNext source as remembered, not from a live site), and that a draft order is deleted rather than
cancelled (Frappe refuses 0 → 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from huiliu.model import Clock

__all__ = ["DOCTYPES", "DocumentHooks", "FrappeError", "Ledger", "validation"]

_CHILD = "Purchase Order Item"
DOCTYPES: dict[str, dict[str, str]] = {
    "Supplier": {"supplier_name": "Supplier Name", "supplier_group": "Supplier Group",
                 "supplier_type": "Supplier Type", "tax_id": "Tax ID", "country": "Country",
                 "custom_supplier_code": "Supplier Code", "disabled": "Disabled"},
    "Item": {"item_code": "Item Code", "item_name": "Item Name", "item_group": "Item Group",
             "stock_uom": "Default Unit of Measure", "is_stock_item": "Maintain Stock", "description": "Description",
             "is_purchase_item": "Is Purchase Item", "disabled": "Disabled"},
    "UOM": {"uom_name": "UOM Name"},
    "Currency": {"currency_name": "Currency Name", "enabled": "Enabled"},
    "Company": {"company_name": "Company", "default_currency": "Default Currency"},
    "Purchase Order": {"naming_series": "Series", "supplier": "Supplier", "supplier_name": "Supplier Name",
                       "company": "Company", "transaction_date": "Date", "schedule_date": "Required By",
                       "currency": "Currency", "items": "Items", "total_qty": "Total Quantity",
                       "total": "Total", "net_total": "Net Total", "total_taxes_and_charges": "Total Taxes and Charges",
                       "grand_total": "Grand Total", "status": "Status", "per_received": "% Received",
                       "per_billed": "% Billed", "order_confirmation_no": "Order Confirmation No",
                       "remarks": "Remarks", "custom_huiliu_ref": "Huiliu Reference"},
    "Purchase Receipt": {"supplier": "Supplier", "purchase_order": "Purchase Order", "posting_date": "Posting Date"},
    "Account": {"account_name": "Account Name", "account_number": "Account Number", "root_type": "Root Type",
                "account_type": "Account Type", "company": "Company", "is_group": "Is Group",
                "account_currency": "Currency", "disabled": "Disable"},
    "Cost Center": {"cost_center_name": "Cost Center Name", "company": "Company", "is_group": "Is Group"},
    "Project": {"project_name": "Project Name", "status": "Status", "company": "Company",
                "expected_start_date": "Expected Start Date", "expected_end_date": "Expected End Date",
                "estimated_costing": "Estimated Cost", "department": "Department", "notes": "Notes",
                "custom_project_code": "Project Code"},
    "Payment Entry": {"naming_series": "Series", "payment_type": "Payment Type", "party_type": "Party Type",
                      "party": "Party", "party_name": "Party Name", "company": "Company",
                      "posting_date": "Posting Date", "paid_from": "Account Paid From", "paid_to": "Account Paid To",
                      "paid_amount": "Paid Amount", "received_amount": "Received Amount",
                      "paid_from_account_currency": "Account Currency (From)", "reference_no": "Cheque/Reference No",
                      "reference_date": "Cheque/Reference Date", "mode_of_payment": "Mode of Payment",
                      "project": "Project", "remarks": "Remarks", "status": "Status",
                      "custom_huiliu_ref": "Huiliu Reference"},
    "Journal Entry": {"naming_series": "Series", "voucher_type": "Entry Type", "posting_date": "Posting Date",
                      "company": "Company", "cheque_no": "Reference Number", "cheque_date": "Reference Date",
                      "user_remark": "User Remark", "total_debit": "Total Debit", "total_credit": "Total Credit",
                      "accounts": "Accounting Entries", "title": "Title", "custom_huiliu_ref": "Huiliu Reference"},
    "GL Entry": {"account": "Account", "debit": "Debit Amount", "credit": "Credit Amount", "project": "Project",
                 "cost_center": "Cost Center", "posting_date": "Posting Date", "voucher_type": "Voucher Type",
                 "voucher_no": "Voucher No", "is_cancelled": "Is Cancelled", "party_type": "Party Type",
                 "party": "Party", "company": "Company", "remarks": "Remarks"},
}
"""DocType → field → label (the subset the hub uses; ``name``, ``docstatus``, ``creation``, ``modified``,
``owner`` and ``idx`` exist on every DocType)."""

_CHILD_TABLES = {"Purchase Order": "items", "Journal Entry": "accounts"}
"""DocTypes with a child table the hub writes, and its field."""
_STANDARD = ("name", "docstatus", "creation", "modified", "owner", "modified_by", "idx", "doctype")
_ITEM_FIELDS = ("item_code", "item_name", "description", "qty", "rate", "amount", "uom", "stock_uom",
                "schedule_date", "received_qty", "billed_amt", "conversion_factor")
_LINKS = {("Purchase Order", "supplier"): "Supplier", ("Purchase Order", "company"): "Company",
          ("Purchase Order", "currency"): "Currency", ("Item", "stock_uom"): "UOM",
          ("Payment Entry", "company"): "Company", ("Payment Entry", "paid_from"): "Account",
          ("Payment Entry", "paid_to"): "Account", ("Payment Entry", "project"): "Project",
          ("Journal Entry", "company"): "Company", ("Project", "company"): "Company"}
_CENT = Decimal("0.01")


class FrappeError(Exception):
    """An exception a Frappe site answers with, as its HTTP status and ``exc_type``.

    Args:
        status: the HTTP status (Frappe's ``http_status_code`` of the exception class).
        exc_type: the class name, e.g. ``MandatoryError``.
        message: the user message (goes to ``_server_messages``).
        detail: the exception's own text (goes to ``exception``); defaults to ``message``.
    """

    def __init__(self, status: int, exc_type: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.exc_type = exc_type
        self.message = message
        self.detail = detail if detail is not None else message

    def body(self) -> dict[str, Any]:
        """The JSON body: ``exception``, ``exc_type``, ``exc`` (traceback list) and ``_server_messages``."""
        server_message = json.dumps({"message": self.message, "title": "Message", "indicator": "red",
                                     "raise_exception": 1})
        return {"exception": f"frappe.exceptions.{self.exc_type}: {self.detail}", "exc_type": self.exc_type,
                "exc": json.dumps([f"Traceback (most recent call last):\nfrappe.exceptions.{self.exc_type}: "
                                   f"{self.detail}\n"]),
                "_server_messages": json.dumps([server_message])}


def validation(message: str, exc_type: str = "ValidationError") -> FrappeError:
    """A ``ValidationError`` (HTTP 417) or one of its subclasses."""
    return FrappeError(417, exc_type, message)


def _money(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


class DocumentHooks(Protocol):
    """What a DocType's controller adds to validate, submit and cancel (accounting documents, :mod:`.accounting`)."""

    def name(self, doctype: str, doc: Mapping[str, Any]) -> str | None:
        """The new document's name, or ``None`` for the ledger's own naming."""

    def validate(self, doctype: str, doc: dict[str, Any]) -> None:
        """Check (and complete) a document on every save; raise :class:`FrappeError` to refuse."""

    def on_submit(self, doctype: str, doc: dict[str, Any]) -> None:
        """Effects of docstatus 0 → 1 (General Ledger entries); raise to refuse."""

    def on_cancel(self, doctype: str, doc: dict[str, Any]) -> None:
        """Effects of docstatus 1 → 2; raise to refuse."""


class Ledger:
    """Every document of the site, by DocType and name.

    Args:
        clock: where time comes from.
        time_zone: the site's ``time_zone`` (System Settings); dates and ``modified`` are in it.
        reference_field: the custom Purchase Order field holding the hub's reference.
        unique_reference: the reference field is marked unique (a second order with the same value is refused).
    """

    def __init__(self, clock: Clock, time_zone: str, reference_field: str, *, unique_reference: bool) -> None:
        self.clock = clock
        self.zone = ZoneInfo(time_zone)
        self.reference_field = reference_field
        self.unique_reference = unique_reference
        self.fields = {doctype: dict(fields) for doctype, fields in DOCTYPES.items()}
        for doctype in ("Purchase Order", "Payment Entry", "Journal Entry"):
            self.fields[doctype].setdefault(reference_field, "Huiliu Reference")  # a custom field
        self.docs: dict[str, dict[str, dict[str, Any]]] = {doctype: {} for doctype in self.fields}
        self._series: dict[str, int] = {}
        self.hooks: DocumentHooks | None = None
        """The accounting controllers, set by the sandbox."""

    # ----------------------------------------------------------------- time and naming

    def now(self) -> datetime:
        """The site's local time (naive, as Frappe stores it)."""
        return self.clock.now().astimezone(self.zone).replace(tzinfo=None)

    def stamp(self) -> str:
        """``modified`` / ``creation`` as Frappe writes them: ``YYYY-MM-DD HH:MM:SS.ffffff`` in site time."""
        return self.now().strftime("%Y-%m-%d %H:%M:%S.%f")

    def series_name(self, prefix: str) -> str:
        """The next name of a ``<prefix>.YYYY.-.#####`` naming series."""
        return self._series_name(prefix)

    def _series_name(self, prefix: str) -> str:
        key = f"{prefix}{self.now().year}-"
        self._series[key] = self._series.get(key, 0) + 1
        return f"{key}{self._series[key]:05d}"

    # ----------------------------------------------------------------- reading

    def get(self, doctype: str, name: str) -> dict[str, Any]:
        """A document, or ``DoesNotExistError`` (404)."""
        self._known(doctype)
        doc = self.docs[doctype].get(name)
        if doc is None:
            raise FrappeError(404, "DoesNotExistError", f"{doctype} {name} not found")
        return doc

    def _known(self, doctype: str) -> None:
        if doctype not in DOCTYPES:
            raise FrappeError(404, "DoesNotExistError", f"DocType {doctype} not found")

    def get_list(self, doctype: str, fields: list[str], filters: Any, order_by: str, start: int,
                 page_length: int) -> list[dict[str, Any]]:
        """``frappe.get_list``: plain fields of matching documents (no child tables)."""
        self._known(doctype)
        for name in fields:
            self._check_field(doctype, name)
        tests = [self._condition(doctype, f) for f in _filter_list(filters)]
        rows = [d for d in self.docs[doctype].values() if all(test(d) for test in tests)]
        for key, descending in reversed(_order(order_by)):
            self._check_field(doctype, key)
            rows.sort(key=_sort_key(key), reverse=descending)
        rows = rows[start:start + page_length] if page_length > 0 else rows[start:]
        return [{name: row.get(name) for name in fields} for row in rows]

    def _check_field(self, doctype: str, name: str) -> None:
        if name not in self.fields[doctype] and name not in _STANDARD:
            # Frappe lets the database answer: an unknown column is an OperationalError (HTTP 500 from MariaDB)
            # in older versions, a DataError in newer ones; the sandbox answers 417 so no retry loop follows.
            raise validation(f"Field not permitted in query: {name}", "DataError")

    def _condition(self, doctype: str, spec: list[Any]) -> Callable[[Mapping[str, Any]], bool]:
        if len(spec) == 4:
            spec = spec[1:]
        if len(spec) != 3:
            raise validation(f"Invalid filter: {spec!r}")
        name, operator, value = spec
        self._check_field(doctype, name)
        compare = _OPERATORS.get(str(operator).lower())
        if compare is None:
            raise validation(f"Operator must be one of {', '.join(_OPERATORS)}")
        return lambda doc: compare(doc.get(name), value)

    # ----------------------------------------------------------------- writing

    def insert(self, doctype: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/resource/<DocType>``: validate, name and store a new document (docstatus 0 or 1)."""
        self._known(doctype)
        doc = {k: v for k, v in values.items() if k in self.fields[doctype] or k in ("docstatus",)}
        if doctype in _CHILD_TABLES:
            table = _CHILD_TABLES[doctype]
            doc[table] = [dict(i) for i in values.get(table) or [] if isinstance(i, Mapping)]
        self._validate(doctype, doc, new=True)
        doc["name"] = self._name(doctype, doc)
        if doc["name"] in self.docs[doctype]:
            raise FrappeError(409, "DuplicateEntryError", f"{doctype} {doc['name']} already exists",
                              f"('{doctype}', '{doc['name']}', IntegrityError(1062, \"Duplicate entry "
                              f"'{doc['name']}' for key 'PRIMARY'\"))")
        now = self.stamp()
        doc.update(doctype=doctype, creation=now, modified=now, owner="api@example.com", idx=0)
        doc.setdefault("docstatus", 0)
        if doctype == "Purchase Order":
            self._compute_order(doc)
        if doc["docstatus"] == 1:
            self._on_submit(doctype, doc)
        self.docs[doctype][doc["name"]] = doc
        return doc

    def _name(self, doctype: str, doc: Mapping[str, Any]) -> str:
        named = self.hooks.name(doctype, doc) if self.hooks is not None else None
        if named is not None:
            return named
        if doctype == "Supplier":
            return str(doc["supplier_name"])
        if doctype == "Item":
            return str(doc["item_code"])
        if doctype == "Purchase Order":
            return self._series_name("PUR-ORD-")
        if doctype == "Purchase Receipt":
            return self._series_name("MAT-PRE-")
        return str(doc.get("uom_name") or doc.get("currency_name") or doc.get("company_name"))

    def _validate(self, doctype: str, doc: dict[str, Any], *, new: bool) -> None:
        mandatory = {"Supplier": ("supplier_name",), "Item": ("item_code", "item_group", "stock_uom"),
                     "Purchase Order": ("supplier", "company", "transaction_date", "currency")}.get(doctype, ())
        for name in mandatory:
            if not doc.get(name):
                raise FrappeError(417, "MandatoryError",
                                  f"Error: Value missing for {doctype}: {self.fields[doctype][name]}",
                                  f"[{doctype}, new-{doctype.lower().replace(' ', '-')}-1]: {name}")
        for (link_doctype, name), target in _LINKS.items():
            if link_doctype == doctype and doc.get(name) and doc[name] not in self.docs[target]:
                raise validation(f"Could not find {self.fields[doctype][name]}: {doc[name]}", "LinkValidationError")
        if doctype == "Purchase Order":
            self._validate_order(doc)
        if self.hooks is not None:
            self.hooks.validate(doctype, doc)

    def _validate_order(self, doc: Mapping[str, Any]) -> None:
        items = doc.get("items") or []
        if not items:
            raise FrappeError(417, "MandatoryError", "Error: Value missing for Purchase Order: Items",
                              "[Purchase Order, new-purchase-order-1]: items")
        for index, item in enumerate(items, start=1):
            code = item.get("item_code")
            if not code:
                raise FrappeError(417, "MandatoryError",
                                  f"Error: Value missing for Purchase Order Item: Item Code (row {index})")
            if code not in self.docs["Item"]:
                raise validation(f"Could not find Row #{index}: Item Code: {code}", "LinkValidationError")
            if not (item.get("schedule_date") or doc.get("schedule_date")):
                raise FrappeError(417, "MandatoryError",
                                  f"Error: Value missing for Purchase Order Item: Required By (row {index})")
            if _money(item.get("qty") or 0) == 0:
                raise validation(f"Row #{index}: Quantity for Item {code} cannot be zero.")
            if item.get("uom") and item["uom"] not in self.docs["UOM"]:
                raise validation(f"Could not find Row #{index}: UOM: {item['uom']}", "LinkValidationError")
        reference = doc.get(self.reference_field)
        if self.unique_reference and reference:
            for other in self.docs["Purchase Order"].values():
                if other.get(self.reference_field) == reference and other["name"] != doc.get("name"):
                    raise validation(f"{self.fields['Purchase Order'][self.reference_field]} '{reference}' "
                                     f"already exists in {other['name']} ({self.reference_field} must be unique)",
                                     "UniqueValidationError")

    def _compute_order(self, doc: dict[str, Any]) -> None:
        total = Decimal(0)
        quantity = Decimal(0)
        for index, item in enumerate(doc["items"], start=1):
            master = self.docs["Item"][item["item_code"]]
            item.setdefault("item_name", master["item_name"])
            item.setdefault("description", master.get("description") or master["item_name"])
            item.setdefault("stock_uom", master["stock_uom"])
            item.setdefault("uom", master["stock_uom"])
            item.setdefault("schedule_date", doc.get("schedule_date"))
            item.setdefault("conversion_factor", 1.0)
            item.setdefault("received_qty", 0.0)
            item.setdefault("billed_amt", 0.0)
            rate = _money(item.get("rate") or 0)
            qty = _money(item["qty"])
            amount = (qty * rate).quantize(_CENT, rounding=ROUND_HALF_UP)
            item.update(idx=index, name=f"{doc.get('name', 'new')}-{index}", parent=doc.get("name"),
                        parenttype="Purchase Order", parentfield="items", doctype=_CHILD,
                        qty=float(qty), rate=float(rate), amount=float(amount))
            total += amount
            quantity += qty
        doc["schedule_date"] = doc.get("schedule_date") or min(i["schedule_date"] for i in doc["items"])
        doc.update(total=float(total), net_total=float(total), total_taxes_and_charges=0.0,
                   grand_total=float(total), total_qty=float(quantity), per_received=0.0, per_billed=0.0,
                   status="Draft", supplier_name=self.docs["Supplier"][doc["supplier"]]["supplier_name"])

    def update(self, doctype: str, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /api/resource/<DocType>/<name>``: ``doc.update(values); doc.save()`` (``docstatus: 1`` submits)."""
        doc = self.get(doctype, name)
        target = values.get("docstatus", doc.get("docstatus", 0))
        current = doc.get("docstatus", 0)
        if target != current and not (current == 0 and target == 1):
            raise validation(f"Cannot change docstatus from {current} to {target}", "DocstatusTransitionError")
        changes = {k: v for k, v in values.items() if k not in ("docstatus", "name", "modified", "creation")}
        if current != 0:
            for key, value in changes.items():
                if doc.get(key) != value:
                    raise validation(f"Not allowed to change {self.fields[doctype].get(key, key)} after submission",
                                     "UpdateAfterSubmitError")
        if "items" in changes or "accounts" in changes:
            raise validation("The sandbox does not replace child tables through PUT")
        updated = {**doc, **changes}
        self._validate(doctype, updated, new=False)
        doc.update(changes)
        if current == 0 and target == 1:
            self._on_submit(doctype, doc)
        doc["modified"] = self.stamp()
        return doc

    def _on_submit(self, doctype: str, doc: dict[str, Any]) -> None:
        if self.hooks is not None:
            self.hooks.on_submit(doctype, doc)
        doc["docstatus"] = 1
        if doctype == "Purchase Order":
            doc["status"] = "To Receive and Bill"

    def cancel(self, doctype: str, name: str) -> dict[str, Any]:
        """``frappe.client.cancel``: docstatus 1 → 2, refused while a submitted document links to it."""
        doc = self.get(doctype, name)
        if doc.get("docstatus", 0) != 1:
            raise validation(f"Cannot change docstatus from {doc.get('docstatus', 0)} to 2",
                             "DocstatusTransitionError")
        if doctype == "Purchase Order":
            for receipt in self.docs["Purchase Receipt"].values():
                if receipt.get("purchase_order") == name and receipt.get("docstatus") == 1:
                    raise validation(f"Cannot delete or cancel because Purchase Order {name} is linked with "
                                     f"Purchase Receipt {receipt['name']}", "LinkExistsError")
        if self.hooks is not None:
            self.hooks.on_cancel(doctype, doc)
        doc.update(docstatus=2, modified=self.stamp())
        if "status" in self.fields[doctype]:
            doc["status"] = "Cancelled"
        return doc

    def delete(self, doctype: str, name: str) -> None:
        """``DELETE /api/resource/<DocType>/<name>``: only drafts (docstatus 0) may be deleted."""
        doc = self.get(doctype, name)
        if doc.get("docstatus", 0) == 1:
            raise validation("Submitted Record cannot be deleted. You must Cancel it first.")
        del self.docs[doctype][name]


def _sort_key(key: str) -> Callable[[Mapping[str, Any]], tuple[bool, Any]]:
    return lambda doc: (doc.get(key) is not None, doc.get(key) or "")


def _filter_list(filters: Any) -> list[list[Any]]:
    if filters in (None, "", []):
        return []
    if isinstance(filters, Mapping):
        return [[k, *(v if isinstance(v, list) else ["=", v])] for k, v in filters.items()]
    if isinstance(filters, list) and all(isinstance(f, list) for f in filters):
        return filters
    raise validation(f"Invalid filters: {filters!r}")


def _order(order_by: str) -> list[tuple[str, bool]]:
    spec = []
    for part in (order_by or "modified desc").split(","):
        words = part.replace("`", "").split()
        if words:
            name = words[0].split(".")[-1]
            spec.append((name, len(words) > 1 and words[1].lower() == "desc"))
    return spec


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(stored: Any, value: Any) -> bool:
        if stored is None:
            return False
        try:
            return op(stored, value)
        except TypeError:
            return op(str(stored), str(value))

    return compare


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda s, v: s == v, "!=": lambda s, v: s != v,
    ">": _cmp(lambda s, v: s > v), ">=": _cmp(lambda s, v: s >= v),
    "<": _cmp(lambda s, v: s < v), "<=": _cmp(lambda s, v: s <= v),
    "in": lambda s, v: s in (v if isinstance(v, list) else str(v).split(",")),
    "not in": lambda s, v: s not in (v if isinstance(v, list) else str(v).split(",")),
    "like": lambda s, v: s is not None and str(v).replace("%", "").lower() in str(s).lower(),
    "is": lambda s, v: (s not in (None, "")) == (v == "set"),
}
