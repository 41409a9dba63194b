"""A local ERPNext / Frappe REST API for tests and the demo (contracts README §7).

Owns: ``/api/resource/<DocType>`` (list with ``fields``/``filters``/``limit_start``/``limit_page_length``/
``order_by``, insert, get, update, delete), ``frappe.client.submit`` / ``frappe.client.cancel``, token auth,
the DocTypes Supplier, Item, UOM, Currency, Company, Purchase Order (+ items), Purchase Receipt, Account, Cost
Center, Project, Payment Entry, Journal Entry (+ accounts) and the GL Entry rows submitting them posts, docstatus
0 → 1 → 2 with Frappe's refusals (unbalanced, unknown account, closed period, amount ≤ 0), and fault
injection. Does not own: webhooks, ``/api/v2``, password login sessions, taxes, or amendments.

Unconfirmed details are simulated and named where they matter (see :mod:`.app`, :mod:`.documents` and
:mod:`.accounting`).
"""

from huiliu.sandbox.erpnext.accounting import Accounts
from huiliu.sandbox.erpnext.app import ErpnextSandbox
from huiliu.sandbox.erpnext.documents import FrappeError, Ledger

__all__ = ["Accounts", "ErpnextSandbox", "FrappeError", "Ledger"]
