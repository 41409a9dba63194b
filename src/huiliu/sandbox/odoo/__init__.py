"""A local Odoo external API for tests and the demo (contracts README §6).

Owns: ``/jsonrpc`` with the ``common`` (``version``, ``authenticate``) and ``object`` (``execute_kw``)
services of Odoo ≤ 18, the JSON-2 API ``POST /json/2/<model>/<method>`` of 19+ (bearer API key,
``X-Odoo-Database``), API keys with optional expiry, the models ``res.partner``, ``product.product``,
``uom.uom``, ``res.currency``, ``purchase.order`` (+ lines), ``account.move`` (bills and entries, + items),
``account.account``, ``account.journal``, ``account.payment``, ``account.analytic.*``, the purchase order
workflow draft → purchase (→ to approve) → cancel, entries and payments draft → posted (→ paid), analytic
lines for project costs, and fault injection. Does not own: XML-RPC, stock
pickings, ``fields_get``, onchanges, or multi-company rules.

Unconfirmed details are simulated and named where they matter (see :mod:`.app` and :mod:`.purchase`).
"""

from huiliu.sandbox.odoo.app import ACCESS_DENIED, INVALID_APIKEY, OdooSandbox
from huiliu.sandbox.odoo.records import OdooError

__all__ = ["ACCESS_DENIED", "INVALID_APIKEY", "OdooError", "OdooSandbox"]
