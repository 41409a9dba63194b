"""A local SAP S/4HANA (OData) for tests and the demo (contract §8).

Owns: basic / bearer auth, the CSRF token flow (``x-csrf-token: Fetch``, session cookie, 403 ``Required``),
OData V2 or V4 envelopes and error bodies, business partners, products, purchase orders (deep insert, release,
deletion flag, refusal after a goods receipt) and journal entries (balanced, open period), with fault
injection. Does not own: the SOAP journal entry API, pricing and tax, goods receipts beyond a flag
(:meth:`SapSandbox.receive`).
"""

from huiliu.sandbox.sap.app import CSRF_FAILED, SESSION_COOKIE, SapSandbox

__all__ = ["CSRF_FAILED", "SESSION_COOKIE", "SapSandbox"]
