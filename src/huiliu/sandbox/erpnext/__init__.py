"""A local ERPNext / Frappe REST API for tests and the demo (contracts README §7).

Owns: ``/api/resource/<DocType>`` (list with ``fields``/``filters``/``limit_start``/``limit_page_length``/
``order_by``, insert, get, update, delete), ``frappe.client.submit`` / ``frappe.client.cancel``, token auth,
the DocTypes Supplier, Item, UOM, Currency, Company, Purchase Order (+ items) and Purchase Receipt, docstatus
0 → 1 → 2 with Frappe's refusals, and fault injection. Does not own: webhooks, ``/api/v2``, password login
sessions, taxes, or amendments.

Unconfirmed details are simulated and named where they matter (see :mod:`.app` and :mod:`.documents`).
"""

from huiliu.sandbox.erpnext.app import ErpnextSandbox
from huiliu.sandbox.erpnext.documents import FrappeError, Ledger

__all__ = ["ErpnextSandbox", "FrappeError", "Ledger"]
